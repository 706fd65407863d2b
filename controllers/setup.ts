/**
 * The controllers quantix-controller-manager runs, and a function that starts a manager
 * against a kubeconfig (used by main.ts, the integration tests and the benchmark).
 */
import { hostname } from 'node:os';
import { createLogger, type Logger } from '../lib/logging/logger.js';
import { ApiError } from '../lib/apimachinery/status-error.js';
import { hostJoinController, type HostJoinControllerOptions } from './hostjoin/hostjoin_controller.js';
import { snapshotController, type SnapshotControllerOptions } from './snapshot/snapshot_controller.js';
import { imageController, type ImageControllerOptions } from './image/image_controller.js';
import { networkController, type NetworkControllerOptions } from './network/network_controller.js';
import { nodeLifecycleController, type NodeLifecycleOptions } from './nodelifecycle/nodelifecycle_controller.js';
import { HttpApiClient } from './runtime/client.js';
import type { LeaderElectionTiming } from './runtime/leaderelection.js';
import { ControllerManager, type ControllerSetup } from './runtime/manager.js';
import type { ControllerManagerMetrics } from './runtime/metrics.js';
import { nodeAllocationController, type NodeAllocationOptions } from './scheduler/nodeallocation_controller.js';
import { schedulerController, type SchedulerOptions } from './scheduler/scheduler_controller.js';
import { storagePoolController, type StoragePoolControllerOptions } from './storagepool/storagepool_controller.js';
import { vmController, type VmControllerOptions } from './vm/vm_controller.js';

export const CONTROLLER_NAMES = ['scheduler', 'nodeallocation', 'vm', 'storagepool', 'image', 'network', 'nodelifecycle', 'hostjoin', 'snapshot'] as const;
export type ControllerName = (typeof CONTROLLER_NAMES)[number];

export interface ControllersOptions {
  enabled?: readonly ControllerName[];
  scheduler?: SchedulerOptions;
  vm?: VmControllerOptions;
  storagepool?: StoragePoolControllerOptions;
  image?: ImageControllerOptions;
  network?: NetworkControllerOptions;
  nodelifecycle?: NodeLifecycleOptions;
  nodeallocation?: NodeAllocationOptions;
  hostjoin?: HostJoinControllerOptions;
  snapshot?: SnapshotControllerOptions;
}

export function controllerSetups(options: ControllersOptions = {}): ControllerSetup[] {
  const enabled = new Set(options.enabled ?? CONTROLLER_NAMES);
  const out: ControllerSetup[] = [];
  if (enabled.has('scheduler')) out.push(schedulerController(options.scheduler));
  if (enabled.has('nodeallocation')) out.push(nodeAllocationController(options.nodeallocation));
  if (enabled.has('vm')) out.push(vmController(options.vm));
  if (enabled.has('storagepool')) out.push(storagePoolController(options.storagepool));
  if (enabled.has('image')) out.push(imageController(options.image));
  if (enabled.has('network')) out.push(networkController(options.network));
  if (enabled.has('nodelifecycle')) out.push(nodeLifecycleController(options.nodelifecycle));
  if (enabled.has('hostjoin')) out.push(hostJoinController(options.hostjoin));
  if (enabled.has('snapshot')) out.push(snapshotController(options.snapshot));
  return out;
}

export interface ApiRateLimits {
  /** Shared client (informers, events, vm/storagepool/nodelifecycle/nodeallocation writes): default 50 QPS, burst 100. */
  qps?: number;
  burst?: number;
  /** The scheduler's own client: default 500 QPS, burst 1000 (binds must not wait behind status writes). */
  schedulerQps?: number;
  schedulerBurst?: number;
}

export interface StartOptions extends ControllersOptions {
  kubeconfig: string;
  api?: ApiRateLimits;
  identity?: string;
  logger?: Logger;
  /** Omit for a single replica without leader election. */
  leaderElection?: { namespace: string; name: string } & Partial<LeaderElectionTiming>;
  metrics?: ControllerManagerMetrics;
}

export function defaultIdentity(): string {
  return `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Builds and starts a controller manager; resolves once its caches are synced. */
export async function startControllerManager(
  options: StartOptions,
): Promise<{ manager: ControllerManager; client: { close(): void }; kubeConfig: HttpApiClient['kubeConfig'] }> {
  const identity = options.identity ?? defaultIdentity();
  const logger = (options.logger ?? createLogger('controller-manager')).child({ identity });
  const api = options.api ?? {};
  // With leader election, every controller write is fenced by the lease: a replica that cannot
  // show a renewal within the renew deadline writes nothing, before any standby may lead.
  let manager: ControllerManager | undefined;
  const writeFence = options.leaderElection
    ? () => {
        if (!manager?.mayWrite())
          throw new ApiError(0, 'NotLeader', `controller-manager ${identity} does not hold the leader lease (or its renewal is overdue): write refused`);
      }
    : undefined;
  const client = await HttpApiClient.fromFile(options.kubeconfig, {
    userAgent: 'quantix-controller-manager',
    maxSockets: 32,
    qps: api.qps ?? 50,
    burst: api.burst ?? 100,
    writeLog: logger,
    writeFence,
  });
  const schedulerClient = await HttpApiClient.fromFile(options.kubeconfig, {
    userAgent: 'quantix-controller-manager/scheduler',
    maxSockets: 32,
    qps: api.schedulerQps ?? 500,
    burst: api.schedulerBurst ?? 1000,
    writeLog: logger.child({ controller: 'scheduler' }),
    writeFence,
  });
  const leaseClient = options.leaderElection
    ? await HttpApiClient.fromFile(options.kubeconfig, { userAgent: 'quantix-controller-manager/leader-election', maxSockets: 2, requestTimeoutMs: 5_000 })
    : undefined;
  // Joining hosts are told the server this controller-manager uses, unless set otherwise.
  const hostjoin = { server: client.kubeConfig.getCurrentCluster()?.server, ...options.hostjoin };
  manager = new ControllerManager({
    client,
    identity,
    logger,
    controllers: controllerSetups({ ...options, hostjoin }),
    leaderElection: options.leaderElection,
    leaderElectionClient: leaseClient,
    controllerClients: { scheduler: schedulerClient },
    metrics: options.metrics,
  });
  await manager.start();
  return {
    manager,
    kubeConfig: client.kubeConfig,
    client: {
      close: () => {
        client.close();
        schedulerClient.close();
        leaseClient?.close();
      },
    },
  };
}
