/**
 * VmSyncer on the sim driver: decisions carried out against a hypervisor, the re-read
 * after each mutation, and what gets reported (a stub gateway client records reports).
 */
import { randomUUID } from 'node:crypto';
import { SimDriver } from '../hypervisor/sim/driver.js';
import type { VirtualMachine, VirtualMachineStatus } from '../../api-types/generated/types.js';
import { agentStatusFromWire } from '../../api-types/proto/agent-status.js';
import type { AgentStatus } from '../../api-types/proto/contract.js';
import type { VMChangeNotification } from '../../api-types/proto/types.js';
import { createLogger, setLogLevel } from '../../lib/logging/logger.js';
import { DomainCache } from '../domain-cache.js';
import type { GatewayClient } from '../gateway-client.js';
import { Reporter } from '../reporter.js';
import { GUEST_POLL_SLOW_MS, VmSyncer } from './sync.js';
import { eventually } from '../../hack/testenv/eventually.js';

// Failures are provoked on purpose here: keep their warnings out of the test output.
setLogLevel('error');
const log = createLogger('test');

async function setup(opts: { acpiDelay?: number | null; shutdownTimeoutMs?: number } = {}) {
  const driver = new SimDriver({ hostname: 'n1', acpiShutdownDelayMs: opts.acpiDelay === undefined ? 0 : opts.acpiDelay });
  await driver.connect();
  await driver.definePool({ name: 'pool', type: 'dir', targetPath: '/var/lib/qx/pool' });
  await driver.startPool('pool');
  const sent: VMChangeNotification[] = [];
  const client = {
    notifyVmChange: async (n: VMChangeNotification) => {
      sent.push(structuredClone(n));
      return { vm: '', phase: '' };
    },
    notifyStorageChange: async () => ({}),
  } as unknown as GatewayClient;
  let now = 1_700_000_000_000;
  const domains = new DomainCache(
    driver,
    () => undefined,
    () => undefined,
    () => undefined,
    log,
    0,
  );
  domains.start();
  await domains.relist();
  const reporter = new Reporter(client, () => now);
  const syncer = new VmSyncer({ driver, domains, reporter, nodeName: () => 'n1', shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 5_000, now: () => now, log });
  const statuses = () => sent.map((n) => agentStatusFromWire(n.vm!.status));
  return { driver, domains, syncer, sent, statuses, advance: (ms: number) => (now += ms) };
}

function vmOf(over: Partial<VirtualMachine['spec']> = {}, status?: VirtualMachineStatus): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'web', namespace: 'default', uid: randomUUID(), resourceVersion: '5', finalizers: ['quantix.io/vm-cleanup'] },
    spec: { memory: '64Mi', nodeName: 'n1', disks: [{ name: 'root', storagePool: 'pool', size: '16Mi' }], ...over },
    status: status ?? { phase: 'Scheduled' },
  };
}

/** What the VM object looks like after the gateway applied the last report. */
function applied(vm: VirtualMachine, status: AgentStatus): VirtualMachine {
  const { synced, agentConnected, ...rest } = status;
  const conditions = [synced, agentConnected].filter((c) => c !== undefined);
  return {
    ...vm,
    metadata: { ...vm.metadata, resourceVersion: String(Number(vm.metadata.resourceVersion) + 1) },
    status: { ...rest, origin: 'control-plane', managed: true, lastSeen: new Date(1_700_000_000_000).toISOString(), conditions },
  };
}

/** Waits for the sim guest to power off after an ACPI press, and lets the domain cache see it. */
async function guestOff(driver: SimDriver, domains: DomainCache, uid: string): Promise<void> {
  await eventually(async () => (await driver.getDomain(uid)).state === 'Shutoff', { timeoutMs: 5_000, message: 'the sim guest to power off' });
  await domains.refresh(uid);
}

