/**
 * SyncFullState entry by entry, and host-discovered domains recorded once, through the real
 * apiserver and node gateway on real etcd (hack/testenv), with a raw gateway client holding
 * a real node credential: the calls an agent makes, with the entries an agent may send.
 */
import { randomUUID } from 'node:crypto';
import { Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import { GatewayClient } from '../../agent/gateway-client.js';
import type { Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import type { KubeObject } from '../../api-types/meta.js';
import { agentStatusToWire } from '../../api-types/proto/agent-status.js';
import type { AgentStatus } from '../../api-types/proto/contract.js';
import type { PoolStatus, VMChangeAck, VMChangeNotification, VMReport } from '../../api-types/proto/types.js';
import { nodeDefinition, storagePoolDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { createLogger } from '../../lib/logging/logger.js';
import type { Store } from '../storage/interface.js';
import type { ApiserverContext } from '../server.js';
import { NotFoundError } from '../storage/errors.js';
import { GatewayService } from './service.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const POOL = storagePoolDefinition as unknown as ResourceDefinition;
const NODE = nodeDefinition as unknown as ResourceDefinition;
const DOMAIN_LABEL = 'quantix.io/domain-uuid';

let cp: TestControlPlane;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await cp.stop();
});

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async (name: string) => (await store(VM).get('default', name)) as VirtualMachine;
const recordsOf = async (uuid: string) => (await store(VM).list({ labelSelector: `${DOMAIN_LABEL}=${uuid}` })).items as VirtualMachine[];

function client(token: string): GatewayClient {
  const c = new GatewayClient({ address: cp.gatewayAddress, caPem: cp.env.caCertPem, serverName: 'localhost' });
  c.setToken(token);
  cleanups.push(() => c.close());
  return c;
}

/** Registers `hostname` through the gateway; returns its node credential. */
async function register(hostname: string): Promise<string> {
  const res = await client(cp.joinToken).registerNode({ hostname, machineId: `machine-${hostname}` }, cp.joinToken);
  return res.credential;
}

async function createVm(name: string, nodeName: string, status?: VirtualMachine['status']): Promise<VirtualMachine> {
  return (await store(VM).create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default' },
    spec: { memory: '64Mi', nodeName },
    ...(status ? { status } : {}),
  })) as VirtualMachine;
}

async function createPool(name: string, nodes: string[]): Promise<void> {
  await store(POOL).create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name },
    spec: { type: 'dir', dir: { path: `/var/lib/qx/${name}` }, assignedNodes: nodes },
  });
}

/** What an agent reports for a domain (owner fields for a managed VM's domain). */
function domain(over: Partial<VMReport> & { domainUuid: string }): VMReport {
  return {
    domainName: '',
    ownerNamespace: '',
    ownerName: '',
    ownerUid: '',
    powerState: 'running',
    stateReason: 'booted',
    vcpus: 1,
    memoryBytes: 64 * 1024 ** 2,
    persistent: true,
    status: null,
    ...over,
  };
}

function managed(vm: VirtualMachine, powerState: string, status: AgentStatus): VMReport {
  return domain({
    domainUuid: vm.metadata.uid!,
    domainName: `default_${vm.metadata.name}`,
    ownerNamespace: 'default',
    ownerName: vm.metadata.name!,
    ownerUid: vm.metadata.uid!,
    powerState,
    status: agentStatusToWire(status),
  });
}

function pool(name: string, health: string): PoolStatus {
  const gib = 1024 ** 3;
  return {
    name,
    health,
    totalBytes: 100 * gib,
    usedBytes: gib,
    availableBytes: 99 * gib,
    mountPath: `/var/lib/qx/${name}`,
    volumeCount: 0,
    message: '',
    removed: false,
  };
}

