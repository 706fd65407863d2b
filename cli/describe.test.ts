import type { Lease, Event, Node, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { describeGeneric, describeNode, describePool, describeVm, Doc } from './describe.js';

const now = new Date('2026-01-01T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();

const event = (reason: string, message: string, secondsAgo: number, extra: Partial<Event> = {}): Event => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: `e-${reason}`, namespace: 'default' },
  involvedObject: { kind: 'VirtualMachine', name: 'web' },
  reason,
  message,
  type: 'Normal',
  lastTimestamp: ago(secondsAgo),
  firstTimestamp: ago(secondsAgo),
  source: { component: 'quantix-scheduler' },
  ...extra,
});

describe('Doc', () => {
  it('aligns runs of key/value lines per indent and renders tables under sections', () => {
    const doc = new Doc()
      .kv('Name', 'web')
      .kv('Namespace', 'default')
      .section('Spec')
      .kv('CPU', 2, 2)
      .kv('Run Strategy', 'Always', 2)
      .map('Labels', { b: '2', a: '1' });
    doc.section('Disks').table(['Name', 'Size'], [['root', '1Gi']]);
    expect(doc.render()).toBe(
      [
        'Name:       web',
        'Namespace:  default',
        'Spec:',
        '  CPU:           2',
        '  Run Strategy:  Always',
        'Labels:  a=1',
        '         b=2',
        'Disks:',
        '  Name   Size',
        '  ----   ----',
        '  root   1Gi',
      ].join('\n'),
    );
  });
});

describe('describeVm', () => {
  const vm: VirtualMachine = {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: 'u1',
      generation: 3,
      creationTimestamp: ago(3600),
      labels: { app: 'web' },
      finalizers: ['quantix.io/vm-cleanup'],
    },
    spec: {
      memory: '1Gi',
      cpu: 2,
      runStrategy: 'Always',
      disks: [{ name: 'root', storagePool: 'local', size: '10Gi', bootOrder: 1 }],
      networks: [{ name: 'nic0' }],
    },
    status: {
      phase: 'Running',
      powerState: 'running',
      nodeName: 'n1',
      origin: 'control-plane',
      managed: true,
      observedGeneration: 3,
      interfaces: [{ name: 'nic0', macAddress: '52:54:00:00:00:01', ipAddress: '10.0.0.5' }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'Running', message: 'running on node n1', lastTransitionTime: ago(60) }],
    },
  };

  it('shows spec, status, conditions and events (oldest first, with repeat counts)', () => {
    const text = describeVm(
      vm,
      [event('Started', 'VM running on node n1', 60, { count: 3, firstTimestamp: ago(600) }), event('Scheduled', 'assigned to n1', 120)],
      now,
    );
    expect(text).toContain('Name:         web');
    expect(text).toContain('Labels:       app=web');
    expect(text).toMatch(/Created:\s+2026-01-01T11:00:00.000Z \(60m ago\)/);
    expect(text).toContain('Finalizers:   quantix.io/vm-cleanup');
    expect(text).toMatch(/Run Strategy:\s+Always/);
    expect(text).toMatch(/Memory:\s+1Gi/);
    expect(text).toMatch(/root\s+local\s+10Gi\s+virtio\s+1/);
    expect(text).toMatch(/nic0\s+user\s+virtio/);
    expect(text).toMatch(/Phase:\s+Running/);
    expect(text).toMatch(/Observed Generation:\s+3 \(spec generation 3\)/);
    expect(text).toMatch(/nic0\s+52:54:00:00:00:01\s+10.0.0.5/);
    expect(text).toMatch(/Ready\s+True\s+Running\s+60s\s+running on node n1/);
    const events = text.slice(text.indexOf('Events:'));
    expect(events.indexOf('Scheduled')).toBeLessThan(events.indexOf('Started'));
    expect(events).toMatch(/Normal\s+Started\s+60s \(x3 over 10m\)\s+quantix-scheduler\s+VM running on node n1/);
  });

  it('says from which fenced node, when and how often the VM was recovered; nothing when it never was', () => {
    const recovered = describeVm({ ...vm, status: { ...vm.status, recovery: { recoveredFrom: 'n9', count: 1, lastRecoveryTime: ago(300) } } }, [], now);
    expect(recovered).toMatch(/Recovered:\s+from n9 at \S+ \(5m ago\) \(1 time\)/);
    expect(describeVm(vm, [], now)).not.toContain('Recovered:');
  });

  it('says <none> / <unavailable> when there is nothing to show', () => {
    const bare = describeVm({ ...vm, status: undefined }, [], now);
    expect(bare).toMatch(/Phase:\s+<unset>/);
    expect(bare).toContain('Conditions:\n  <none>');
    expect(bare).toContain('Events:  <none>');
    expect(describeVm(vm, undefined, now)).toContain('Events:  <unavailable>');
  });
});

