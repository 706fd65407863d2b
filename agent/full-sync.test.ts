/**
 * FullSync (SyncFullState) on the sim driver: the status it reports for a VM is the one the
 * worker would report — never Deleted while a deletion step is still to run. A stub gateway
 * client records the SyncFullState requests; the desired state is a stand-in holding one VM.
 * And which refusals of a full sync the agent logs: each once, when it first appears.
 */
import { randomUUID } from 'node:crypto';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { agentStatusFromWire } from '../api-types/proto/agent-status.js';
import { DISCOVERED_ON_LABEL, DOMAIN_UUID_LABEL, type AgentStatus } from '../api-types/proto/contract.js';
import type { EntryResult, SyncFullStateRequest, VMChangeNotification } from '../api-types/proto/types.js';
import { createLogger, setLogLevel } from '../lib/logging/logger.js';
import { DesiredState } from './desired-state.js';
import { DomainCache } from './domain-cache.js';
import { FullSync, newRefusals } from './full-sync.js';
import type { GatewayClient } from './gateway-client.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { Reporter } from './reporter.js';
import { VmSyncer } from './vm/sync.js';

setLogLevel('error');
const log = createLogger('test');

/** A state watcher on the sim driver that tells no one of changes and does not poll: the tests relist it themselves. */
function quietDomainCache(driver: SimDriver): DomainCache {
  return new DomainCache(
    driver,
    () => undefined,
    () => undefined,
    () => undefined,
    log,
    0,
  );
}

async function setup() {
  const driver = new SimDriver({ hostname: 'n1', acpiShutdownDelayMs: 0 });
  await driver.connect();
  await driver.definePool({ name: 'pool', type: 'dir', targetPath: '/var/lib/qx/pool' });
  await driver.startPool('pool');
  const sent: VMChangeNotification[] = [];
  const fullSyncs: SyncFullStateRequest[] = [];
  const client = {
    notifyVmChange: async (n: VMChangeNotification) => {
      sent.push(structuredClone(n));
      return { vm: '', phase: '' };
    },
    notifyStorageChange: async () => ({}),
    syncFullState: async (req: SyncFullStateRequest) => {
      fullSyncs.push(structuredClone(req));
      return {};
    },
  } as unknown as GatewayClient;
  const domains = quietDomainCache(driver);
  domains.start();
  await domains.relist();
  const reporter = new Reporter(client);
  const vms = new VmSyncer({ driver, domains, reporter, nodeName: () => 'n1', shutdownTimeoutMs: 5_000, now: () => Date.now(), log });
  const desiredVms = new Map<string, VirtualMachine>();
  const desired = {
    synced: true,
    vms: desiredVms,
    vmByUid: (uid: string) => [...desiredVms.values()].find((v) => v.metadata.uid === uid),
  } as unknown as DesiredState;
  const fullSync = new FullSync({ client, desired, domains, reporter, vms, log, running: () => true });
  /** The status of the VM in the last full sync. */
  const lastFullSyncStatus = (uid: string): AgentStatus => {
    const report = fullSyncs.at(-1)?.vms.find((r) => r.ownerUid === uid);
    if (!report) throw new Error(`no report of ${uid} in the last full sync`);
    return agentStatusFromWire(report.status);
  };
  return { driver, domains, vms, sent, desiredVms, fullSync, lastFullSyncStatus };
}

