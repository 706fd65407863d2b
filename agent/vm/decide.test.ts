/**
 * The VM reconcile decisions, table-driven, on domains produced by the sim driver (the
 * same DomainInfo shapes, states and reasons libvirt gives).
 */
import { randomUUID } from 'node:crypto';
import type { DomainInfo } from '../hypervisor/driver.js';
import { SimDriver } from '../hypervisor/sim/driver.js';
import type { VirtualMachine, VirtualMachineStatus } from '../../api-types/generated/types.js';
import { decideVm, newVmMemory, restartDelayMs, restartRequiredFields, RESTART_BACKOFF_BASE_MS, type VmMemory, type VolumesObservation } from './decide.js';
import { agentStatusDiffers, computeAgentStatus } from './status.js';

const NOW = 1_700_000_000_000;
const TIMEOUT = 30_000;

function vmOf(
  over: {
    runStrategy?: string;
    paused?: boolean;
    status?: VirtualMachineStatus;
    deleting?: boolean;
    grace?: number;
    rv?: string;
    uid?: string;
    restartAt?: string;
    /** Without the cleanup finalizer (the vm controller has not added it yet). */
    noFinalizer?: boolean;
  } = {},
): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: over.uid ?? randomUUID(),
      resourceVersion: over.rv ?? '10',
      ...(over.noFinalizer ? {} : { finalizers: ['quantix.io/vm-cleanup'] }),
      ...(over.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
      ...(over.grace !== undefined ? { deletionGracePeriodSeconds: over.grace } : {}),
      ...(over.restartAt ? { annotations: { 'quantix.io/restart-requested-at': over.restartAt } } : {}),
    },
    spec: { memory: '64Mi', runStrategy: over.runStrategy as VirtualMachine['spec']['runStrategy'], paused: over.paused, nodeName: 'n1' },
    status: over.status,
  };
}

type DomainSetup = 'none' | 'running' | 'destroyed' | 'crashed' | 'guest-off' | 'paused' | 'defined' | 'foreign';

/** A domain in the given state on a fresh sim host, owned by `vm` (unless foreign). */
async function domainFor(vm: VirtualMachine, setup: DomainSetup): Promise<DomainInfo | undefined> {
  if (setup === 'none') return undefined;
  const sim = new SimDriver({ strictDiskPaths: false });
  await sim.connect();
  const uuid = vm.metadata.uid!;
  if (setup === 'foreign') {
    sim.defineForeignDomain({ uuid, name: 'handmade', vcpus: 1, memoryBytes: 64 << 20, disks: [], networks: [] });
    return sim.getDomain(uuid);
  }
  await sim.defineDomain({
    uuid,
    name: 'default_web',
    vcpus: 1,
    memoryBytes: 64 << 20,
    disks: [],
    networks: [],
    owner: { namespace: 'default', name: 'web', uid: uuid },
  });
  if (setup === 'defined') return sim.getDomain(uuid);
  await sim.startDomain(uuid);
  if (setup === 'destroyed') await sim.destroyDomain(uuid);
  if (setup === 'crashed') sim.crashDomain(uuid);
  if (setup === 'guest-off') sim.guestPowerOff(uuid);
  if (setup === 'paused') await sim.suspendDomain(uuid);
  return sim.getDomain(uuid);
}

interface Row {
  name: string;
  vm: Parameters<typeof vmOf>[0];
  domain: DomainSetup;
  /** The deletion's volume observation (absent: not observed). */
  volumes?: VolumesObservation;
  memory?: Partial<VmMemory>;
  actions: string[];
  flags?: Record<string, unknown>;
  blocked?: string;
  requeue?: number;
  managed?: boolean;
}

const running: VirtualMachineStatus = { phase: 'Running', domainUUID: 'x' };