describe('SyncFullState entry by entry', () => {
  it('refused entries among good ones: the good ones are written, pools and the state hash applied, each refusal returned with its reason', async () => {
    const credential = await register('fs-a');
    const a = client(credential);
    await createPool('fs-pool', ['fs-a']);
    await createPool('fs-pool-bad', ['fs-a']);
    const good = await createVm('fs-good', 'fs-a');
    const badStatus = await createVm('fs-bad-status', 'fs-a');
    // Re-pinned to fs-b after it ran on fs-a (what a spec.nodeName change did): fs-a still has its domain.
    const movedRunning = await createVm('fs-moved-running', 'fs-b', { phase: 'Running', origin: 'control-plane', managed: true, nodeName: 'fs-a' });
    const movedMissing = await createVm('fs-moved-missing', 'fs-b', {
      phase: 'Running',
      origin: 'control-plane',
      managed: true,
      nodeName: 'fs-b',
      domainUUID: randomUUID(),
    });
    const foreign = randomUUID();
    const huge = randomUUID();

    const res = await a.syncFullState({
      vms: [
        managed(good, 'running', { phase: 'Running', powerState: 'running', domainUUID: good.metadata.uid, domainName: 'default_fs-good' }),
        managed(movedRunning, 'running', { phase: 'Running', powerState: 'running', domainUUID: movedRunning.metadata.uid }),
        managed(movedMissing, '', { phase: 'Running', domainUUID: movedMissing.status!.domainUUID }),
        domain({ domainUuid: foreign, domainName: 'fs-foreign', vcpus: 2, memoryBytes: 256 * 1024 ** 2 }),
        domain({ domainUuid: huge, domainName: 'fs-huge', vcpus: 5000 }),
        domain({ domainUuid: 'not-a-uuid', domainName: 'fs-malformed' }),
        managed(badStatus, 'running', { phase: 'Lost', powerState: 'running', domainUUID: badStatus.metadata.uid }),
      ],
      pools: [pool('fs-pool', 'HEALTHY'), pool('fs-pool-bad', 'SICK')],
      stateHash: 'fs-hash-1',
      observedAtMs: Date.now(),
    });

    expect(res).toMatchObject({ updated: 1, discovered: 1, lost: 0, terminated: 0 });
    expect(res.rejected).toEqual([
      {
        field: 'vms[1]',
        domainUuid: movedRunning.metadata.uid,
        vm: 'default/fs-moved-running',
        pool: '',
        reason: 'Forbidden',
        message: expect.stringContaining('bound to "fs-b"'),
        boundNode: 'fs-b',
      },
      {
        field: 'vms[2]',
        domainUuid: movedMissing.metadata.uid,
        vm: 'default/fs-moved-missing',
        pool: '',
        reason: 'Forbidden',
        message: expect.stringContaining('bound to "fs-b"'),
        boundNode: 'fs-b',
      },
      { field: 'vms[4]', domainUuid: huge, vm: '', pool: '', reason: 'Invalid', message: expect.stringContaining('spec.cpu'), boundNode: '' },
      {
        field: 'vms[5]',
        domainUuid: 'not-a-uuid',
        vm: '',
        pool: '',
        reason: 'BadRequest',
        message: expect.stringContaining('vms[5].domainUuid'),
        boundNode: '',
      },
      {
        field: 'vms[6]',
        domainUuid: badStatus.metadata.uid,
        vm: 'default/fs-bad-status',
        pool: '',
        reason: 'BadRequest',
        message: expect.stringContaining('phase "Lost"'),
        boundNode: '',
      },
      { field: 'pools[1]', domainUuid: '', vm: '', pool: 'fs-pool-bad', reason: 'BadRequest', message: expect.stringContaining('SICK'), boundNode: '' },
    ]);

    // The good entries are written.
    expect((await getVm('fs-good')).status).toMatchObject({ phase: 'Running', powerState: 'running', nodeName: 'fs-a', managed: true });
    const [record, ...more] = await recordsOf(foreign);
    expect(more).toEqual([]);
    expect(record).toMatchObject({ metadata: { name: 'fs-foreign' }, status: { origin: 'host-discovered', phase: 'Running' } });
    expect(((await store(POOL).get(undefined, 'fs-pool')) as StoragePool).status?.hosts?.['fs-a']?.health).toBe('HEALTHY');
    // The refused ones are not, and a VM bound to another node is not Lost by this node's report.
    expect(await recordsOf(huge)).toEqual([]);
    expect((await getVm('fs-bad-status')).status?.phase).toBeUndefined();
    expect((await getVm('fs-moved-missing')).status?.phase).toBe('Running');
    expect((await getVm('fs-moved-running')).status?.nodeName).toBe('fs-a');
    expect(((await store(POOL).get(undefined, 'fs-pool-bad')) as StoragePool).status?.hosts?.['fs-a']).toBeUndefined();
    // The state hash is acknowledged: the heartbeat does not ask for the same sync again.
    expect(((await store(NODE).get(undefined, 'fs-a')) as Node).status?.stateHash).toBe('fs-hash-1');
    expect(await a.heartbeat({ stateHash: 'fs-hash-1', hypervisorReady: true })).toMatchObject({ requestFullSync: false });
  });

  it('NotifyVMChange about a VM bound to another node is Forbidden and leaves it as it is; a malformed domain UUID is a BadRequest naming the field', async () => {
    const a = client(await register('fs-n'));
    const vm = await createVm('fs-n-moved', 'fs-n-other', {
      phase: 'Running',
      origin: 'control-plane',
      managed: true,
      nodeName: 'fs-n',
      domainUUID: randomUUID(),
    });
    const report = managed(vm, '', { phase: 'Running', domainUUID: vm.status!.domainUUID });
    // NotifyVMChange finds the owner in the watch cache (an agent learns of a VM from it too).
    await eventually(() => store(VM).get('default', 'fs-n-moved', { resourceVersion: '0' }));
    await expect(a.notifyVmChange({ change: 'DELETED', vm: report })).rejects.toMatchObject({ reason: 'Forbidden' });
    expect((await getVm('fs-n-moved')).status?.phase).toBe('Running');
    await expect(a.notifyVmChange({ change: 'CREATED', vm: domain({ domainUuid: 'x,quantix.io/discovered-on=fs-n' }) })).rejects.toMatchObject({
      reason: 'BadRequest',
      message: expect.stringContaining('vm.domainUuid'),
    });
  });
});

