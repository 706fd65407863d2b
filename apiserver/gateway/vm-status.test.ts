/** What the gateway writes into VM and pool status (pure functions). */
import type { StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { agentStatusToWire } from '../../api-types/proto/agent-status.js';
import type { AgentStatus } from '../../api-types/proto/contract.js';
import type { PoolStatus, VMReport } from '../../api-types/proto/types.js';
import { poolStatusWithReport } from './pool-status.js';
import { nodeAddresses } from './node-status.js';
import { nodeNameFor } from './registration.js';
import { discoveredNames, discoveredVm, isGarbage, lostStatus, mergeAgentReport, sanitizeName, terminatedStatus, updateDiscovered } from './vm-status.js';
import { NO_CHANGE } from './writes.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const UID = '6f1c2a8e-0000-4000-8000-000000000001';

function vm(status?: VirtualMachine['status'], extra: Partial<VirtualMachine['metadata']> = {}): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'web', namespace: 'default', uid: UID, ...extra },
    spec: { memory: '64Mi', nodeName: 'n1' },
    status,
  };
}

function report(over: Partial<VMReport> = {}, status?: object): VMReport {
  return {
    domainUuid: UID,
    domainName: 'default_web',
    ownerNamespace: 'default',
    ownerName: 'web',
    ownerUid: UID,
    powerState: 'running',
    stateReason: 'booted',
    vcpus: 1,
    memoryBytes: 64 << 20,
    persistent: true,
    status: status ? agentStatusToWire(status as AgentStatus) : null,
    ...over,
  };
}

describe('mergeAgentReport', () => {
  const agent = {
    phase: 'Running',
    powerState: 'running',
    domainUUID: UID,
    domainName: 'default_web',
    synced: { type: 'Synced', status: 'True', reason: 'Synced', message: 'ok' },
  };

  it('writes the agent fields, defaults origin/managed, sets nodeName and lastSeen, keeps other conditions', () => {
    const s = mergeAgentReport(vm({ phase: 'Scheduled', conditions: [{ type: 'Ready', status: 'False', reason: 'Scheduled' }] }), report({}, agent), 'n1', NOW);
    expect(s).not.toBe(NO_CHANGE);
    expect(s).toMatchObject({
      phase: 'Running',
      powerState: 'running',
      domainUUID: UID,
      origin: 'control-plane',
      managed: true,
      nodeName: 'n1',
      lastSeen: '2026-03-01T12:00:00Z',
      conditions: [
        { type: 'Ready', status: 'False' },
        { type: 'Synced', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: '2026-03-01T12:00:00Z' },
      ],
    });
  });

  it('RestartRequired: set while the report carries it, removed by a report without it', () => {
    const restartRequired = { type: 'RestartRequired', status: 'True', reason: 'SpecChanged', message: 'spec.cpu changed; restart to apply' };
    const set = mergeAgentReport(vm({ phase: 'Running' }), report({}, { ...agent, restartRequired }), 'n1', NOW);
    expect(set).not.toBe(NO_CHANGE);
    const conditions = (set as NonNullable<VirtualMachine['status']>).conditions;
    expect(conditions?.find((c) => c.type === 'RestartRequired')).toEqual({ ...restartRequired, lastTransitionTime: '2026-03-01T12:00:00Z' });
    const cleared = mergeAgentReport(vm(set as VirtualMachine['status']), report({}, agent), 'n1', NOW);
    expect(cleared).not.toBe(NO_CHANGE);
    expect((cleared as NonNullable<VirtualMachine['status']>).conditions?.map((c) => c.type)).toEqual(['Synced']);
  });

  it('never overwrites origin or managed (race protection)', () => {
    const s = mergeAgentReport(vm({ origin: 'imported', managed: true }), report({}, agent), 'n1', NOW);
    expect(s).toMatchObject({ origin: 'imported', managed: true });
  });

  it('writes nothing when nothing changed and lastSeen is fresh; refreshes a stale lastSeen', () => {
    const first = mergeAgentReport(vm(), report({}, agent), 'n1', NOW) as VirtualMachine['status'];
    expect(mergeAgentReport(vm(first), report({}, agent), 'n1', new Date(NOW.getTime() + 5_000))).toBe(NO_CHANGE);
    const later = mergeAgentReport(vm(first), report({}, agent), 'n1', new Date(NOW.getTime() + 31_000));
    expect(later).toMatchObject({ lastSeen: '2026-03-01T12:00:31Z' });
  });

  it('refuses phases the agent does not own', () => {
    expect(() => mergeAgentReport(vm(), report({}, { ...agent, phase: 'Lost' }), 'n1', NOW)).toThrow(/may not set phase "Lost"/);
  });

  it('a present domain ends Lost', () => {
    const s = mergeAgentReport(
      vm({ phase: 'Lost', lostReason: 'gone', lostAt: '2026-01-01T00:00:00Z', domainUUID: UID }),
      report({}, { ...agent, phase: undefined }),
      'n1',
      NOW,
    );
    expect(s).toMatchObject({ phase: 'Running' });
    expect(s).not.toHaveProperty('lostReason');
  });

  it('cleanup done: drops the domain fields, Synced=True/Deleted', () => {
    const s = mergeAgentReport(
      vm({ phase: 'Running', powerState: 'running', domainUUID: UID }),
      report({ powerState: '' }, { synced: { type: 'Synced', status: 'True', reason: 'Deleted', message: 'gone' } }),
      'n1',
      NOW,
    );
    expect(s).not.toHaveProperty('domainUUID');
    expect(s).not.toHaveProperty('powerState');
    expect(s).toMatchObject({ phase: 'Running', conditions: [{ type: 'Synced', reason: 'Deleted' }] });
  });
});