const rows: Row[] = [
  { name: 'new VM, Always: create and start', vm: { status: { phase: 'Scheduled' } }, domain: 'none', actions: ['ensureVolumes', 'define', 'start'] },
  { name: 'new VM without any status (no controller yet): create and start', vm: {}, domain: 'none', actions: ['ensureVolumes', 'define', 'start'] },
  { name: 'new VM, Halted: define only', vm: { runStrategy: 'Halted', status: { phase: 'Scheduled' } }, domain: 'none', actions: ['ensureVolumes', 'define'] },
  {
    name: 'new VM, Manual: started once on creation',
    vm: { runStrategy: 'Manual', status: { phase: 'Scheduled' } },
    domain: 'none',
    actions: ['ensureVolumes', 'define', 'start'],
  },
  { name: 'running, Always: nothing to do', vm: { status: running }, domain: 'running', actions: [] },
  {
    name: 'destroyed out of band, Always: refresh the definition, start, count a restart',
    vm: { status: running },
    domain: 'destroyed',
    actions: ['ensureVolumes', 'define', 'start'],
  },
  {
    name: 'crashed (libvirt state Crashed cleared to shutoff), Always: restarted',
    vm: { status: running },
    domain: 'crashed',
    actions: ['ensureVolumes', 'define', 'start'],
  },
  {
    name: 'stopped again soon after an automatic restart: backoff',
    vm: { status: running },
    domain: 'destroyed',
    memory: { autoRestarts: [NOW - 1_000] },
    actions: [],
    blocked: 'RestartBackoff',
    requeue: RESTART_BACKOFF_BASE_MS - 1_000,
  },
  {
    name: 'guest shut down, Manual: stays stopped',
    vm: { runStrategy: 'Manual', status: { phase: 'Running', domainUUID: 'x' } },
    domain: 'guest-off',
    actions: [],
  },
  {
    name: 'crashed, RerunOnFailure: no restart by the agent (the vm controller asks)',
    vm: { runStrategy: 'RerunOnFailure', status: { phase: 'Failed', domainUUID: 'x' } },
    domain: 'crashed',
    actions: [],
  },
  {
    name: 'RerunOnFailure restart request (phase Scheduled): start',
    vm: { runStrategy: 'RerunOnFailure', status: { phase: 'Scheduled', domainUUID: 'x', restartCount: 1 } },
    domain: 'crashed',
    actions: ['ensureVolumes', 'define', 'start'],
  },
  {
    name: 'a start request already acted on (status not back yet): no second start',
    vm: { runStrategy: 'Manual', rv: '42', status: { phase: 'Scheduled' } },
    domain: 'guest-off',
    memory: { consumedStartRequest: '42' },
    actions: [],
  },
  {
    name: 'Halted and running: graceful shutdown first',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'running',
    actions: ['shutdown'],
    requeue: TIMEOUT,
  },
  {
    name: 'Halted, shutdown asked 5 s ago: wait until it is time to ask again',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'running',
    memory: { stopRequestedAt: NOW - 5_000 },
    actions: [],
    requeue: 5_000,
  },
  {
    name: 'Halted, still running 10 s after the button: press it again (a booting guest misses it); the grace period runs on',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'running',
    memory: { stopRequestedAt: NOW - 10_000 },
    actions: ['shutdown'],
    requeue: TIMEOUT - 10_000,
  },
  {
    name: 'Halted, still running 10 s after the button, the guest agent answers: press again and ask the guest agent',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'running',
    memory: { stopRequestedAt: NOW - 10_000, guest: { connected: true } },
    actions: ['shutdown', 'shutdownAgent'],
  },
  {
    name: 'Halted, button and guest agent asked again 4 s ago: wait 6 s for the next try',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'running',
    memory: { stopRequestedAt: NOW - 24_000, shutdownAskedAt: NOW - 4_000, agentShutdownAt: NOW - 4_000, guest: { connected: true } },
    actions: [],
    requeue: 6_000,
  },
  {
    name: 'Halted, asked again 4 s before the grace period ends: wait for the power-off, not the next try',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'running',
    memory: { stopRequestedAt: NOW - (TIMEOUT - 2_000), shutdownAskedAt: NOW - 4_000 },
    actions: [],
    requeue: 2_000,
  },
  {
    name: 'Halted, guest ignored the shutdown past the timeout: force off',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'running',
    memory: { stopRequestedAt: NOW - TIMEOUT },
    actions: ['destroy'],
  },
  {
    name: 'Halted and paused: force off (a paused guest cannot take ACPI)',
    vm: { runStrategy: 'Halted', status: running },
    domain: 'paused',
    actions: ['destroy'],
  },
  { name: 'Halted and off: nothing', vm: { runStrategy: 'Halted', status: { phase: 'Stopped', domainUUID: 'x' } }, domain: 'defined', actions: [] },
  { name: 'spec.paused: suspend', vm: { paused: true, status: running }, domain: 'running', actions: ['suspend'] },
  { name: 'paused out of band, not wanted: resume', vm: { status: running }, domain: 'paused', actions: ['resume'] },
  { name: 'paused as wanted: nothing', vm: { paused: true, status: { phase: 'Paused', domainUUID: 'x' } }, domain: 'paused', actions: [] },
  { name: 'deleting, running: graceful shutdown', vm: { deleting: true, status: running }, domain: 'running', actions: ['shutdown'], requeue: TIMEOUT },
  { name: 'deleting with grace period 0: force off', vm: { deleting: true, grace: 0, status: running }, domain: 'running', actions: ['destroy'] },
  { name: 'deleting, off: undefine', vm: { deleting: true, status: running }, domain: 'destroyed', actions: ['undefine'] },
  {
    name: 'deleting, domain gone, volumes not observed: delete volumes, not done',
    vm: { deleting: true, status: running },
    domain: 'none',
    actions: ['deleteVolumes'],
    flags: { cleanupDone: false },
  },
  {
    name: 'deleting, domain gone, a volume left: delete volumes, not done (never Deleted before every step ran)',
    vm: { deleting: true, status: running },
    domain: 'none',
    volumes: { remaining: ['pool/web_root_1.qcow2'], missingPools: [] },
    actions: ['deleteVolumes'],
    flags: { cleanupDone: false },
  },
  {
    name: 'deleting, domain and volumes gone: cleanup done',
    vm: { deleting: true, status: running },
    domain: 'none',
    volumes: { remaining: [], missingPools: [] },
    actions: [],
    flags: { cleanupDone: true },
  },
  {
    name: 'deleting, the pool of a volume is not defined here: PoolNotFound, not done',
    vm: { deleting: true, status: running },
    domain: 'none',
    volumes: { remaining: [], missingPools: ['gone-pool'] },
    actions: [],
    flags: { cleanupDone: false },
    blocked: 'PoolNotFound',
  },
  {
    name: 'deleting, a pool missing and a volume left elsewhere: delete what can be, not done',
    vm: { deleting: true, status: running },
    domain: 'none',
    volumes: { remaining: ['pool/web_data_1.qcow2'], missingPools: ['gone-pool'] },
    actions: ['deleteVolumes'],
    flags: { cleanupDone: false },
    blocked: 'PoolNotFound',
  },
  {
    name: 'deleting while a foreign domain has the VM uuid: volumes kept, not done',
    vm: { deleting: true, status: running },
    domain: 'foreign',
    volumes: { remaining: ['pool/web_root_1.qcow2'], missingPools: [] },
    actions: [],
    flags: { cleanupDone: false, shouldDeleteVolumes: false },
    blocked: 'DomainConflict',
  },
  {
    name: 'new VM without the cleanup finalizer: nothing created, WaitingForFinalizer',
    vm: { noFinalizer: true, status: { phase: 'Scheduled' } },
    domain: 'none',
    actions: [],
    flags: { shouldCreate: false },
    blocked: 'WaitingForFinalizer',
  },
  {
    name: 'deleting without the cleanup finalizer: the deletion still runs',
    vm: { noFinalizer: true, deleting: true, status: running },
    domain: 'destroyed',
    actions: ['undefine'],
  },
  {
    name: 'domain vanished (had one): Lost, never re-created',
    vm: { status: running },
    domain: 'none',
    actions: [],
    flags: { domainLost: true },
    blocked: 'DomainMissing',
  },
  {
    name: 'Lost VM: nothing',
    vm: { status: { phase: 'Lost', domainUUID: 'x', lostReason: 'gone' } },
    domain: 'none',
    actions: [],
    flags: { domainLost: true },
  },
  {
    name: 'a domain with the VM uuid that Quantix did not define: untouched',
    vm: { status: { phase: 'Scheduled' } },
    domain: 'foreign',
    actions: [],
    blocked: 'DomainConflict',
  },
  {
    name: 'restart requested (qxctl vm restart), running: record it as in progress, then a graceful shutdown',
    vm: { restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'running',
    actions: ['beginRestart', 'shutdown'],
    flags: { restartRequested: true, shouldForceOff: false },
    requeue: TIMEOUT,
  },
  {
    name: 'restart in progress, the guest has not powered off within the grace period: force off',
    vm: { restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'running',
    memory: { restartInProgress: { asked: '2026-01-01T00:00:00Z', domainId: 1 }, stopRequestedAt: NOW - TIMEOUT },
    actions: ['destroy'],
  },
  {
    name: 'restart of a paused domain: force off at once (a paused guest cannot answer ACPI)',
    vm: { restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'paused',
    actions: ['beginRestart', 'destroy'],
  },
  {
    name: 'restart in progress (agent crashed after recording it), same domain instance: graceful shutdown again',
    vm: { restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'running',
    memory: { restartInProgress: { asked: '2026-01-01T00:00:00Z', domainId: 1 } },
    actions: ['shutdown'],
  },
  {
    name: 'restart in progress, the domain runs as a new instance (crash after the start): honoured, no second power-off',
    vm: { restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'running',
    memory: { restartInProgress: { asked: '2026-01-01T00:00:00Z', domainId: 999 } },
    actions: ['honourRestart'],
  },
  {
    name: 'restart in progress, domain off (crash after the force off): start',
    vm: { restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'destroyed',
    memory: { restartInProgress: { asked: '2026-01-01T00:00:00Z', domainId: 1 } },
    actions: ['ensureVolumes', 'define', 'start'],
  },
  {
    name: 'restart requested, now off: start again (counted)',
    vm: { runStrategy: 'Manual', restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'destroyed',
    actions: ['ensureVolumes', 'define', 'start'],
  },
  {
    name: 'restart request already honoured: nothing',
    vm: { restartAt: '2026-01-01T00:00:00Z', status: running },
    domain: 'running',
    memory: { honouredRestart: '2026-01-01T00:00:00.000Z' },
    actions: [],
  },
  {
    name: 'host-discovered VM: not managed',
    vm: { status: { origin: 'host-discovered', managed: false, phase: 'Running' } },
    domain: 'foreign',
    actions: [],
    managed: false,
  },
];

describe('decideVm', () => {
  it.each(rows)('$name', async (row) => {
    const vm = vmOf(row.vm);
    const domain = await domainFor(vm, row.domain);
    const memory = { ...newVmMemory(), ...row.memory };
    const d = decideVm({ vm, domain, volumes: row.volumes, memory, nowMs: NOW, shutdownTimeoutMs: TIMEOUT });
    expect(d.actions.map((a) => a.type)).toEqual(row.actions);
    expect(d.managed).toBe(row.managed ?? true);
    if (row.flags) expect(d.flags).toMatchObject(row.flags);
    if (row.blocked) expect(d.blocked?.reason).toBe(row.blocked);
    else if (!row.flags?.domainLost) expect(d.blocked).toBeUndefined();
    if (row.requeue !== undefined) expect(d.requeueAfterMs).toBe(row.requeue);
  });

  it('counts a restart only when the domain existed, and marks automatic Always restarts', async () => {
    const vm = vmOf({ status: running });
    const d = decideVm({ vm, domain: await domainFor(vm, 'destroyed'), memory: newVmMemory(), nowMs: NOW, shutdownTimeoutMs: TIMEOUT });
    expect(d.actions.at(-1)).toEqual({ type: 'start', countRestart: true, automatic: true, consumesRequest: undefined });
    const fresh = vmOf({ rv: '7', status: { phase: 'Scheduled' } });
    const created = decideVm({ vm: fresh, domain: undefined, memory: newVmMemory(), nowMs: NOW, shutdownTimeoutMs: TIMEOUT });
    expect(created.actions.at(-1)).toEqual({ type: 'start', countRestart: false, automatic: false, consumesRequest: '7' });
  });

  it('never redefines a running domain (agent restart: nothing to do)', async () => {
    for (const runStrategy of ['Always', 'Manual', 'RerunOnFailure']) {
      const vm = vmOf({ runStrategy, status: running });
      const d = decideVm({ vm, domain: await domainFor(vm, 'running'), memory: newVmMemory(), nowMs: NOW, shutdownTimeoutMs: TIMEOUT });
      expect(d.actions).toEqual([]);
    }
  });
});

describe('restartDelayMs', () => {
  it.each([
    { restarts: [], delay: 0 },
    { restarts: [NOW - 11 * 60_000], delay: 0 },
    { restarts: [NOW], delay: 5_000 },
    { restarts: [NOW - 60_000, NOW - 30_000, NOW], delay: 20_000 },
    { restarts: Array.from({ length: 12 }, (_, i) => NOW - i * 1000), delay: 300_000 },
  ])('$restarts.length recent restarts → $delay ms', ({ restarts, delay }) => {
    expect(restartDelayMs(restarts, NOW)).toBe(delay);
  });
});

describe('computeAgentStatus', () => {
  const statusOf = async (vmOver: Parameters<typeof vmOf>[0], setup: DomainSetup, memory: Partial<VmMemory> = {}, volumes?: VolumesObservation) => {
    const vm = vmOf(vmOver);
    const domain = await domainFor(vm, setup);
    const mem = { ...newVmMemory(), ...memory };
    const decision = decideVm({ vm, domain, volumes, memory: mem, nowMs: NOW, shutdownTimeoutMs: TIMEOUT });
    return { vm, status: computeAgentStatus(vm, domain, mem, decision, 'n1') };
  };

  it('running domain: Running, power state, domain identity, Synced', async () => {
    const { vm, status } = await statusOf({ status: running }, 'running');
    expect(status).toEqual({
      phase: 'Running',
      powerState: 'running',
      domainUUID: vm.metadata.uid,
      domainName: 'default_web',
      synced: { type: 'Synced', status: 'True', reason: 'Synced', message: 'domain matches the spec (runStrategy Always)' },
    });
  });

  it.each([
    { setup: 'crashed' as const, phase: 'Failed', power: 'shutoff' },
    { setup: 'guest-off' as const, phase: 'Stopped', power: 'shutoff' },
    { setup: 'destroyed' as const, phase: 'Stopped', power: 'shutoff' },
    { setup: 'paused' as const, phase: 'Paused', power: 'paused' },
  ])('$setup → $phase', async ({ setup, phase, power }) => {
    const { status } = await statusOf({ runStrategy: 'Manual', status: { phase: 'Running', domainUUID: 'x' } }, setup);
    expect(status.phase).toBe(phase);
    expect(status.powerState).toBe(power);
  });

  it('a graceful shutdown in progress is Stopping', async () => {
    const { status } = await statusOf({ runStrategy: 'Halted', status: running }, 'running', { stopRequestedAt: NOW - 1000 });
    expect(status.phase).toBe('Stopping');
  });

  it('cleanup done: Synced=True/Deleted and no domain fields', async () => {
    const { status } = await statusOf({ deleting: true, status: { ...running, powerState: 'running' } }, 'none', {}, { remaining: [], missingPools: [] });
    expect(status).toEqual({ synced: { type: 'Synced', status: 'True', reason: 'Deleted', message: 'domain and volumes removed from node n1' } });
  });

  it.each([
    { name: 'volumes not observed', volumes: undefined, reason: 'Deleting' },
    { name: 'a volume left', volumes: { remaining: ['pool/v.qcow2'], missingPools: [] }, reason: 'Deleting' },
    { name: 'a pool missing', volumes: { remaining: [], missingPools: ['gone-pool'] }, reason: 'PoolNotFound' },
  ])('domain gone but $name: Synced=False/$reason, never Deleted', async ({ volumes, reason }) => {
    const { status } = await statusOf({ deleting: true, status: running }, 'none', {}, volumes);
    expect(status.synced).toMatchObject({ status: 'False', reason });
    if (reason === 'PoolNotFound') expect(status.synced?.message).toMatch(/gone-pool/);
  });

  it('a define failure: Failed with the reason', async () => {
    const { status } = await statusOf({ status: { phase: 'Scheduled' } }, 'none', { lastError: { reason: 'DefineFailed', message: 'bad', phaseFailed: true } });
    expect(status).toEqual({ phase: 'Failed', synced: { type: 'Synced', status: 'False', reason: 'DefineFailed', message: 'bad' } });
  });

  it('a pool not ready yet: no phase (stays Scheduled), Synced=False', async () => {
    const { status } = await statusOf({ status: { phase: 'Scheduled' } }, 'none', {
      lastError: { reason: 'PoolNotReady', message: 'pool p is not running', phaseFailed: false },
    });
    expect(status).toEqual({ synced: { type: 'Synced', status: 'False', reason: 'PoolNotReady', message: 'pool p is not running' } });
  });

  it('lost: keeps the domain identity so the gateway can name it', async () => {
    const { status } = await statusOf({ status: { phase: 'Running', domainUUID: 'aaaaaaaa-0000-0000-0000-000000000000', domainName: 'default_web' } }, 'none');
    expect(status.domainUUID).toBe('aaaaaaaa-0000-0000-0000-000000000000');
    expect(status.phase).toBeUndefined();
    expect(status.synced?.reason).toBe('DomainMissing');
  });

  it('agentStatusDiffers: equal when the stored status says the same (conditions times ignored)', async () => {
    const { status } = await statusOf({ status: running }, 'running');
    const stored: VirtualMachineStatus = {
      ...status,
      origin: 'control-plane',
      managed: true,
      lastSeen: '2026-01-01T00:00:00Z',
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Running' },
        { type: 'Synced', status: 'True', reason: 'Synced', message: status.synced!.message, lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
    };
    delete (stored as Record<string, unknown>).synced;
    expect(agentStatusDiffers(status, stored)).toBe(false);
    expect(agentStatusDiffers({ ...status, phase: 'Stopped' }, stored)).toBe(true);
    expect(agentStatusDiffers({ synced: status.synced }, stored)).toBe(true); // powerState etc. would be cleared
  });
});

describe('resize: RestartRequired', () => {
  const resized = (vm: VirtualMachine, spec: Partial<VirtualMachine['spec']>): VirtualMachine => ({ ...vm, spec: { ...vm.spec, ...spec } });

  it.each<[string, Partial<VirtualMachine['spec']>, string[]]>([
    ['nothing changed', {}, []],
    ['more CPUs', { cpu: 2 }, ['spec.cpu']],
    ['more memory', { memory: '128Mi' }, ['spec.memory']],
    ['both', { cpu: 4, memory: '1Gi' }, ['spec.cpu', 'spec.memory']],
    ['the same memory written another way', { memory: '65536Ki' }, []],
  ])('running domain, %s', async (_name, spec, fields) => {
    const vm = vmOf({ status: running });
    const domain = await domainFor(vm, 'running');
    expect(restartRequiredFields(resized(vm, spec), domain)).toEqual(fields);
  });

  it.each<DomainSetup>(['none', 'destroyed', 'defined', 'foreign'])(
    'no condition for a domain that is not running ours (%s): the next start applies the spec',
    async (setup) => {
      const vm = vmOf({ status: running });
      expect(restartRequiredFields(resized(vm, { cpu: 2, memory: '1Gi' }), await domainFor(vm, setup))).toEqual([]);
    },
  );

  it('a paused domain counts as running; a VM being deleted gets none', async () => {
    const vm = vmOf({ status: running });
    expect(restartRequiredFields(resized(vm, { cpu: 2 }), await domainFor(vm, 'paused'))).toEqual(['spec.cpu']);
    const deleting = vmOf({ status: running, deleting: true });
    expect(restartRequiredFields(resized(deleting, { cpu: 2 }), await domainFor(deleting, 'running'))).toEqual([]);
  });

  it('the status carries the condition naming the fields; a restart (domain defined from the new spec) clears it', async () => {
    const vm = resized(vmOf({ status: running }), { cpu: 2, memory: '128Mi' });
    const domain = await domainFor(vm, 'running');
    const decision = decideVm({ vm, domain, memory: newVmMemory(), nowMs: NOW, shutdownTimeoutMs: TIMEOUT });
    expect(decision.actions).toEqual([]); // a running domain is never redefined
    const status = computeAgentStatus(vm, domain, newVmMemory(), decision, 'n1');
    expect(status.restartRequired).toEqual({
      type: 'RestartRequired',
      status: 'True',
      reason: 'SpecChanged',
      message: 'spec.cpu, spec.memory changed; restart to apply (qxctl vm restart web): running with 1 CPU and 64Mi memory, the spec asks for 2 CPUs and 128Mi',
    });
    const restarted: DomainInfo = { ...domain!, vcpus: 2, memoryBytes: 128 << 20 };
    expect(computeAgentStatus(vm, restarted, newVmMemory(), decision, 'n1').restartRequired).toBeUndefined();
  });

  it('a stored RestartRequired the report no longer has is a change (the agent reports, the gateway removes it)', async () => {
    const vm = vmOf({ status: running });
    const domain = await domainFor(vm, 'running');
    const status = computeAgentStatus(vm, domain, newVmMemory(), decideVm({ vm, domain, memory: newVmMemory(), nowMs: NOW, shutdownTimeoutMs: TIMEOUT }), 'n1');
    const stored: VirtualMachineStatus = {
      ...status,
      conditions: [
        { type: 'Synced', status: 'True', reason: 'Synced', message: status.synced!.message },
        { type: 'RestartRequired', status: 'True', reason: 'SpecChanged', message: 'spec.cpu changed' },
      ],
    };
    delete (stored as Record<string, unknown>).synced;
    expect(agentStatusDiffers(status, stored)).toBe(true);
    expect(agentStatusDiffers(status, { ...stored, conditions: stored.conditions!.slice(0, 1) })).toBe(false);
  });
});
