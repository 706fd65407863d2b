/** Object builders for the controllers' table-driven unit tests. */
import type {
  Condition,
  Network,
  NetworkHostStatus,
  Node,
  PoolHostHealth,
  StoragePool,
  VirtualMachine,
  VirtualMachineNetwork,
  VirtualMachinePhase,
} from '../../api-types/generated/types.js';

export const NOW = '2026-01-12T10:00:00.000Z';
export const NOW_MS = Date.parse(NOW);
export const GiB = 1024 ** 3;

export function node(
  name: string,
  o: {
    ready?: 'True' | 'False' | 'Unknown' | 'none';
    unschedulable?: boolean;
    labels?: Record<string, string>;
    cpu?: number;
    memGi?: number;
    heartbeat?: string;
    readyReason?: string;
    bridges?: string[];
    acceleration?: 'kvm' | 'tcg';
  } = {},
): Node {
  const ready = o.ready ?? 'True';
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, resourceVersion: '10', labels: o.labels },
    spec: { unschedulable: o.unschedulable ?? false },
    status: {
      conditions:
        ready === 'none' ? [] : [{ type: 'Ready', status: ready, reason: o.readyReason ?? (ready === 'True' ? 'AgentReady' : 'X'), lastTransitionTime: NOW }],
      allocatable: { cpu: o.cpu ?? 8, memoryBytes: (o.memGi ?? 16) * GiB },
      lastHeartbeatTime: o.heartbeat ?? NOW,
      ...(o.bridges ? { bridges: o.bridges } : {}),
      ...(o.acceleration ? { acceleration: o.acceleration } : {}),
    },
  };
}

export function pool(
  name: string,
  assigned: string[],
  hosts: Record<
    string,
    PoolHostHealth | { health: PoolHostHealth; totalBytes?: number; usedBytes?: number; availableBytes?: number; message?: string; lastReported?: string }
  > = {},
  type: 'dir' | 'nfs' = 'dir',
): StoragePool {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name, uid: `uid-${name}`, resourceVersion: '20', generation: 1 },
    spec:
      type === 'dir'
        ? { type, dir: { path: `/var/lib/quantix/${name}` }, assignedNodes: assigned }
        : { type, nfs: { server: 'nfs.example', exportPath: `/export/${name}` }, assignedNodes: assigned },
    status: { hosts: Object.fromEntries(Object.entries(hosts).map(([n, h]) => [n, typeof h === 'string' ? { health: h } : h])) },
  };
}

/** A Network; a host given as a boolean is `{defined: true, active}`. */
export function network(name: string, assigned: string[], hosts: Record<string, boolean | NetworkHostStatus> = {}): Network {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Network',
    metadata: { name, uid: `uid-${name}`, resourceVersion: '40', generation: 1 },
    spec: { mode: 'isolated', ipv4: { address: '10.213.7.1', prefix: 24 }, assignedNodes: assigned },
    status: { hosts: Object.fromEntries(Object.entries(hosts).map(([n, h]) => [n, typeof h === 'boolean' ? { defined: true, active: h } : h])) },
  };
}

export function vm(
  name: string,
  o: {
    cpu?: number;
    memory?: string;
    pools?: string[];
    nodeName?: string;
    selector?: Record<string, string>;
    phase?: VirtualMachinePhase;
    conditions?: Condition[];
    deleting?: boolean;
    finalizers?: string[];
    annotations?: Record<string, string>;
    runStrategy?: VirtualMachine['spec']['runStrategy'];
    generation?: number;
    status?: VirtualMachine['status'];
    networks?: VirtualMachineNetwork[];
  } = {},
): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      resourceVersion: '30',
      generation: o.generation ?? 1,
      finalizers: o.finalizers,
      annotations: o.annotations,
      deletionTimestamp: o.deleting ? NOW : undefined,
    },
    spec: {
      runStrategy: o.runStrategy ?? 'Always',
      cpu: o.cpu ?? 1,
      memory: o.memory ?? '1Gi',
      disks: (o.pools ?? ['fast']).map((p, i) => ({ name: `d${i}`, storagePool: p, size: '10Gi' })),
      nodeName: o.nodeName,
      nodeSelector: o.selector,
      ...(o.networks ? { networks: o.networks } : {}),
    },
    status: o.status ?? (o.phase || o.conditions ? { phase: o.phase, conditions: o.conditions } : undefined),
  };
}