describe('lostStatus', () => {
  it('a managed VM whose domain vanished: Lost with reason and time', () => {
    const s = lostStatus(vm({ phase: 'Running', powerState: 'running', domainUUID: UID, domainName: 'default_web' }), 'n1', NOW);
    expect(s).toMatchObject({
      phase: 'Lost',
      lostAt: '2026-03-01T12:00:00Z',
      lostReason: expect.stringContaining(`domain ${UID} (default_web) is no longer defined on node n1`),
    });
    expect(s).not.toHaveProperty('powerState');
  });
  it.each([
    ['never had a domain', vm({ phase: 'Scheduled' })],
    ['already Lost', vm({ phase: 'Lost', domainUUID: UID })],
    ['being deleted', vm({ phase: 'Running', domainUUID: UID }, { deletionTimestamp: '2026-01-01T00:00:00Z' })],
    ['unmanaged', vm({ phase: 'Running', domainUUID: UID, origin: 'host-discovered', managed: false })],
    ['its domain was last seen on another node (the VM was re-pinned)', vm({ phase: 'Running', domainUUID: UID, nodeName: 'n0' })],
  ])('no change when %s', (_name, v) => {
    expect(lostStatus(v, 'n1', NOW)).toBe(NO_CHANGE);
  });
});

describe('host-discovered VMs', () => {
  const foreign = report({ ownerNamespace: '', ownerName: '', ownerUid: '', domainName: 'Legacy_DB.01', memoryBytes: 2 * 1024 ** 3, vcpus: 2 });

  it('a domain Quantix did not define becomes an unmanaged VM; spec only describes it', () => {
    const v = discoveredVm(foreign, 'legacy-db-01', 'default', 'n1', NOW);
    expect(v.metadata.labels).toEqual({ 'quantix.io/discovered-on': 'n1', 'quantix.io/domain-uuid': UID });
    expect(v.spec).toEqual({ runStrategy: 'Manual', cpu: 2, memory: '2Gi', nodeName: 'n1' });
    expect(v.status).toMatchObject({ phase: 'Running', origin: 'host-discovered', managed: false, domainName: 'Legacy_DB.01', nodeName: 'n1' });
  });

  it('names: the sanitized domain name, then with the UUID prefix', () => {
    expect(sanitizeName('Legacy_DB.01')).toBe('legacy-db-01');
    expect(discoveredNames(foreign)).toEqual(['legacy-db-01', 'legacy-db-01-6f1c2a8e']);
  });

  it('state changes update it; disappearance terminates it; GC after the retention', () => {
    const v = discoveredVm(foreign, 'legacy-db-01', 'default', 'n1', NOW);
    const stopped = updateDiscovered(v, { ...foreign, powerState: 'shutoff', stateReason: 'destroyed' }, 'n1', NOW);
    expect(stopped).toMatchObject({ phase: 'Stopped', powerState: 'shutoff', origin: 'host-discovered', managed: false });
    const t = terminatedStatus(v, NOW);
    expect(t).toMatchObject({ phase: 'Terminated', terminatedAt: '2026-03-01T12:00:00Z' });
    const gone = { ...v, status: t as VirtualMachine['status'] };
    expect(isGarbage(gone, new Date(NOW.getTime() + 3600_000), 24 * 3600_000)).toBe(false);
    expect(isGarbage(gone, new Date(NOW.getTime() + 24 * 3600_000), 24 * 3600_000)).toBe(true);
    expect(terminatedStatus(vm({ phase: 'Running' }), NOW)).toBe(NO_CHANGE); // managed VMs are never Terminated
  });
});