describe('FullSync', () => {
  it('a full sync between the undefine and the volume deletion does not report Deleted (Deleting until the volumes are gone)', async () => {
    const { driver, domains, vms, sent, desiredVms, fullSync, lastFullSyncStatus } = await setup();
    const uid = randomUUID();
    let vm: VirtualMachine = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'web', namespace: 'default', uid, resourceVersion: '5', finalizers: ['quantix.io/vm-cleanup'] },
      spec: { memory: '64Mi', nodeName: 'n1', disks: [{ name: 'root', storagePool: 'pool', size: '16Mi' }] },
      status: { phase: 'Scheduled' },
    };
    await vms.sync(vm);
    const created = agentStatusFromWire(sent.at(-1)!.vm!.status);
    expect(created.domainUUID).toBe(uid);
    // Deleting; the worker got as far as the undefine (then the agent stopped, or the full sync won the race).
    const createdStatus: AgentStatus = { ...created };
    delete createdStatus.synced;
    vm = { ...vm, metadata: { ...vm.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { ...vm.status, ...createdStatus } };
    desiredVms.set('default/web', vm);
    await driver.destroyDomain(uid);
    await driver.undefineDomain(uid);
    await domains.refresh(uid);

    await fullSync.run();
    expect(lastFullSyncStatus(uid).synced).toMatchObject({ status: 'False', reason: 'Deleting' });
    expect((await driver.listVolumes('pool')).map((v) => v.name)).toEqual([`web_root_${uid.slice(0, 8)}.qcow2`]);

    // The worker deletes the volumes: now, and only now, both paths say Deleted.
    await vms.sync(vm);
    expect(await driver.listVolumes('pool')).toEqual([]);
    expect(agentStatusFromWire(sent.at(-1)!.vm!.status).synced).toMatchObject({ status: 'True', reason: 'Deleted' });
    await fullSync.run();
    expect(lastFullSyncStatus(uid).synced).toMatchObject({ status: 'True', reason: 'Deleted' });
  });
});

const refusal = (over: Partial<EntryResult>): EntryResult => ({
  field: 'vms[0]',
  domainUuid: '6f1c2a8e-0000-4000-8000-000000000001',
  vm: 'default/web',
  pool: '',
  reason: 'Forbidden',
  message: 'node "a" may not write the status of VM default/web: it is bound to "b"',
  boundNode: 'b',
  ...over,
});

describe('FullSync: a volume that cannot be ruled out keeps the deletion open', () => {
  async function deletingVm() {
    const ctx = await setup();
    const uid = randomUUID();
    let vm: VirtualMachine = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'db', namespace: 'default', uid, resourceVersion: '5', finalizers: ['quantix.io/vm-cleanup'] },
      spec: { memory: '64Mi', nodeName: 'n1', disks: [{ name: 'root', storagePool: 'pool', size: '16Mi' }] },
      status: { phase: 'Scheduled' },
    };
    await ctx.vms.sync(vm);
    const created = agentStatusFromWire(ctx.sent.at(-1)!.vm!.status);
    delete created.synced;
    vm = { ...vm, metadata: { ...vm.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { ...vm.status, ...created } };
    ctx.desiredVms.set('default/db', vm);
    await ctx.driver.destroyDomain(uid);
    await ctx.driver.undefineDomain(uid);
    await ctx.domains.refresh(uid);
    return { ...ctx, uid };
  }

  it('a failure to look at the volume (not "not found") does not fail the full sync and does not report Deleted', async () => {
    const { driver, fullSync, lastFullSyncStatus, uid } = await deletingVm();
    driver.injectFailure('getVolume', 'OperationFailed', 'permission denied', 10);
    await fullSync.run();
    expect(lastFullSyncStatus(uid).synced).toMatchObject({ status: 'False', reason: 'Deleting' });
  });

  it('a stale "not found" whose pool refresh fails is not believed: not Deleted while the file may be there', async () => {
    const { driver, fullSync, lastFullSyncStatus, uid } = await deletingVm();
    driver.injectFailure('getVolume', 'VolumeNotFound', 'stale cache');
    driver.injectFailure('refreshPool', 'OperationFailed', 'pool busy');
    await fullSync.run();
    expect(lastFullSyncStatus(uid).synced).toMatchObject({ status: 'False', reason: 'Deleting' });
    expect(await driver.listVolumes('pool')).toHaveLength(1);
  });
});