/** The apiserver's context with a VM watch cache that lags: it does not show VMs created after `lagFrom`. */
function withLaggingVmCache(context: ApiserverContext, shown: Set<string>): ApiserverContext {
  const real = context.stores.get(VM);
  const visible = (o: KubeObject) => shown.has(o.metadata.uid!);
  const vms = new Proxy(real, {
    get(target, prop) {
      if (prop === 'list') {
        return async (opts: Parameters<Store['list']>[0]) => {
          const res = await target.list(opts);
          return opts?.resourceVersion === '0' ? { ...res, items: res.items.filter(visible) } : res;
        };
      }
      if (prop === 'get') {
        return async (namespace: string | undefined, name: string, opts: Parameters<Store['get']>[2]) => {
          const obj = await target.get(namespace, name, opts);
          if (opts?.resourceVersion === '0' && !visible(obj)) throw new NotFoundError(`${namespace}/${name}`, name);
          return obj;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    ...context,
    stores: {
      get: (def) => (def === VM ? vms : context.stores.get(def)),
      lister: context.stores.lister,
      lagByResource: () => context.stores.lagByResource(),
      stop: () => undefined,
    },
  };
}

function notifyCall(credential: string, request: VMChangeNotification): ServerUnaryCall<VMChangeNotification, VMChangeAck> {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${credential}`);
  return {
    metadata,
    request,
    getPeer: () => '127.0.0.1:1',
    getAuthContext: () => ({}),
    getPath: () => '/quantix.gateway.v1.NodeGateway/NotifyVMChange',
  } as unknown as ServerUnaryCall<VMChangeNotification, VMChangeAck>;
}

describe('host-discovered domains are recorded once', () => {
  it('a second report of a domain the (lagging) cache does not show yet updates the record made by the first', async () => {
    const credential = await register('dup-a');
    const shown = new Set(((await store(VM).list({})).items as KubeObject[]).map((o) => o.metadata.uid!));
    const service = new GatewayService(withLaggingVmCache(cp.env.apiserver.context, shown), {
      authenticator: cp.host.authenticator,
      credentials: cp.host.authenticator.store,
      tunnels: cp.host.tunnels,
      log: createLogger('gateway-test'),
    });
    const uuid = randomUUID();
    const report = domain({ domainUuid: uuid, domainName: 'dup-db', powerState: 'shutoff', stateReason: 'shutdown' });
    const first = await service.notifyVmChange(notifyCall(credential, { change: 'CREATED', vm: report, stateHash: '', eventTimeMs: 0 }));
    const second = await service.notifyVmChange(
      notifyCall(credential, { change: 'UPDATED', vm: { ...report, powerState: 'running', stateReason: 'booted' }, stateHash: '', eventTimeMs: 0 }),
    );
    expect(first.vm).toBe('default/dup-db');
    expect(second).toMatchObject({ vm: 'default/dup-db', phase: 'Running' });
    const records = await recordsOf(uuid);
    expect(records.map((r) => r.metadata.name)).toEqual(['dup-db']);
  });

  it("where a record goes is the gateway's choice: the configured namespace, a name from the domain; at most so many per node", async () => {
    const credential = await register('own-c');
    const service = new GatewayService(cp.env.apiserver.context, {
      authenticator: cp.host.authenticator,
      credentials: cp.host.authenticator.store,
      tunnels: cp.host.tunnels,
      maxDiscoveredPerNode: 2,
      log: createLogger('gateway-test'),
    });
    const notify = (vm: VMReport) => service.notifyVmChange(notifyCall(credential, { change: 'CREATED', vm, stateHash: '', eventTimeMs: 0 }));
    // A report naming an owner that does not exist (forged, or a VM deleted long ago) picks neither namespace nor name.
    const forged = await notify(
      domain({ domainUuid: randomUUID(), domainName: 'own-c-db', ownerNamespace: 'finance', ownerName: 'payroll', ownerUid: randomUUID() }),
    );
    expect(forged.vm).toBe('default/own-c-db');
    expect(((await store(VM).list({ namespace: 'finance' })).items as KubeObject[]).map((o) => o.metadata.name)).toEqual([]);
    await notify(domain({ domainUuid: randomUUID(), domainName: 'own-c-web' }));
    const third = randomUUID();
    await expect(notify(domain({ domainUuid: third, domainName: 'own-c-cache' }))).rejects.toMatchObject({
      code: 403,
      message: `node "own-c" already has 2 host-discovered VMs recorded, the limit is 2: domain own-c-cache (${third}) is not recorded`,
    });
    expect(await recordsOf(third)).toEqual([]);
  });

  it('concurrent SyncFullState and NotifyVMChange reports of one unknown domain produce exactly one VM', async () => {
    const a = client(await register('dup-b'));
    const uuids = [randomUUID(), randomUUID(), randomUUID()];
    const reports = uuids.map((domainUuid, i) => domain({ domainUuid, domainName: `dup-b-${i}` }));
    const sync = () => a.syncFullState({ vms: reports, pools: [], stateHash: '', observedAtMs: Date.now() });
    const notify = (vm: VMReport) => a.notifyVmChange({ change: 'CREATED', vm });
    const results = await Promise.all([sync(), ...reports.map(notify), sync(), ...reports.map(notify)]);
    expect(results.flatMap((r) => ('rejected' in r ? r.rejected : []))).toEqual([]);
    for (const [i, uuid] of uuids.entries()) expect((await recordsOf(uuid)).map((r) => r.metadata.name)).toEqual([`dup-b-${i}`]);
  });
});
