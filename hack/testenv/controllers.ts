/**
 * Test environment for the controllers: an admin API client, object builders, and
 * `SimulatedNodeAgents` — a stand-in for quantix-agent that only writes what the real
 * agent reports through the gateway (Node heartbeats, per-host pool status, a "full
 * sync" of VM phases). It exists until the agent's `sim` driver can run hollow agents
 * in tests; swap it for those then. It never touches spec.
 */
import type { Network, Node, PoolHostHealth, StoragePool, VirtualMachine, VirtualMachineNetwork } from '../../api-types/generated/types.js';
import { HttpApiClient } from '../../controllers/runtime/client.js';
import { Networks, Nodes, StoragePools, VirtualMachines } from '../../controllers/runtime/resources.js';

export const GiB = 1024 ** 3;

export function adminClient(kubeconfig: string): Promise<HttpApiClient> {
  return HttpApiClient.fromFile(kubeconfig, { userAgent: 'controllers-test' });
}

export function vmObject(
  name: string,
  o: {
    memory?: string;
    cpu?: number;
    pools?: string[];
    nodeName?: string;
    namespace?: string;
    runStrategy?: VirtualMachine['spec']['runStrategy'];
    networks?: VirtualMachineNetwork[];
  } = {},
): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: o.namespace ?? 'default' },
    spec: {
      memory: o.memory ?? '512Mi',
      cpu: o.cpu ?? 1,
      disks: (o.pools ?? ['fast']).map((p, i) => ({ name: `disk${i}`, storagePool: p, size: '1Gi' })),
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      ...(o.runStrategy ? { runStrategy: o.runStrategy } : {}),
      ...(o.networks ? { networks: o.networks } : {}),
    },
  };
}

export function networkObject(name: string, assignedNodes: string[], subnet = '10.213.7'): Network {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Network',
    metadata: { name },
    spec: { mode: 'isolated', ipv4: { address: `${subnet}.1`, prefix: 24, dhcpStart: `${subnet}.10`, dhcpEnd: `${subnet}.99` }, assignedNodes },
  };
}

export function poolObject(name: string, assignedNodes: string[], type: 'dir' | 'nfs' = 'dir'): StoragePool {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name },
    spec:
      type === 'dir'
        ? { type, dir: { path: `/var/lib/quantix/pools/${name}` }, assignedNodes }
        : { type, nfs: { server: '192.0.2.10', exportPath: `/export/${name}` }, assignedNodes },
  };
}

export interface SimulatedNode {
  name: string;
  cpu: number;
  memoryBytes: number;
  labels?: Record<string, string>;
  /** Pool health this node reports, by pool name. */
  pools: Record<string, { health: PoolHostHealth; totalBytes?: number; usedBytes?: number; message?: string }>;
  /** Network state this node reports, by Network name. */
  networks: Record<string, { active: boolean; message?: string }>;
  /** Linux bridges on the host (Node.status.bridges). */
  bridges: string[];
  heartbeating: boolean;
}

/**
 * Hollow node agents for controller tests: register Nodes and heartbeat them (Node
 * status + the pools they report) every `intervalMs`, through the admin API.
 */
export class SimulatedNodeAgents {
  readonly nodes = new Map<string, SimulatedNode>();
  #timer?: NodeJS.Timeout;
  #ticking?: Promise<void>;

  constructor(
    readonly client: HttpApiClient,
    readonly intervalMs = 500,
  ) {}