describe('describePool', () => {
  it('has a per-host table including assigned nodes that never reported', () => {
    const pool: StoragePool = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'shared', creationTimestamp: ago(60) },
      spec: { type: 'nfs', nfs: { server: '192.0.2.10', exportPath: '/export/vms' }, assignedNodes: ['n1', 'n2', 'n3'] },
      status: {
        phase: 'Degraded',
        capacity: { totalBytes: 100 * 2 ** 30, usedBytes: 25 * 2 ** 30, availableBytes: 75 * 2 ** 30 },
        hosts: {
          n1: {
            health: 'HEALTHY',
            totalBytes: 100 * 2 ** 30,
            usedBytes: 25 * 2 ** 30,
            availableBytes: 75 * 2 ** 30,
            volumeCount: 4,
            mountPath: '/mnt/shared',
            lastReported: ago(5),
          },
          n2: { health: 'UNMOUNTED', message: 'mount.nfs: Connection refused', lastReported: ago(7) },
        },
      },
    };
    const text = describePool(pool, [], now);
    expect(text).toMatch(/NFS Server:\s+192.0.2.10/);
    expect(text).toMatch(/Assigned Nodes:\s+n1, n2, n3/);
    expect(text).toMatch(/Capacity:\s+25Gi used of 100Gi \(25%\), 75Gi available/);
    expect(text).toMatch(/n1\s+HEALTHY\s+25Gi\s+100Gi\s+75Gi\s+4\s+\/mnt\/shared\s+5s ago/);
    expect(text).toMatch(/n2\s+UNMOUNTED\s+.*7s ago\s+mount.nfs: Connection refused/);
    expect(text).toMatch(/n3\s+NOT REPORTED\s+no report from this node yet/);
  });
});

