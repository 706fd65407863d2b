/**
 * The node gateway's gRPC service (api-types/proto/quantix/gateway/v1/gateway.proto):
 * authentication from call metadata, the node identity taken from the credential, and
 * the handlers. Errors are ApiErrors turned into gRPC statuses with the same reasons
 * (api-types/proto/errors.ts).
 */
import type { Metadata, sendUnaryData, ServerDuplexStream, ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Image, Network, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { BOUND_TO_ANOTHER_NODE, DEFAULT_DISCOVERED_NAMESPACE, DISCOVERED_ON_LABEL, DOMAIN_UUID_LABEL } from '../../api-types/proto/contract.js';
import { grpcErrorFromStatus } from '../../api-types/proto/errors.js';
import type {
  ConsoleFrame,
  DesiredStateEvent,
  EntryResult,
  HeartbeatRequest,
  HeartbeatResponse,
  ImageReport,
  ImageReportAck,
  RegisterNodeRequest,
  RegisterNodeResponse,
  StorageChangeAck,
  StorageChangeNotification,
  SyncFullStateRequest,
  SyncFullStateResponse,
  TunnelRequest,
  TunnelResponse,
  VMChangeAck,
  VMChangeNotification,
  VMReport,
  WatchDesiredStateRequest,
} from '../../api-types/proto/types.js';
import { imageDefinition, networkDefinition, nodeDefinition, storagePoolDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { newCorrelationId, type Logger } from '../../lib/logging/logger.js';
import { nodeNameOf, type Authenticator, type UserInfo } from '../auth/identity.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { toApiError } from '../http/status.js';
import type { ApiserverContext } from '../server.js';
import { AlreadyExistsError, NotFoundError } from '../storage/errors.js';
import type { CredentialStore } from './credentials.js';
import { serveDesiredState } from './desired-stream.js';
import { checkDomainUuid, partitionFailures, poolEntryRef, settleEach, vmEntryRef } from './full-sync.js';
import { networkStatusWithReport } from './network-status.js';
import { heartbeatStatusWrite } from './node-status.js';
import { heartbeatWritesCounter, type HeartbeatWriteObject, type NodeLeases } from './node-lease.js';
import { statusWithUsage, vmUsage } from './vm-usage.js';
import { poolAssignedTo } from '../../api-types/pool-usage.js';
import { imageStatusWithReport } from './image-status.js';
import { poolStatusWithReport } from './pool-status.js';
import { registerNode, type NodeApproval } from './registration.js';
import type { TunnelRegistry } from './tunnel.js';
import {
  discoveredNames,
  discoveredVm,
  isDiscoveredRecordOf,
  isGarbage,
  isHostDiscovered,
  isManagedVm,
  lostStatus,
  mergeAgentReport,
  terminatedStatus,
  updateDiscovered,
} from './vm-status.js';
import { NO_CHANGE, ObjectWriter, statusChanged } from './writes.js';
import type { KubeObject } from '../../api-types/meta.js';
import { bearer, identifyCall, type CallAuthContext, type CertificateAuthenticator } from './authenticate-first.js';

/** What authenticating a call reads: its metadata and its TLS peer. */
type AuthenticatedCall = { metadata: Metadata; getAuthContext(): CallAuthContext };
import type { BootstrapTokens } from './bootstrap-tokens.js';
import type { SignedNodeCertificate } from '../pki/node-certificates.js';

const VM_DEF = virtualMachineDefinition as unknown as ResourceDefinition;
const POOL_DEF = storagePoolDefinition as unknown as ResourceDefinition;
const NODE_DEF = nodeDefinition as unknown as ResourceDefinition;
const IMAGE_DEF = imageDefinition as unknown as ResourceDefinition;
const NETWORK_DEF = networkDefinition as unknown as ResourceDefinition;

export interface GatewayServiceOptions {
  authenticator: Authenticator;
  credentials: CredentialStore;
  /** Node client certificates (mutual TLS); without it only bearer tokens authenticate. */
  certificates?: CertificateAuthenticator;
  /** Signs a registering node's certificate request (apiserver/pki/node-certificates.ts). */
  signCertificate?: (csrPem: string, node: string) => Promise<SignedNodeCertificate>;
  /** `manual`: newly joined Nodes stay unschedulable until approved (registration.ts). */
  nodeApproval?: NodeApproval;
  /** Join tokens: a single-use one is spent by the registration it authenticated. */
  bootstrapTokens?: BootstrapTokens;
  tunnels: TunnelRegistry;
  /** Namespace of VMs recorded for host-discovered domains without a Quantix owner. */
  discoveredNamespace?: string;
  /** How long a Terminated host-discovered VM is kept (default 24 h). */
  terminatedRetentionMs?: number;
  /** Host-discovered VMs one node may have recorded (default DEFAULT_MAX_DISCOVERED_PER_NODE). */
  maxDiscoveredPerNode?: number;
  /** This replica's node Leases (node-lease.ts); without it heartbeats write no Lease. */
  leases?: NodeLeases;
  now?: () => Date;
  log: Logger;
}

export const DEFAULT_TERMINATED_RETENTION_MS = 24 * 3600_000;
/** A host runs hundreds of domains at most; a node reporting more is broken or hostile. */
export const DEFAULT_MAX_DISCOVERED_PER_NODE = 1_000;
const FULL_SYNC_CONCURRENCY = 8;
/** lastSeen has second precision: a VM seen within this of a snapshot may be newer than it. */
const SNAPSHOT_CLOCK_SLACK_MS = 1_500;

const VM_REF = (name?: string) => ({ group: 'quantix.io', resource: 'virtualmachines', kind: 'VirtualMachine', name });

/** A node's report about a VM bound to another node (or to none): refused. */
function notBoundHere(node: string, vm: VirtualMachine): ApiError {
  const bound = vm.spec?.nodeName;
  const where = bound ? `it is bound to "${bound}"` : 'it is not bound to any node';
  const message = `node "${node}" may not write the status of VM ${vm.metadata.namespace}/${vm.metadata.name}: ${where}`;
  const ref = VM_REF(vm.metadata.name);
  // The node it is bound to, as a cause: an agent holding a copy of a VM that moved
  // (recovered after its node was fenced) removes that stale copy (agent/stale-copies.ts).
  const causes = bound ? [{ reason: BOUND_TO_ANOTHER_NODE, field: 'spec.nodeName', message: bound }] : undefined;
  return new ApiError(403, 'Forbidden', message, { name: ref.name, group: ref.group, kind: ref.resource, ...(causes ? { causes } : {}) });
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class GatewayService {
  readonly #opts: GatewayServiceOptions;
  readonly #context: ApiserverContext;
  readonly #writer: ObjectWriter;
  readonly #now: () => Date;
  /** Per node: the state hash of the agent's last successful report. */
  readonly #acknowledged = new Map<string, string>();
  readonly #heartbeatWrites;

  constructor(context: ApiserverContext, opts: GatewayServiceOptions) {
    this.#context = context;
    this.#heartbeatWrites = heartbeatWritesCounter(context.metrics.registry);
    this.#opts = opts;
    this.#writer = new ObjectWriter(context);
    this.#now = opts.now ?? (() => new Date());
  }

  get #log(): Logger {
    return this.#opts.log;
  }

  #store(def: ResourceDefinition) {
    return this.#context.stores.get(def);
  }

  async #authenticate(call: AuthenticatedCall): Promise<{ user: UserInfo; token?: string }> {
    const identified = await identifyCall(call.metadata, call.getAuthContext(), this.#opts.authenticator, this.#opts.certificates);
    if (identified) return identified;
    if (!bearer(call.metadata))
      throw errors.unauthorized('Unauthorized: no valid node certificate and no bearer token in the call metadata (authorization: Bearer <token>)');
    throw errors.unauthorized('Unauthorized: the bearer token is not valid');
  }

  async #node(call: AuthenticatedCall): Promise<string> {
    const { user } = await this.#authenticate(call);
    const node = nodeNameOf(user);
    if (!node) throw errors.forbidden(`User "${user.name}" is not a node: this call needs a node credential (from RegisterNode)`);
    return node;
  }

  /** The handlers, for grpc.Server#addService. */
  implementation(): UntypedServiceImplementation {
    return {
      RegisterNode: this.#unary((call: ServerUnaryCall<RegisterNodeRequest, RegisterNodeResponse>) => this.register(call)),
      Heartbeat: this.#unary((call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>) => this.heartbeat(call)),
      SyncFullState: this.#unary((call: ServerUnaryCall<SyncFullStateRequest, SyncFullStateResponse>) => this.syncFullState(call)),
      NotifyVMChange: this.#unary((call: ServerUnaryCall<VMChangeNotification, VMChangeAck>) => this.notifyVmChange(call)),
      NotifyStorageChange: this.#unary((call: ServerUnaryCall<StorageChangeNotification, StorageChangeAck>) => this.notifyStorageChange(call)),
      ReportImages: this.#unary((call: ServerUnaryCall<ImageReport, ImageReportAck>) => this.reportImages(call)),
      WatchDesiredState: (call: ServerWritableStream<WatchDesiredStateRequest, DesiredStateEvent>) => void this.watchDesiredState(call),
      Tunnel: (call: ServerDuplexStream<TunnelResponse, TunnelRequest>) => void this.tunnel(call),
      ConsoleSession: (call: ServerDuplexStream<ConsoleFrame, ConsoleFrame>) => void this.consoleSession(call),
    };
  }

  #unary<Req, Res>(fn: (call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const requestId = String(call.metadata.get('x-request-id')[0] ?? '') || newCorrelationId();
      // The request id goes into this call's log lines explicitly: AsyncLocalStorage would
      // slow every request of the apiserver process (see http/access-log.ts).
      fn(call).then(
        (res) => callback(null, res),
        (err: unknown) => {
          const apiError = err instanceof ApiError ? err : toApiError(err);
          if (apiError.code >= 500)
            this.#log.error('gateway call failed', { requestId, method: call.getPath(), error: err instanceof Error ? err.stack : String(err) });
          else this.#log.debug('gateway call refused', { requestId, method: call.getPath(), reason: apiError.reason, error: apiError.message });
          callback(grpcErrorFromStatus(apiError.toStatus()) as Parameters<sendUnaryData<Res>>[0]);
        },
      );
    };
  }

  // ------------------------------------------------------------------ RegisterNode

  async register(call: ServerUnaryCall<RegisterNodeRequest, RegisterNodeResponse>): Promise<RegisterNodeResponse> {
    const { user, token } = await this.#authenticate(call);
    const res = await registerNode(
      {
        credentials: this.#opts.credentials,
        bootstrapTokens: this.#opts.bootstrapTokens,
        signCertificate: this.#opts.signCertificate,
        approval: this.#opts.nodeApproval,
        nodes: this.#store(NODE_DEF),
        writer: this.#writer,
        now: this.#now,
      },
      user,
      call.request,
      call.getPeer(),
      token,
    );
    this.#acknowledged.delete(res.nodeName);
    this.#log.info(res.reregistered ? 'node re-registered' : 'node registered', { nodeName: res.nodeName, uid: res.nodeUid });
    const { node: _node, ...response } = res;
    response.assignedPools = await this.#assignedPools(res.nodeName);
    return response;
  }

  async #assignedPools(node: string): Promise<string[]> {
    const list = await this.#store(POOL_DEF).list({ resourceVersion: '0' });
    return (list.items as StoragePool[])
      .filter((p) => poolAssignedTo(p, node))
      .map((p) => p.metadata.name!)
      .sort();
  }

  // ------------------------------------------------------------------ Heartbeat

  async heartbeat(call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>): Promise<HeartbeatResponse> {
    const node = await this.#node(call);
    const req = call.request;
    const assigned = await this.#assignedPools(node);
    await this.#applyPoolReports(
      node,
      req.pools.filter((p) => assigned.includes(p.name)),
      false,
      true,
    );
    await this.#applyNetworkReports(node, req.networks ?? []);
    await this.#applyVmTelemetry(node, req.vmTelemetry ?? []);
    const now = this.#now();
    let acknowledged = '';
    const written = await this.#heartbeatWrite<Node>('node', NODE_DEF, undefined, node, (current) => {
      // The Node's stateHash is what a full sync established; node-lifecycle clears it when the
      // node went silent (its VMs are Unknown), and then only a full sync may set things right.
      // Within that, the hash of the agent's latest accepted report (after a gateway restart:
      // the stored one).
      const stored = current.status?.stateHash ?? '';
      acknowledged = stored ? (this.#acknowledged.get(node) ?? stored) : '';
      return heartbeatStatusWrite(current.status, req, node, call.getPeer(), acknowledged, assigned, now);
    });
    if (!written) throw errors.notFound({ group: 'quantix.io', resource: 'nodes', kind: 'Node', name: node });
    // Liveness: the node Lease, held here and vouched for by this replica's Lease (node-lease.ts).
    await this.#opts.leases?.heartbeat(node);
    const requestFullSync = !acknowledged || acknowledged !== req.stateHash;
    return {
      requestFullSync,
      fullSyncReason: requestFullSync
        ? acknowledged
          ? `state hash ${req.stateHash} differs from the last one acknowledged (${acknowledged})`
          : 'no full state acknowledged for this node'
        : '',
      assignedPools: assigned,
    };
  }

  /**
   * A status write a heartbeat causes: decided first on the watch cache's copy, so a report that
   * changes nothing costs etcd nothing (not even a read); a change is written as any status
   * write (decided again on etcd's copy) and counted in quantix_gateway_heartbeat_etcd_writes_total.
   * Returns the object (cached when nothing was written), undefined when it does not exist.
   * An object the cache does not have (yet) is decided on etcd's copy.
   */
  async #heartbeatWrite<T extends KubeObject>(
    object: HeartbeatWriteObject,
    def: ResourceDefinition,
    namespace: string | undefined,
    name: string,
    mutate: (current: T) => T['status'] | typeof NO_CHANGE,
  ): Promise<T | undefined> {
    let cached: T | undefined;
    try {
      cached = (await this.#store(def).get(namespace, name, { resourceVersion: '0' })) as T;
    } catch (err) {
      // Not in the cache (yet: a Node registered a moment ago): etcd decides below.
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (cached) {
      const next = mutate(cached);
      if (next === NO_CHANGE || !statusChanged(next, cached.status)) return cached;
    }
    let read: string | undefined;
    const written = await this.#writer.updateStatus<T>(def, namespace, name, (current) => {
      read = current.metadata.resourceVersion;
      return mutate(current);
    });
    if (written && written.metadata.resourceVersion !== read) this.#heartbeatWrites.inc({ object });
    return written;
  }

  /** VirtualMachine status.usage of the VMs bound to this node, each written only when it changed meaningfully (vm-usage.ts). */
  async #applyVmTelemetry(node: string, samples: HeartbeatRequest['vmTelemetry']): Promise<void> {
    if (samples.length === 0) return;
    const now = this.#now();
    const checked = samples.map((t, i) => ({ t, usage: vmUsage(t, i) }));
    await mapLimit(checked, FULL_SYNC_CONCURRENCY, async ({ t, usage }) => {
      await this.#heartbeatWrite<VirtualMachine>('vm', VM_DEF, t.namespace, t.name, (vm) => statusWithUsage(vm, node, t.uid, usage, now));
    });
  }

  /** `heartbeat`: decided on the cached pool first (#heartbeatWrite). */
  async #applyPoolReports(node: string, reports: HeartbeatRequest['pools'], force = false, heartbeat = false): Promise<void> {
    const now = this.#now();
    await mapLimit(reports, FULL_SYNC_CONCURRENCY, (report) => this.#applyPoolReport(node, report, now, force, heartbeat));
  }

  async #applyPoolReport(node: string, report: HeartbeatRequest['pools'][number], now: Date, force: boolean, heartbeat = false): Promise<void> {
    const mutate = (pool: StoragePool) => {
      if (!report.removed && !poolAssignedTo(pool, node)) return NO_CHANGE;
      return poolStatusWithReport(pool, node, report, now, force);
    };
    if (heartbeat) await this.#heartbeatWrite<StoragePool>('pool', POOL_DEF, undefined, report.name, mutate);
    else await this.#writer.updateStatus<StoragePool>(POOL_DEF, undefined, report.name, mutate);
  }

  /**
   * Network.status.hosts.<node> from the heartbeat's reports: each written only when it
   * changed (network-status.ts), only for networks assigned to the node; `removed` drops the
   * entry. A report about a network that no longer exists is dropped.
   */
  async #applyNetworkReports(node: string, reports: HeartbeatRequest['networks']): Promise<void> {
    if (reports.length === 0) return;
    const now = this.#now();
    await mapLimit(reports, FULL_SYNC_CONCURRENCY, async (report) => {
      if (!report.name) throw errors.badRequest('networks[].name: required');
      await this.#heartbeatWrite<Network>('network', NETWORK_DEF, undefined, report.name, (net) => networkStatusWithReport(net, node, report, now));
    });
  }

  // ------------------------------------------------------------------ NotifyStorageChange

  async notifyStorageChange(call: ServerUnaryCall<StorageChangeNotification, StorageChangeAck>): Promise<StorageChangeAck> {
    const node = await this.#node(call);
    const report = call.request.pool;
    if (!report?.name) throw errors.badRequest('pool: required');
    await this.#applyPoolReports(node, [report], true);
    if (call.request.stateHash) this.#acknowledged.set(node, call.request.stateHash);
    return {};
  }

  // ------------------------------------------------------------------ ReportImages

  async reportImages(call: ServerUnaryCall<ImageReport, ImageReportAck>): Promise<ImageReportAck> {
    const node = await this.#node(call);
    const now = this.#now();
    const rejected: EntryResult[] = [];
    await mapLimit(
      call.request.images.map((r, i) => [r, i] as const),
      FULL_SYNC_CONCURRENCY,
      async ([report, i]) => {
        const reject = (reason: string, message: string) =>
          rejected.push({ field: `images[${i}]`, domainUuid: '', vm: '', pool: '', reason, message: `image ${report.name}: ${message}`, boundNode: '' });
        try {
          if (!report.uid) {
            reject('BadRequest', 'uid: required (the metadata.uid of the Image the report is about)');
            return;
          }
          let uidMismatch = false;
          const written = await this.#writer.updateStatus<Image>(IMAGE_DEF, undefined, report.name, (image) => {
            // A report about an earlier Image of the same name (deleted and recreated) is stale.
            if (image.metadata.uid !== report.uid) {
              uidMismatch = true;
              return NO_CHANGE;
            }
            return imageStatusWithReport(image, node, report, now);
          });
          if (!written) reject('NotFound', 'no such Image');
          else if (uidMismatch) reject('Conflict', `the report is about uid ${report.uid}, the Image is now ${written.metadata.uid}`);
        } catch (err) {
          const e = err instanceof ApiError ? err : toApiError(err);
          reject(e.reason, e.message);
        }
      },
    );
    return { rejected };
  }

  // ------------------------------------------------------------------ NotifyVMChange

  async notifyVmChange(call: ServerUnaryCall<VMChangeNotification, VMChangeAck>): Promise<VMChangeAck> {
    const node = await this.#node(call);
    const { vm: report, change, stateHash } = call.request;
    if (!report) throw errors.badRequest('vm: required');
    checkDomainUuid(report, 'vm');
    const gone = change === 'DELETED' || report.powerState === '';
    const ack = await this.#applyReport(node, { ...report, powerState: gone ? '' : report.powerState });
    if (stateHash) this.#acknowledged.set(node, stateHash);
    return ack;
  }

  /** The VM the report names, if it is the one with that uid: from the cache, or with `consistent` from etcd. */
  async #ownerVm(report: VMReport, consistent = false): Promise<VirtualMachine | undefined> {
    if (!report.ownerUid || !report.ownerName || !report.ownerNamespace) return undefined;
    try {
      const vm = (await this.#store(VM_DEF).get(report.ownerNamespace, report.ownerName, consistent ? {} : { resourceVersion: '0' })) as VirtualMachine;
      return vm.metadata.uid === report.ownerUid ? vm : undefined;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * Applies one report: to the owning managed VM, else to the host-discovered record of the
   * domain. `known`: what the caller already read (the owner, undefined for none; the
   * record, null for none).
   */
  async #applyReport(
    node: string,
    report: VMReport,
    known?: { vm: VirtualMachine | undefined; discovered?: VirtualMachine | null },
  ): Promise<VMChangeAck & { outcome?: 'updated' | 'discovered' | 'lost' | 'terminated' | 'none' }> {
    const owner = known ? known.vm : await this.#ownerVm(report);
    if (owner && isManagedVm(owner)) {
      if (owner.spec?.nodeName !== node) throw notBoundHere(node, owner);
      // Whether anything was written is the writer's decision (statusChanged): a new
      // resourceVersion tells it.
      const attempt: { lost: boolean; resourceVersion?: string } = { lost: false };
      const now = this.#now();
      const written = await this.#writer.updateStatus<VirtualMachine>(VM_DEF, owner.metadata.namespace, owner.metadata.name!, (current) => {
        attempt.lost = false;
        attempt.resourceVersion = current.metadata.resourceVersion;
        if (current.metadata.uid !== report.ownerUid) return NO_CHANGE;
        // Bound elsewhere since it was read: this node's report (present or missing) is not
        // the VM's. (A refusal on a cached state is decided again on etcd's.)
        if (current.spec?.nodeName !== node) throw notBoundHere(node, current);
        const merged = mergeAgentReport(current, report, node, now);
        if (report.powerState === '') {
          const lost = lostStatus({ ...current, status: merged === NO_CHANGE ? current.status : merged }, node, now);
          if (lost !== NO_CHANGE) {
            attempt.lost = true;
            return lost;
          }
        }
        return merged;
      });
      const wrote = written !== undefined && written.metadata.resourceVersion !== attempt.resourceVersion;
      const outcome = !wrote ? 'none' : attempt.lost ? 'lost' : 'updated';
      if (outcome === 'lost') this.#log.warn('VM lost', { node, vm: `${owner.metadata.namespace}/${owner.metadata.name}`, domain: report.domainUuid });
      return { vm: `${owner.metadata.namespace}/${owner.metadata.name}`, phase: written?.status?.phase ?? '', outcome };
    }
    return this.#applyDiscovered(node, report, known?.discovered);
  }

  /**
   * The host-discovered record of a domain: from the watch cache, or with `consistent`
   * from etcd (in `namespace`), which also sees a record created a moment ago.
   */
  async #findDiscovered(node: string, domainUuid: string, consistent?: { namespace: string }): Promise<VirtualMachine | undefined> {
    const labelSelector = `${DOMAIN_UUID_LABEL}=${domainUuid},${DISCOVERED_ON_LABEL}=${node}`;
    const list = await this.#store(VM_DEF).list(consistent ? { namespace: consistent.namespace, labelSelector } : { resourceVersion: '0', labelSelector });
    return (list.items as VirtualMachine[]).find((vm) => isDiscoveredRecordOf(vm, node, domainUuid));
  }

  /** The VM of that name as etcd has it now, if any. */
  async #getFresh(namespace: string, name: string): Promise<VirtualMachine | undefined> {
    try {
      return (await this.#store(VM_DEF).get(namespace, name)) as VirtualMachine;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async #applyDiscovered(
    node: string,
    report: VMReport,
    known?: VirtualMachine | null,
  ): Promise<VMChangeAck & { outcome?: 'discovered' | 'terminated' | 'updated' | 'none' }> {
    const existing = known === undefined ? await this.#findDiscovered(node, report.domainUuid) : (known ?? undefined);
    const now = this.#now();
    if (report.powerState === '') {
      if (!existing) return { vm: '', phase: '', outcome: 'none' };
      let outcome: 'terminated' | 'none' = 'none';
      const written = await this.#writer.updateStatus<VirtualMachine>(VM_DEF, existing.metadata.namespace, existing.metadata.name!, (current) => {
        const next = terminatedStatus(current, now);
        if (next !== NO_CHANGE) outcome = 'terminated';
        return next;
      });
      return { vm: `${existing.metadata.namespace}/${existing.metadata.name}`, phase: written?.status?.phase ?? '', outcome };
    }
    if (existing) {
      let outcome: 'updated' | 'none' = 'none';
      const written = await this.#writer.updateStatus<VirtualMachine>(VM_DEF, existing.metadata.namespace, existing.metadata.name!, (current) => {
        if (!isHostDiscovered(current)) return NO_CHANGE;
        const next = updateDiscovered(current, report, node, now);
        if (next !== NO_CHANGE) outcome = 'updated';
        return next;
      });
      return { vm: `${existing.metadata.namespace}/${existing.metadata.name}`, phase: written?.status?.phase ?? '', outcome };
    }
    // Recorded once per domain: the cache (or a full sync's list) may not show a record
    // made a moment ago (by a concurrent report of the same domain), so ask etcd before
    // creating; a create racing with this one shows as AlreadyExists on the same name,
    // and the holder of the name is then checked on etcd's copy, by its labels.
    // Where and under what name is the gateway's choice, never the node's: the configured
    // namespace, a name from the domain's name. (Taken from the report's owner fields, a
    // node could create VM objects in any namespace under any name, e.g. finance/payroll.)
    const namespace = this.#opts.discoveredNamespace || DEFAULT_DISCOVERED_NAMESPACE;
    const recorded = await this.#findDiscovered(node, report.domainUuid, { namespace });
    if (recorded) return this.#applyDiscovered(node, report, recorded);
    const max = this.#opts.maxDiscoveredPerNode ?? DEFAULT_MAX_DISCOVERED_PER_NODE;
    const held = (await this.#store(VM_DEF).list({ namespace, labelSelector: `${DISCOVERED_ON_LABEL}=${node}`, resourceVersion: '0' })).items.length;
    if (held >= max) {
      throw errors.forbidden(
        `node "${node}" already has ${held} host-discovered VMs recorded, the limit is ${max}: domain ${report.domainName} (${report.domainUuid}) is not recorded`,
        VM_REF(),
      );
    }
    const names = discoveredNames(report);
    // Each name is tried again when its holder vanished between the create and the read.
    for (let i = 0, attempts = 0; i < names.length && attempts < 2 * names.length; attempts++) {
      const name = names[i]!;
      try {
        const created = await this.#writer.createWithStatus(VM_DEF, discoveredVm(report, name, namespace, node, now));
        this.#log.info('host-discovered domain recorded', { node, vm: `${namespace}/${name}`, domain: report.domainUuid, domainName: report.domainName });
        return { vm: `${namespace}/${name}`, phase: created.status?.phase ?? '', outcome: 'discovered' };
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        const holder = await this.#getFresh(namespace, name);
        // The same domain, recorded concurrently: this report updates that record.
        if (holder && isDiscoveredRecordOf(holder, node, report.domainUuid)) return this.#applyDiscovered(node, report, holder);
        if (holder) i++; // another VM holds the name: the next one
      }
    }
    throw errors.conflict(VM_REF(names[names.length - 1]), 'no free name for the host-discovered domain');
  }

  // ------------------------------------------------------------------ SyncFullState

  async syncFullState(call: ServerUnaryCall<SyncFullStateRequest, SyncFullStateResponse>): Promise<SyncFullStateResponse> {
    const node = await this.#node(call);
    const req = call.request;
    const vmStore = this.#store(VM_DEF);
    // A consistent read: status decisions must not rest on a stale cache.
    const bound = (await vmStore.list({ fieldSelector: `spec.nodeName=${node}` })).items as VirtualMachine[];
    const byUid = new Map(bound.map((vm) => [vm.metadata.uid!, vm]));
    const discoveredByUuid = new Map<string, VirtualMachine>();
    for (const vm of bound) {
      const uuid = vm.metadata.labels?.[DOMAIN_UUID_LABEL];
      if (uuid && isHostDiscovered(vm) && vm.metadata.labels?.[DISCOVERED_ON_LABEL] === node) discoveredByUuid.set(uuid, vm);
    }
    const counts: Omit<SyncFullStateResponse, 'rejected'> = { updated: 0, discovered: 0, lost: 0, terminated: 0 };
    const presentDomains = new Set<string>();
    for (const r of req.vms) if (r.powerState) presentDomains.add(r.domainUuid);
    const count = (outcome: string | undefined) => {
      if (outcome === 'updated') counts.updated++;
      else if (outcome === 'discovered') counts.discovered++;
      else if (outcome === 'lost') counts.lost++;
      else if (outcome === 'terminated') counts.terminated++;
    };

    // Entry by entry (full-sync.ts): an entry refused stops neither the others nor the
    // pools nor the state hash; it goes back in the response.
    const vmFailures = await settleEach(req.vms, FULL_SYNC_CONCURRENCY, async (r, i) => {
      checkDomainUuid(r, `vms[${i}]`);
      const listed = r.ownerUid ? byUid.get(r.ownerUid) : undefined;
      // An owner not bound here (bound to another node, or gone) is read from etcd too.
      const owner = listed ?? (await this.#ownerVm(r, true));
      // A VM bound to another node: this node's report, present or missing, is refused
      // (it never makes that VM Lost).
      if (owner && isManagedVm(owner) && owner.spec?.nodeName !== node) throw notBoundHere(node, owner);
      if (!listed && !r.powerState) return; // the missing domain of a VM that is gone anyway
      const discovered = owner && isManagedVm(owner) ? undefined : (discoveredByUuid.get(r.domainUuid) ?? null);
      const ack = await this.#applyReport(node, r, { vm: owner, discovered });
      count(ack.outcome);
    });

    const now = this.#now();
    // Host-discovered VMs whose domain is not in the snapshot: Terminated, unless seen after it.
    const snapshotAt = req.observedAtMs || now.getTime();
    const terminateFailures = await settleEach(bound, FULL_SYNC_CONCURRENCY, async (vm) => {
      if (isManagedVm(vm)) return; // managed VMs become Lost only when reported missing (above)
      const uuid = vm.metadata.labels?.[DOMAIN_UUID_LABEL];
      if (!uuid || vm.metadata.labels?.[DISCOVERED_ON_LABEL] !== node || presentDomains.has(uuid)) return;
      let terminated = false;
      await this.#writer.updateStatus<VirtualMachine>(VM_DEF, vm.metadata.namespace, vm.metadata.name!, (current) => {
        const seen = Date.parse(current.status?.lastSeen ?? '');
        if (Number.isFinite(seen) && seen >= snapshotAt - SNAPSHOT_CLOCK_SLACK_MS) return NO_CHANGE;
        const next = terminatedStatus(current, now);
        terminated = next !== NO_CHANGE;
        return next;
      });
      if (terminated) counts.terminated++;
    });

    const poolFailures = await settleEach(req.pools, FULL_SYNC_CONCURRENCY, (report) => this.#applyPoolReport(node, report, now, true));

    const vms = partitionFailures(vmFailures, (i) => vmEntryRef(req.vms[i]!, i));
    const pools = partitionFailures(poolFailures, (i) => poolEntryRef(req.pools[i]!, i));
    const own = partitionFailures(terminateFailures, (i) => ({
      field: '',
      domainUuid: bound[i]!.metadata.labels?.[DOMAIN_UUID_LABEL] ?? '',
      vm: `${bound[i]!.metadata.namespace}/${bound[i]!.metadata.name}`,
      pool: '',
    }));
    // The gateway's own write refused: a gateway bug, not the agent's; logged, not returned.
    for (const r of own.rejected) this.#log.error('host-discovered VM not marked Terminated', { node, vm: r.vm, reason: r.reason, detail: r.message });
    const rejected: EntryResult[] = [...vms.rejected, ...pools.rejected];
    const failed = [...vms.errors, ...own.errors, ...pools.errors];
    if (failed.length > 0) {
      // The control plane failed (not the entries): the agent retries the whole sync.
      this.#log.warn('full state sync incomplete; its state hash is not acknowledged', {
        node,
        ...counts,
        rejected: rejected.length,
        failed: failed.length,
        error: failed[0] instanceof Error ? failed[0].message : String(failed[0]),
      });
      throw failed[0];
    }
    // Acknowledged also with refused entries: sending the same state again would be
    // refused the same way (the agent logs each refusal).
    if (req.stateHash) {
      this.#acknowledged.set(node, req.stateHash);
      await this.#writer.updateStatus<Node>(NODE_DEF, undefined, node, (current) => ({ ...(current.status ?? {}), stateHash: req.stateHash }));
    }
    if (rejected.length > 0) {
      this.#log.warn('full state sync: entries refused', {
        node,
        rejected: rejected.slice(0, 20).map((r) => `${r.field} ${r.vm || r.pool || r.domainUuid}: ${r.reason}: ${r.message}`),
        more: Math.max(0, rejected.length - 20),
      });
    }
    this.#log.info('full state sync', { node, domains: req.vms.length, pools: req.pools.length, ...counts, rejected: rejected.length });
    return { ...counts, rejected };
  }

  // ------------------------------------------------------------------ streams

  async watchDesiredState(call: ServerWritableStream<WatchDesiredStateRequest, DesiredStateEvent>): Promise<void> {
    let node: string;
    try {
      node = await this.#node(call);
    } catch (err) {
      call.destroy(Object.assign(new Error((err as Error).message), grpcErrorFromStatus((err instanceof ApiError ? err : toApiError(err)).toStatus())));
      return;
    }
    serveDesiredState(call, node, {
      vms: this.#store(VM_DEF),
      pools: this.#store(POOL_DEF),
      images: this.#store(IMAGE_DEF),
      networks: this.#store(NETWORK_DEF),
      log: this.#log,
    });
  }

  async tunnel(call: ServerDuplexStream<TunnelResponse, TunnelRequest>): Promise<void> {
    let node: string;
    try {
      node = await this.#node(call);
    } catch (err) {
      call.destroy(Object.assign(new Error((err as Error).message), grpcErrorFromStatus((err instanceof ApiError ? err : toApiError(err)).toStatus())));
      return;
    }
    this.#opts.tunnels.serve(node, call);
  }

  /** An agent's stream for a console session the tunnel asked it to open (tunnel.ts attachConsole). */
  async consoleSession(call: ServerDuplexStream<ConsoleFrame, ConsoleFrame>): Promise<void> {
    let node: string;
    try {
      node = await this.#node(call);
    } catch (err) {
      // An 'error' event ends the call with that status (destroy would drop the status).
      call.emit('error', Object.assign(new Error((err as Error).message), grpcErrorFromStatus((err instanceof ApiError ? err : toApiError(err)).toStatus())));
      return;
    }
    this.#opts.tunnels.attachConsole(node, call);
  }

  // ------------------------------------------------------------------ garbage collection

  /** Deletes Terminated host-discovered VMs past the retention; returns how many. */
  async collectGarbage(): Promise<number> {
    const retention = this.#opts.terminatedRetentionMs ?? DEFAULT_TERMINATED_RETENTION_MS;
    const now = this.#now();
    const store = this.#store(VM_DEF);
    const list = await store.list({ resourceVersion: '0', fieldSelector: 'status.phase=Terminated' });
    let deleted = 0;
    for (const vm of list.items as VirtualMachine[]) {
      if (!isGarbage(vm, now, retention)) continue;
      try {
        await store.delete(vm.metadata.namespace, vm.metadata.name!, { preconditions: { uid: vm.metadata.uid } });
        deleted++;
        this.#log.info('garbage-collected terminated host-discovered VM', {
          vm: `${vm.metadata.namespace}/${vm.metadata.name}`,
          terminatedAt: vm.status?.terminatedAt,
        });
      } catch (err) {
        if (!(err instanceof NotFoundError)) this.#log.warn('garbage collection failed', { vm: vm.metadata.name, error: (err as Error).message });
      }
    }
    return deleted;
  }
}