  /** Registers a node (create + first heartbeat). */
  async register(
    name: string,
    o: {
      cpu?: number;
      memGi?: number;
      labels?: Record<string, string>;
      pools?: SimulatedNode['pools'];
      networks?: SimulatedNode['networks'];
      bridges?: string[];
    } = {},
  ): Promise<void> {
    const n: SimulatedNode = {
      name,
      cpu: o.cpu ?? 16,
      memoryBytes: (o.memGi ?? 64) * GiB,
      labels: o.labels,
      pools: o.pools ?? {},
      networks: o.networks ?? {},
      bridges: o.bridges ?? [],
      heartbeating: true,
    };
    this.nodes.set(name, n);
    await this.client.create<Node>(Nodes, { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name, labels: o.labels }, spec: {} });
    await this.heartbeat(name);
  }

  /** One heartbeat: Node status (Ready, lastHeartbeatTime, capacity, bridges) and the node's pool and network entries. */
  async heartbeat(name: string): Promise<void> {
    const n = this.nodes.get(name)!;
    const now = new Date().toISOString();
    await this.client.patch(
      Nodes,
      undefined,
      name,
      {
        status: {
          lastHeartbeatTime: now,
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'AgentReady',
              message: 'quantix-agent is posting ready status',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
          capacity: { cpu: n.cpu, memoryBytes: n.memoryBytes },
          allocatable: { cpu: n.cpu, memoryBytes: n.memoryBytes },
          addresses: [{ type: 'InternalIP', address: '192.0.2.1' }],
          nodeInfo: { hypervisor: 'sim', agentVersion: 'test' },
          bridges: n.bridges.length > 0 ? n.bridges : null,
        },
      },
      { subresource: 'status' },
    );
    for (const [pool, h] of Object.entries(n.pools)) {
      const total = h.totalBytes ?? 100 * GiB;
      const used = h.usedBytes ?? 10 * GiB;
      await this.client.patch(
        StoragePools,
        undefined,
        pool,
        {
          status: {
            hosts: {
              [name]: {
                health: h.health,
                totalBytes: total,
                usedBytes: used,
                availableBytes: total - used,
                mountPath: `/var/lib/quantix/pools/${pool}`,
                volumeCount: 0,
                lastReported: now,
                ...(h.message ? { message: h.message } : { message: null }),
              },
            },
          },
        },
        { subresource: 'status' },
      );
    }
    for (const [net, h] of Object.entries(n.networks)) {
      await this.client.patch(
        Networks,
        undefined,
        net,
        {
          status: {
            hosts: {
              [name]: {
                defined: true,
                active: h.active,
                bridgeName: h.active ? `qx-${net}`.slice(0, 15) : null,
                lastReported: now,
                message: h.message ?? null,
              },
            },
          },
        },
        { subresource: 'status' },
      );
    }
  }

  /** Heartbeats every registered, heartbeating node every `intervalMs` until stopped. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#ticking) return;
      this.#ticking = Promise.all([...this.nodes.values()].filter((n) => n.heartbeating).map((n) => this.heartbeat(n.name).catch(() => undefined)))
        .then(() => undefined)
        .finally(() => (this.#ticking = undefined));
    }, this.intervalMs);
  }

  /** The agent on `name` goes silent (or comes back). */
  setHeartbeating(name: string, on: boolean): void {
    this.nodes.get(name)!.heartbeating = on;
  }

  setNetworkState(node: string, network: string, active: boolean, message?: string): void {
    this.nodes.get(node)!.networks[network] = { active, message };
  }

  setBridges(node: string, bridges: string[]): void {
    this.nodes.get(node)!.bridges = bridges;
  }

  setPoolHealth(node: string, pool: string, health: PoolHostHealth, message?: string): void {
    const n = this.nodes.get(node)!;
    n.pools[pool] = { ...n.pools[pool], health, message };
  }

  /** What the gateway does on the agent's full sync: VMs on the node get their observed phase back. */
  async fullSync(
    name: string,
    phase: VirtualMachine['status'] extends infer S ? (S extends { phase?: infer P } ? P : never) : never = 'Running',
  ): Promise<void> {
    const { items } = await this.client.list<VirtualMachine>(VirtualMachines, { fieldSelector: `spec.nodeName=${name}` });
    for (const vm of items) {
      await this.client.patch(
        VirtualMachines,
        vm.metadata.namespace,
        vm.metadata.name!,
        { status: { phase, powerState: 'running', nodeName: name, lastSeen: new Date().toISOString() } },
        { subresource: 'status' },
      );
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }
}