describe('FullSync: a domain that changed while the sync was in flight', () => {
  it('is handed on (onChangedSince) once the sync is sent, and its own report goes out again', async () => {
    const driver = new SimDriver({ hostname: 'n1' });
    await driver.connect();
    const domains = quietDomainCache(driver);
    const sent: VMChangeNotification[] = [];
    // The domain dies while the sync is on its way; the agent's event path re-reads it and
    // reports it before the gateway has applied the (older) sync.
    let uuid = '';
    let reporter: Reporter;
    const client = {
      notifyVmChange: async (n: VMChangeNotification) => {
        sent.push(structuredClone(n));
        return { vm: '', phase: '' };
      },
      syncFullState: async () => {
        await driver.destroyDomain(uuid);
        await domains.refresh(uuid);
        await reporter.reportDomain(uuid, domains.get(uuid));
        return { rejected: [] };
      },
    } as unknown as GatewayClient;
    reporter = new Reporter(client);
    const foreign = driver.defineForeignDomain({ uuid: randomUUID(), name: 'by-hand', vcpus: 1, memoryBytes: 64 << 20, disks: [], networks: [] });
    uuid = foreign.uuid;
    await driver.startDomain(uuid);
    domains.start();
    await domains.relist();
    const desired = { synced: true, vms: new Map(), vmByUid: () => undefined } as unknown as DesiredState;
    const vms = new VmSyncer({ driver, domains, reporter, nodeName: () => 'n1', shutdownTimeoutMs: 5_000, now: () => Date.now(), log });
    const changed: Array<{ uuid: string; before?: string; now?: string }> = [];
    const fullSync = new FullSync({
      client,
      desired,
      domains,
      reporter,
      vms,
      log,
      running: () => true,
      onChangedSince: (u, previous, current) => changed.push({ uuid: u, before: previous?.state, now: current?.state }),
    });

    await fullSync.run();
    expect(changed).toEqual([{ uuid, before: 'Running', now: 'Shutoff' }]);
    // What the workers then do with it: the domain's report goes again (the sync had marked
    // the running snapshot as sent, over the report of the stop).
    const before = sent.length;
    expect(await reporter.reportDomain(uuid, domains.get(uuid))).toBe(true);
    expect(sent.slice(before).map((n) => n.vm?.powerState)).toEqual(['shutoff']);
    domains.stop();
    await driver.close();
  });

  it('nothing changed meanwhile: nothing handed on', async () => {
    const driver = new SimDriver({ hostname: 'n1' });
    await driver.connect();
    const domains = quietDomainCache(driver);
    const client = { notifyVmChange: async () => ({}), syncFullState: async () => ({ rejected: [] }) } as unknown as GatewayClient;
    const reporter = new Reporter(client);
    const foreign = driver.defineForeignDomain({ uuid: randomUUID(), name: 'by-hand', vcpus: 1, memoryBytes: 64 << 20, disks: [], networks: [] });
    await driver.startDomain(foreign.uuid);
    domains.start();
    await domains.relist();
    const desired = { synced: true, vms: new Map(), vmByUid: () => undefined } as unknown as DesiredState;
    const vms = new VmSyncer({ driver, domains, reporter, nodeName: () => 'n1', shutdownTimeoutMs: 5_000, now: () => Date.now(), log });
    const changed: string[] = [];
    const fullSync = new FullSync({ client, desired, domains, reporter, vms, log, running: () => true, onChangedSince: (u) => changed.push(u) });
    await fullSync.run();
    expect(changed).toEqual([]);
    domains.stop();
    await driver.close();
  });
});