describe('pool host entries', () => {
  const pool: StoragePool = {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name: 'p' },
    spec: { type: 'dir', dir: { path: '/p' }, assignedNodes: ['n1', 'n2'] },
  };
  const rep = (over: Partial<PoolStatus> = {}): PoolStatus => ({
    name: 'p',
    health: 'HEALTHY',
    totalBytes: 1000,
    usedBytes: 100,
    availableBytes: 900,
    mountPath: '/p',
    volumeCount: 2,
    message: '',
    removed: false,
    ...over,
  });

  it("writes this node's entry only, skips capacity drift, drops it on removal", () => {
    const s1 = poolStatusWithReport(pool, 'n1', rep(), NOW);
    expect(s1).toEqual({
      hosts: {
        n1: { health: 'HEALTHY', totalBytes: 1000, usedBytes: 100, availableBytes: 900, mountPath: '/p', volumeCount: 2, lastReported: '2026-03-01T12:00:00Z' },
      },
    });
    const withEntry = { ...pool, status: s1 as StoragePool['status'] };
    expect(poolStatusWithReport(withEntry, 'n1', rep({ availableBytes: 899 }), NOW)).toBe(NO_CHANGE);
    expect(poolStatusWithReport(withEntry, 'n1', rep({ health: 'UNMOUNTED', message: 'mount failed' }), NOW)).toMatchObject({
      hosts: { n1: { health: 'UNMOUNTED', message: 'mount failed' } },
    });
    expect(poolStatusWithReport(withEntry, 'n1', rep({ removed: true }), NOW)).toEqual({ hosts: {} });
  });
});

describe('registration helpers', () => {
  it('node names are lower-cased hostnames; invalid ones refused', () => {
    expect(nodeNameFor('Host-01.Example.com.')).toBe('host-01.example.com');
    expect(() => nodeNameFor('bad_host')).toThrow(/DNS-1123/);
  });
  it('management addresses never carry a port', () => {
    expect(nodeAddresses(['10.0.0.5:9090', '[fd00::5]:22', 'fd00::6'], undefined, 'h')).toEqual([
      { type: 'InternalIP', address: '10.0.0.5' },
      { type: 'InternalIP', address: 'fd00::5' },
      { type: 'InternalIP', address: 'fd00::6' },
      { type: 'Hostname', address: 'h' },
    ]);
    expect(nodeAddresses([], 'ipv4:192.168.0.53:51234', 'h')[0]).toEqual({ type: 'InternalIP', address: '192.168.0.53' });
  });
});