describe('VmSyncer on sim', () => {
  it('creates the volume, defines and starts the domain, and reports Running once', async () => {
    const { driver, syncer, sent, statuses } = await setup();
    const vm = vmOf();
    const res = await syncer.sync(vm);
    expect(res.error).toBeUndefined();
    const domain = await driver.getDomain(vm.metadata.uid!);
    expect(domain).toMatchObject({ state: 'Running', name: 'default_web', owner: { namespace: 'default', name: 'web', uid: vm.metadata.uid } });
    const volumes = await driver.listVolumes('pool');
    expect(volumes.map((v) => v.name)).toEqual([`web_root_${vm.metadata.uid!.slice(0, 8)}.qcow2`]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.change).toBe('CREATED');
    expect(statuses()[0]).toMatchObject({
      phase: 'Running',
      powerState: 'running',
      domainUUID: vm.metadata.uid,
      volumes: [{ name: 'root', pool: 'pool', capacityBytes: 16 << 20 }],
    });
  });

  it('an agent restart (new syncer, status already reported) neither starts, stops, redefines nor writes', async () => {
    const first = await setup();
    const vm = vmOf();
    await first.syncer.sync(vm);
    const stored = applied(vm, first.statuses()[0]!);
    const restarted = new VmSyncer({
      driver: first.driver,
      domains: first.domains,
      reporter: new Reporter(
        {
          notifyVmChange: async (n: VMChangeNotification) => {
            throw new Error(`must not report: ${JSON.stringify(n.vm!.status)}`);
          },
        } as unknown as GatewayClient,
        () => Date.parse(stored.status!.lastSeen!),
      ),
      nodeName: () => 'n1',
      shutdownTimeoutMs: 5_000,
      now: () => Date.parse(stored.status!.lastSeen!),
      log,
    });
    const calls = () => ['startDomain', 'destroyDomain', 'shutdownDomain', 'defineDomain'].map((op) => first.driver.callCounts.get(op) ?? 0);
    const before = calls();
    // Only the guest agent is asked again later (a running VM's guest is polled).
    expect(await restarted.sync(stored)).toEqual({ requeueAfterMs: GUEST_POLL_SLOW_MS });
    expect(calls()).toEqual(before);
  });

  it('out-of-band destroy under Always: reports Stopped first, then restarts and reports Running with restartCount 1', async () => {
    const { driver, domains, syncer, statuses } = await setup();
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    await driver.destroyDomain(vm.metadata.uid!);
    await domains.refresh(vm.metadata.uid!);
    await syncer.sync(vm);
    expect(
      statuses()
        .slice(1)
        .map((s) => [s.phase, s.restartCount]),
    ).toEqual([
      ['Stopped', undefined],
      ['Running', 1],
    ]);
  });

  it('a disk in a pool that is not running here: Synced=False PoolNotReady, no domain, retried', async () => {
    const { driver, syncer, statuses } = await setup();
    await driver.stopPool('pool');
    const vm = vmOf();
    const res = await syncer.sync(vm);
    expect(res.error?.message).toMatch(/pool pool is not running/);
    expect(statuses().at(-1)).toEqual({ synced: { type: 'Synced', status: 'False', reason: 'PoolNotReady', message: expect.stringContaining('not running') } });
    await expect(driver.getDomain(vm.metadata.uid!)).rejects.toMatchObject({ reason: 'DomainNotFound' });
    await driver.startPool('pool');
    expect((await syncer.sync(vm)).error).toBeUndefined();
    expect(statuses().at(-1)?.phase).toBe('Running');
  });

  it('libvirt refusing the start: Failed with LifecycleFailed, then recovers', async () => {
    const { driver, syncer, statuses } = await setup();
    driver.injectFailure('startDomain', 'OperationFailed', 'no space left for the guest', 1);
    const vm = vmOf();
    expect((await syncer.sync(vm)).error).toBeDefined();
    expect(statuses().at(-1)).toMatchObject({
      phase: 'Failed',
      synced: { status: 'False', reason: 'LifecycleFailed', message: 'start: no space left for the guest' },
    });
    expect((await syncer.sync(vm)).error).toBeUndefined();
    expect(statuses().at(-1)).toMatchObject({ phase: 'Running', synced: { status: 'True' } });
  });

  it('deletion: graceful shutdown, force off after the timeout when the guest ignores ACPI, undefine, volumes removed, Deleted', async () => {
    const { driver, domains, syncer, statuses, advance } = await setup({ acpiDelay: null });
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    vm = { ...vm, metadata: { ...vm.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
    const first = await syncer.sync(vm);
    expect(first.requeueAfterMs).toBe(5_000);
    expect(statuses().at(-1)).toMatchObject({ phase: 'Stopping', synced: { reason: 'Deleting' } });
    advance(5_000);
    await syncer.sync(vm);
    await domains.refresh(vm.metadata.uid!);
    await expect(driver.getDomain(vm.metadata.uid!)).rejects.toMatchObject({ reason: 'DomainNotFound' });
    expect(await driver.listVolumes('pool')).toEqual([]);
    expect(statuses().at(-1)).toEqual({ synced: { type: 'Synced', status: 'True', reason: 'Deleted', message: 'domain and volumes removed from node n1' } });
  });

  it('a stop presses ACPI again after 10 s; a press that races the guest powering off is not a failure', async () => {
    const { driver, syncer, statuses, advance } = await setup({ acpiDelay: null, shutdownTimeoutMs: 60_000 });
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    vm = { ...vm, spec: { ...vm.spec, runStrategy: 'Halted' } };
    expect((await syncer.sync(vm)).error).toBeUndefined();
    expect(driver.callCounts.get('shutdownDomain')).toBe(1);
    advance(10_000);
    // The guest powers off just as the agent presses again: libvirt refuses the press.
    const press = driver.shutdownDomain.bind(driver);
    const modes: string[] = [];
    driver.shutdownDomain = async (uuid: string, mode?: 'acpi' | 'agent') => {
      modes.push(mode ?? 'acpi');
      await press(uuid, mode);
      throw new Error('Requested operation is not valid: domain is not running');
    };
    const retried = await syncer.sync(vm);
    expect(modes[0]).toBe('acpi');
    expect(retried.error).toBeUndefined();
    expect(statuses().at(-1)?.synced?.reason).not.toBe('LifecycleFailed');
  });

  it('a domain removed outside Quantix: reported DELETED (the gateway marks it Lost), not re-created', async () => {
    const { driver, domains, syncer, sent, statuses } = await setup();
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    await driver.destroyDomain(vm.metadata.uid!);
    await driver.undefineDomain(vm.metadata.uid!);
    await domains.refresh(vm.metadata.uid!);
    await syncer.sync(vm);
    expect(sent.at(-1)?.change).toBe('DELETED');
    expect(sent.at(-1)?.vm?.powerState).toBe('');
    await expect(driver.getDomain(vm.metadata.uid!)).rejects.toMatchObject({ reason: 'DomainNotFound' });
  });

  it('qxctl vm restart (annotation): stop + start once, restartCount + 1, remembered across agent restarts', async () => {
    const { driver, domains, syncer, statuses } = await setup();
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    const asked = '2026-11-23T03:04:05.678Z';
    vm = { ...vm, metadata: { ...vm.metadata, annotations: { 'quantix.io/restart-requested-at': asked } } };
    const idBefore = (await driver.getDomain(vm.metadata.uid!)).id;
    // A graceful shutdown first (the sim guest answers ACPI), then the start.
    await syncer.sync(vm);
    expect(driver.callCounts.get('shutdownDomain')).toBe(1);
    expect(driver.callCounts.get('destroyDomain') ?? 0).toBe(0);
    await guestOff(driver, domains, vm.metadata.uid!);
    await syncer.sync(vm);
    const after = await driver.getDomain(vm.metadata.uid!);
    expect(after.state).toBe('Running');
    expect(after.id).not.toBe(idBefore);
    expect(statuses().at(-1)).toMatchObject({ phase: 'Running', restartCount: 1 });
    vm = applied(vm, statuses().at(-1)!);
    const starts = driver.callCounts.get('startDomain');
    await syncer.sync(vm);
    expect(driver.callCounts.get('startDomain')).toBe(starts);
    // A new syncer with the same records (an agent restart) does not restart it again.
    const records = new Map([[vm.metadata.uid!, { honoured: asked }]]);
    const again = new VmSyncer({
      driver,
      domains,
      reporter: new Reporter({ notifyVmChange: async () => ({}) } as unknown as GatewayClient),
      restarts: { get: (u) => records.get(u), set: () => undefined },
      nodeName: () => 'n1',
      shutdownTimeoutMs: 5_000,
      now: () => Date.now(),
      log,
    });
    await again.sync(vm);
    expect(driver.callCounts.get('startDomain')).toBe(starts);
  });

  it('a restart request is honoured once across an agent crash right after the start (no second power-off)', async () => {
    const { driver, domains, syncer, statuses } = await setup();
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    const asked = '2026-11-23T03:04:05.678Z';
    vm = { ...vm, metadata: { ...vm.metadata, annotations: { 'quantix.io/restart-requested-at': asked } } };
    // The state dir's records; the process is "killed" when it would record the request honoured.
    const records = new Map<string, unknown>();
    let killed = false;
    const restarts = {
      get: (u: string) => records.get(u) as never,
      set: (u: string, v: unknown) => {
        const honoured = v === asked || (v as { honoured?: string } | undefined)?.honoured === asked;
        if (!killed && honoured) {
          killed = true;
          throw new Error('agent killed');
        }
        records.set(u, structuredClone(v));
      },
    };
    const syncerWith = () =>
      new VmSyncer({
        driver,
        domains,
        restarts,
        reporter: new Reporter({ notifyVmChange: async () => ({}) } as unknown as GatewayClient),
        nodeName: () => 'n1',
        shutdownTimeoutMs: 5_000,
        now: () => Date.now(),
        log,
      });
    const crashing = syncerWith();
    await crashing.sync(vm);
    await guestOff(driver, domains, vm.metadata.uid!);
    await crashing.sync(vm);
    expect(killed).toBe(true);
    expect((await driver.getDomain(vm.metadata.uid!)).state).toBe('Running');
    const destroys = driver.callCounts.get('destroyDomain') ?? 0;
    const starts = driver.callCounts.get('startDomain') ?? 0;
    // The restarted agent: the domain already runs as a new instance.
    await syncerWith().sync(vm);
    expect(driver.callCounts.get('destroyDomain') ?? 0).toBe(destroys);
    expect(driver.callCounts.get('startDomain') ?? 0).toBe(starts);
    expect(records.get(vm.metadata.uid!)).toEqual({ honoured: asked });
  });

  it('no cleanup finalizer yet: nothing created (no volume, no domain), Synced=False/WaitingForFinalizer', async () => {
    const { driver, syncer, statuses } = await setup();
    const vm = vmOf();
    vm.metadata.finalizers = [];
    expect(await syncer.sync(vm)).toEqual({});
    expect(driver.callCounts.get('createVolume') ?? 0).toBe(0);
    expect(driver.callCounts.get('defineDomain') ?? 0).toBe(0);
    expect(statuses().at(-1)?.synced).toMatchObject({ status: 'False', reason: 'WaitingForFinalizer' });
    vm.metadata.finalizers = ['quantix.io/vm-cleanup'];
    await syncer.sync(vm);
    expect(statuses().at(-1)?.phase).toBe('Running');
  });

  it('deletion with the pool of a volume missing: Synced=False/PoolNotFound naming it, not Deleted, until the pool is back', async () => {
    const { driver, domains, syncer, statuses } = await setup();
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    await driver.stopPool('pool');
    await driver.undefinePool('pool');
    vm = { ...vm, metadata: { ...vm.metadata, deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 0 } };
    await syncer.sync(vm);
    await domains.refresh(vm.metadata.uid!);
    expect(domains.get(vm.metadata.uid!)).toBeUndefined();
    expect(statuses().at(-1)?.synced).toEqual({
      type: 'Synced',
      status: 'False',
      reason: 'PoolNotFound',
      message: expect.stringContaining('storage pool pool not defined on this node'),
    });
    expect((await syncer.statusNow(vm)).status.synced?.reason).toBe('PoolNotFound');
    await driver.definePool({ name: 'pool', type: 'dir', targetPath: '/var/lib/qx/pool' });
    await driver.startPool('pool');
    await syncer.sync(vm);
    expect(statuses().at(-1)?.synced).toMatchObject({ status: 'True', reason: 'Deleted' });
  });

  it('deletion while a foreign domain holds the VM uuid: its volumes are kept, Synced=False naming that domain, not Deleted', async () => {
    const { driver, domains, syncer, statuses } = await setup();
    let vm = vmOf();
    await syncer.sync(vm);
    vm = applied(vm, statuses().at(-1)!);
    const uid = vm.metadata.uid!;
    await driver.destroyDomain(uid);
    await driver.undefineDomain(uid);
    driver.defineForeignDomain({ uuid: uid, name: 'handmade', vcpus: 1, memoryBytes: 64 << 20, disks: [], networks: [] });
    await domains.refresh(uid);
    vm = { ...vm, metadata: { ...vm.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
    await syncer.sync(vm);
    expect((await driver.listVolumes('pool')).map((v) => v.name)).toEqual([`web_root_${uid.slice(0, 8)}.qcow2`]);
    expect(driver.callCounts.get('deleteVolume') ?? 0).toBe(0);
    expect(statuses().at(-1)?.synced).toMatchObject({ status: 'False', reason: 'DomainConflict', message: expect.stringContaining('handmade') });
    expect((await syncer.statusNow(vm)).status.synced?.reason).toBe('DomainConflict');
  });

  it('spec.paused suspends and resumes', async () => {
    const { driver, syncer, statuses } = await setup();
    let vm = vmOf({ paused: true });
    await syncer.sync(vm);
    expect((await driver.getDomain(vm.metadata.uid!)).state).toBe('Paused');
    expect(statuses().at(-1)?.phase).toBe('Paused');
    vm = applied({ ...vm, spec: { ...vm.spec, paused: false } }, statuses().at(-1)!);
    await syncer.sync(vm);
    expect((await driver.getDomain(vm.metadata.uid!)).state).toBe('Running');
  });
});

describe('VmSyncer: clone disks', () => {
  const named = (vm: VirtualMachine, name: string): VirtualMachine => ({ ...vm, metadata: { ...vm.metadata, name } });

  it('copies the source volume while the source is off, and the source does not start during the copy', async () => {
    const { driver, syncer } = await setup();
    const src = named(vmOf({ runStrategy: 'Halted' }), 'src');
    expect((await syncer.sync(src)).error).toBeUndefined();
    expect(await driver.getDomain(src.metadata.uid!)).toMatchObject({ state: 'Shutoff' });

    // The copy is held open until the test lets it finish (a fake around the sim's cloneVolume).
    let entered!: () => void;
    const copying = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const cloneVolume = driver.cloneVolume.bind(driver);
    driver.cloneVolume = async (...args) => {
      entered();
      await gate;
      return cloneVolume(...args);
    };
    const dst = named(
      vmOf({
        runStrategy: 'Halted',
        disks: [{ name: 'root', storagePool: 'pool', size: '16Mi', cloneFrom: { virtualMachine: 'src', uid: src.metadata.uid!, disk: 'root' } }],
      }),
      'dst',
    );
    const cloning = syncer.sync(dst);
    await copying;

    const started = await syncer.sync({ ...src, spec: { ...src.spec, runStrategy: 'Always' } });
    expect(started.error).toMatchObject({ reason: 'CloneInProgress', message: 'a clone is copying the disks of this VM: it starts once the copy is done' });
    expect(await driver.getDomain(src.metadata.uid!)).toMatchObject({ state: 'Shutoff' });

    release();
    expect((await cloning).error).toBeUndefined();
    expect((await driver.listVolumes('pool')).map((v) => v.name).sort()).toEqual(
      [`dst_root_${dst.metadata.uid!.slice(0, 8)}.qcow2`, `src_root_${src.metadata.uid!.slice(0, 8)}.qcow2`].sort(),
    );
    expect((await syncer.sync({ ...src, spec: { ...src.spec, runStrategy: 'Always' } })).error).toBeUndefined();
    expect(await driver.getDomain(src.metadata.uid!)).toMatchObject({ state: 'Running' });
  });

  it('a source volume that is gone fails the disk (phase Failed, CloneSourceMissing) and creates nothing', async () => {
    const { driver, syncer, statuses } = await setup();
    const uid = randomUUID();
    const dst = named(vmOf({ disks: [{ name: 'root', storagePool: 'pool', size: '16Mi', cloneFrom: { virtualMachine: 'gone', uid, disk: 'root' } }] }), 'dst');
    const res = await syncer.sync(dst);
    expect(res.error).toMatchObject({ reason: 'CloneSourceMissing' });
    expect(res.error?.message).toBe(
      `disk root: volume pool/gone_root_${uid.slice(0, 8)}.qcow2 of VM "gone" (disk root) is not on node n1: was the source VM deleted?`,
    );
    expect(await driver.listVolumes('pool')).toEqual([]);
    expect(statuses().at(-1)).toMatchObject({ phase: 'Failed', synced: { status: 'False', reason: 'CloneSourceMissing' } });
  });
});