describe('newRefusals', () => {
  const moved = refusal({});
  const invalid = refusal({ field: 'vms[1]', domainUuid: '6f1c2a8e-0000-4000-8000-000000000002', vm: '', reason: 'Invalid', message: 'spec.cpu: too many' });
  const pool = refusal({ field: 'pools[0]', domainUuid: '', vm: '', pool: 'p', reason: 'BadRequest', message: 'health' });

  it('logs every refusal of the first sync', () => {
    const { log, seen } = newRefusals(new Map(), [moved, invalid, pool]);
    expect(log).toEqual([moved, invalid, pool]);
    expect(seen.size).toBe(3);
  });

  it('does not log a refusal again when the next sync repeats it, even at another index', () => {
    const first = newRefusals(new Map(), [moved, invalid]);
    const second = newRefusals(first.seen, [
      { ...invalid, field: 'vms[0]' },
      { ...moved, field: 'vms[1]' },
    ]);
    expect(second.log).toEqual([]);
  });

  it('logs a refusal whose reason or message changed, and one that went away and came back', () => {
    const first = newRefusals(new Map(), [moved]);
    const changed = { ...moved, reason: 'Invalid', message: 'status.phase: bad' };
    expect(newRefusals(first.seen, [changed]).log).toEqual([changed]);
    const gone = newRefusals(first.seen, []);
    expect(gone.log).toEqual([]);
    expect(newRefusals(gone.seen, [moved]).log).toEqual([moved]);
  });

  it('a refusal listed twice in one sync is logged once', () => {
    expect(newRefusals(new Map(), [moved, { ...moved, field: 'vms[3]' }]).log).toEqual([moved]);
  });
});

describe('FullSync: host domains undefined while they run (transient until they stop)', () => {
  /** Two hand-made domains, both undefined while running; `withRecord` says which have a live record in the desired state. */
  async function fullSyncOfTransientDomains(withRecord: (name: string) => boolean, recordTerminated = false) {
    const driver = new SimDriver({ hostname: 'n1' });
    await driver.connect();
    const domains = quietDomainCache(driver);
    const fullSyncs: SyncFullStateRequest[] = [];
    const client = {
      notifyVmChange: async () => ({}),
      syncFullState: async (req: SyncFullStateRequest) => {
        fullSyncs.push(structuredClone(req));
        return { rejected: [] };
      },
    } as unknown as GatewayClient;
    // A fresh reporter: the agent restarted after the undefine, this process sent nothing yet.
    const reporter = new Reporter(client);
    const desired = new DesiredState(client, () => undefined, log);
    for (const name of ['recorded', 'never-recorded']) {
      const d = driver.defineForeignDomain({ uuid: randomUUID(), name, vcpus: 1, memoryBytes: 64 << 20, disks: [], networks: [] });
      await driver.startDomain(d.uuid);
      await driver.undefineDomain(d.uuid);
      if (name === 'recorded') await driver.suspendDomain(d.uuid);
      if (withRecord(name)) desired.vms.set(`default/${name}`, hostDiscoveredRecord(name, d.uuid, recordTerminated ? 'Terminated' : 'Running'));
    }
    domains.start();
    await domains.relist();
    // The stream's first SYNCED, as the agent waits for before any full sync.
    const synced = {
      synced: true,
      vms: desired.vms,
      vmByUid: () => undefined,
      hasLiveHostRecord: (u: string) => desired.hasLiveHostRecord(u),
    } as unknown as DesiredState;
    const vms = new VmSyncer({ driver, domains, reporter, nodeName: () => 'n1', shutdownTimeoutMs: 5_000, now: () => Date.now(), log });
    await new FullSync({ client, desired: synced, domains, reporter, vms, log, running: () => true }).run();
    domains.stop();
    await driver.close();
    return fullSyncs.at(-1)!.vms.map((r) => [r.domainName, r.powerState, r.persistent]);
  }

  function hostDiscoveredRecord(name: string, domainUuid: string, phase: string): VirtualMachine {
    return {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name, namespace: 'default', uid: randomUUID(), labels: { [DOMAIN_UUID_LABEL]: domainUuid, [DISCOVERED_ON_LABEL]: 'n1' } },
      spec: { memory: '64Mi', nodeName: 'n1' },
      status: { phase, origin: 'host-discovered', managed: false },
    } as VirtualMachine;
  }

  it('one with a live record is still reported (paused, not persistent): the gateway does not mark it Terminated', async () => {
    expect(await fullSyncOfTransientDomains((name) => name === 'recorded')).toEqual([['recorded', 'paused', false]]);
  });

  it('one never recorded stays out, as one whose record is already Terminated', async () => {
    expect(await fullSyncOfTransientDomains(() => false)).toEqual([]);
    expect(await fullSyncOfTransientDomains(() => true, true)).toEqual([]);
  });
});