describe('describeNode', () => {
  it('shows capacity, allocation against allocatable, and the VMs on the node', () => {
    const node: Node = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Node',
      metadata: { name: 'n1', creationTimestamp: ago(100) },
      spec: { unschedulable: true },
      status: {
        capacity: { cpu: 16, memoryBytes: 64 * 2 ** 30 },
        allocatable: { cpu: 16, memoryBytes: 64 * 2 ** 30 },
        allocated: { cpu: 4, memoryBytes: 16 * 2 ** 30, vmCount: 2 },
        addresses: [{ type: 'InternalIP', address: '192.0.2.1' }],
        nodeInfo: { hypervisor: 'kvm', hypervisorVersion: '8.2.0', libvirtVersion: '9.0.0' },
        conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastTransitionTime: ago(30) }],
      },
    };
    const vms = [
      {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name: 'web', namespace: 'prod', creationTimestamp: ago(50) },
        spec: { memory: '8Gi', cpu: 2 },
        status: { phase: 'Running' },
      },
    ] as VirtualMachine[];
    const text = describeNode(node, vms, undefined, now);
    expect(text).toMatch(/Unschedulable:\s+true/);
    expect(text).toMatch(/Fenced:\s+false/);
    const fenced = describeNode(
      { ...node, spec: { ...node.spec, fenced: true }, status: { ...node.status, selfFencing: { enabled: true, timeoutSeconds: 30 } } },
      vms,
      undefined,
      now,
    );
    expect(fenced).toMatch(/Fenced:\s+true \(an admin declared the host down/);
    expect(fenced).toMatch(/Self-Fencing:\s+on, after 30s without a heartbeat/);
    expect(text).toMatch(/InternalIP:\s+192.0.2.1/);
    expect(text).toMatch(/Hypervisor:\s+kvm 8.2.0/);
    expect(text).toMatch(/Allocated:\n\s+CPU:\s+4 of 16 \(25%\)\n\s+Memory:\s+16Gi of 64Gi \(25%\)\n\s+VMs:\s+2/);
    expect(text).toMatch(/prod\s+web\s+Running\s+2\s+8Gi\s+50s/);
    expect(text).toContain('Events:  <unavailable>');
  });

  it('shows the node Lease (holder, renew times) and, as last heartbeat, the latest time the Leases and status state', () => {
    const node = { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, status: { lastHeartbeatTime: ago(200) } } as Node;
    const lease = (holderIdentity: string, renewTime: string, acquireTime?: string) =>
      ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1' }, spec: { holderIdentity, renewTime, acquireTime } }) as Lease;
    const held = describeNode(node, [], [], now, { lease: lease('gateway/r1', ago(120), ago(120)), holder: lease('gateway/r1', ago(4)) });
    expect(held).toContain(`Last Heartbeat:  ${ago(4).replace('.000Z', 'Z')} (4s ago)`);
    expect(held).toMatch(
      /Lease:\n\s+Holder Identity:\s+gateway\/r1\n\s+Acquire Time:\s+\S+ \(2m ago\)\n\s+Renew Time:\s+\S+ \(2m ago\)\n\s+Holder Renewed:\s+\S+ \(4s ago\)/,
    );
    // Released: the replica's renewals no longer count; the Lease's renewTime is the last heartbeat.
    const released = describeNode(node, [], [], now, { lease: lease('', ago(60)), holder: lease('gateway/r1', ago(4)) });
    expect(released).toContain(`Last Heartbeat:  ${ago(60).replace('.000Z', 'Z')} (60s ago)`);
    expect(released).toMatch(/Holder Identity:\s+<none: released, the agent stopped heartbeating>/);
    expect(released).not.toContain('Holder Renewed');
    // No Lease (hollow nodes, or not readable): status alone, no Lease section.
    const statusOnly = describeNode(node, [], [], now);
    expect(statusOnly).toContain(`Last Heartbeat:  ${ago(200).replace('.000Z', 'Z')}`);
    expect(statusOnly).not.toContain('Lease:');
  });

  it('sums the VMs when the controllers have not written an allocation', () => {
    const node = { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, status: { allocatable: { cpu: 8 } } } as Node;
    const vms = [
      { metadata: { name: 'a' }, spec: { memory: '1Gi', cpu: 2 } },
      { metadata: { name: 'b' }, spec: { memory: '512Mi' } },
    ] as VirtualMachine[];
    expect(describeNode(node, vms, [], now)).toMatch(/CPU:\s+3 of 8 \(38%\)\n\s+Memory:\s+1.5Gi/);
  });
});

describe('describeGeneric', () => {
  it('prints metadata then the rest as YAML, without managedFields', () => {
    const text = describeGeneric(
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e1', namespace: 'default', managedFields: [] }, reason: 'Started', count: 2 },
      undefined,
      true,
      now,
    );
    expect(text).toMatch(/^Name:\s+e1\nNamespace:\s+default/);
    expect(text).toContain('reason: Started\ncount: 2');
    expect(text).not.toContain('managedFields');
  });
});
