/**
 * The agent's one work queue and its workers. Keys — `vm:<ns>/<name>`, `dom:<uuid>`
 * (domains no managed VM owns), `pool:<name>`, `img:<name>` (image imports) and
 * `net:<name>` (libvirt networks) — fed by the desired state
 * stream, libvirt events and periodic resyncs (the `on*` and `enqueue*` methods turn those
 * into keys). A key is processed by one worker at a time, re-reads what it needs, and is
 * retried with backoff on failure.
 *
 * A key's work runs under the correlation id of its desired object (the annotation
 * quantix.io/correlation-id the apiserver set on the write that changed it; the owning VM's
 * for a domain key): its log lines and its libvirt calls carry the id of the user action that
 * caused them. Work with no such object (an orphan domain) gets an id of its own.
 */
import { CORRELATION_ID_ANNOTATION } from '../api-types/correlation.js';
import { newCorrelationId, withCorrelation, type Logger } from '../lib/logging/logger.js';
import { ItemExponentialFailureRateLimiter } from '../lib/workqueue/ratelimiter.js';
import { WorkQueue } from '../lib/workqueue/workqueue.js';
import type { DesiredChange, DesiredState } from './desired-state.js';
import { isTrackedUuid, type DomainCache, type DomainChange } from './domain-cache.js';
import type { PoolSyncer } from './pools/sync.js';
import { reportsHostDomain, type Reporter } from './reporter.js';
import { isUnmanaged } from './vm/decide.js';
import { boundNodeOfRefusal } from './stale-copies.js';

/** While self-fenced, VM keys are looked at again this often (the fence lifts on its own schedule and enqueues all). */
const FENCED_RETRY_MS = 1_000;
import type { VmSyncer } from './vm/sync.js';

/** Reconciles one named cluster-scoped object (an Image, a Network) on this host. */
export interface NamedSyncer {
  /** Returns a delay to look again, or throws to retry with backoff. */
  sync(name: string): Promise<number | undefined>;
  /** Every name it holds state for (also those gone from the desired state). */
  known(): Iterable<string>;
}

export interface KeyWorkersDeps {
  desired: DesiredState;
  domains: DomainCache;
  reporter: Reporter;
  vms: VmSyncer;
  pools: PoolSyncer;
  images?: NamedSyncer;
  networks?: NamedSyncer;
  /** Self-fenced (self-fence.ts): VM work waits, nothing starts. */
  fenced?: () => boolean;
  /** A report was refused because the VM is bound to another node: remove the stale copy; true when removed. */
  removeStaleCopy?: (uuid: string, boundNode: string) => Promise<boolean>;
  log: Logger;
  /** False once the agent stops: failed keys are not retried any more. */
  running: () => boolean;
}

export class KeyWorkers {
  readonly queue = new WorkQueue<string>({ rateLimiter: new ItemExponentialFailureRateLimiter<string>(500, 60_000) });
  /** Receive time of the libvirt event behind a domain's pending key (reported with it). */
  readonly #eventTimes = new Map<string, number>();
  /** VM key → uid, to clean up after a VM deleted or moved off this node. */
  readonly #uidOfKey = new Map<string, string>();
  #workers: Promise<void>[] = [];

  constructor(private readonly deps: KeyWorkersDeps) {}

  start(count: number): void {
    for (let i = 0; i < count; i++) this.#workers.push(this.#worker());
  }

  /** Shuts the queue down and waits for the keys being processed. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.#workers);
    this.#workers = [];
  }

  // ------------------------------------------------------------------ events → keys

  onDesiredChange(change: DesiredChange): void {
    if (change.kind === 'pool') {
      this.queue.add(`pool:${change.name}`);
      return;
    }
    if (change.kind === 'image') {
      this.queue.add(`img:${change.name}`);
      this.enqueueVmsUsing('image', change.name);
      return;
    }
    if (change.kind === 'network') {
      this.queue.add(`net:${change.name}`);
      this.enqueueVmsUsing('network', change.name);
      return;
    }
    if (change.uid) this.#uidOfKey.set(change.key, change.uid);
    this.queue.add(`vm:${change.key}`);
  }

  onDomainChange(change: DomainChange): void {
    const domain = change.current ?? change.previous;
    if (change.eventTime) this.#eventTimes.set(change.uuid, change.eventTime);
    const ownerUid = domain?.owner?.uid;
    const key = ownerUid ? this.deps.desired.keyForUid(ownerUid) : undefined;
    if (key) this.queue.add(`vm:${key}`);
    else this.queue.add(`dom:${change.uuid}`);
  }

  enqueuePool(name: string): void {
    this.queue.add(`pool:${name}`);
  }

  /** Every key the agent knows of (after reconnects, and as the level-triggered safety net). */
  enqueueAll(): void {
    const { desired, pools, domains } = this.deps;
    for (const key of desired.vms.keys()) this.queue.add(`vm:${key}`);
    for (const name of desired.pools.keys()) this.queue.add(`pool:${name}`);
    for (const name of pools.managedPools()) this.queue.add(`pool:${name}`);
    for (const name of desired.images.keys()) this.queue.add(`img:${name}`);
    for (const name of this.deps.images?.known() ?? []) this.queue.add(`img:${name}`);
    for (const name of desired.networks.keys()) this.queue.add(`net:${name}`);
    for (const name of this.deps.networks?.known() ?? []) this.queue.add(`net:${name}`);
    for (const d of domains.all()) if (!d.owner?.uid || !desired.keyForUid(d.owner.uid)) this.queue.add(`dom:${d.uuid}`);
  }

  enqueueVmsUsingPool(pool: string): void {
    for (const [key, vm] of this.deps.desired.vms) if ((vm.spec.disks ?? []).some((d) => d.storagePool === pool)) this.queue.add(`vm:${key}`);
  }

  /** VMs waiting on an image import or a network: they go on when it becomes ready. */
  enqueueVmsUsing(kind: 'image' | 'network', name: string): void {
    for (const [key, vm] of this.deps.desired.vms) {
      const uses =
        kind === 'image'
          ? (vm.spec.disks ?? []).some((d) => d.image === name)
          : (vm.spec.networks ?? []).some((n) => n.type === 'network' && n.source === name);
      if (uses) this.queue.add(`vm:${key}`);
    }
  }

  enqueueImage(name: string): void {
    this.queue.add(`img:${name}`);
  }

  // ------------------------------------------------------------------ workers

  async #worker(): Promise<void> {
    for (;;) {
      const item = await this.queue.get();
      if (item.shutdown) return;
      const key = item.key;
      try {
        const requeue = await withCorrelation(this.correlationIdOf(key) ?? newCorrelationId(), () => this.#process(key), { key });
        this.queue.forget(key);
        if (requeue !== undefined) this.queue.addAfter(key, requeue);
      } catch (err) {
        this.deps.log.debug('sync failed; retrying with backoff', { key, error: (err as Error).message });
        if (this.deps.running()) this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** The correlation id a key's work runs under: its desired object's annotation. */
  correlationIdOf(key: string): string | undefined {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon);
    const id = key.slice(colon + 1);
    const { desired } = this.deps;
    let obj: { metadata: { annotations?: Record<string, string> } } | undefined;
    switch (kind) {
      case 'vm':
        obj = desired.vms.get(id);
        break;
      case 'dom': {
        const ownerUid = this.deps.domains.get(id)?.owner?.uid;
        const ownerKey = ownerUid ? desired.keyForUid(ownerUid) : undefined;
        obj = ownerKey ? desired.vms.get(ownerKey) : undefined;
        break;
      }
      case 'pool':
        obj = desired.pools.get(id);
        break;
      case 'img':
        obj = desired.images.get(id);
        break;
      case 'net':
        obj = desired.networks.get(id);
        break;
    }
    return obj?.metadata.annotations?.[CORRELATION_ID_ANNOTATION] || undefined;
  }

  /** Processes one key; returns a delay to look again, or throws to retry with backoff. */
  async #process(key: string): Promise<number | undefined> {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon);
    const id = key.slice(colon + 1);
    const { domains } = this.deps;
    // Until libvirt has been listed once, a missing domain proves nothing.
    if (!domains.listed) return domains.hypervisorUp ? 200 : 1_000;
    switch (kind) {
      case 'vm':
        return this.#processVm(id);
      case 'dom':
        return this.#processDomain(id);
      case 'pool':
        return this.#processPool(id);
      case 'img':
        // Like pools: an image missing from an incomplete desired state is not "deleted".
        if (!this.deps.desired.synced) return 500;
        return this.deps.images?.sync(id);
      case 'net':
        if (!domains.hypervisorUp) return 1_000;
        if (!this.deps.desired.synced) return 500;
        return this.deps.networks?.sync(id);
      default:
        return undefined;
    }
  }

  async #processVm(key: string): Promise<number | undefined> {
    const { desired, domains, vms } = this.deps;
    const vm = desired.vms.get(key);
    if (!vm) {
      // Deleted or moved off this node: its domain, if any, is reported as not owned by a VM.
      const uid = this.#uidOfKey.get(key);
      this.#uidOfKey.delete(key);
      if (uid) {
        vms.forget(uid);
        if (domains.get(uid)) this.queue.add(`dom:${uid}`);
      }
      return undefined;
    }
    if (isUnmanaged(vm)) return undefined;
    if (this.deps.fenced?.()) return FENCED_RETRY_MS;
    const uid = vm.metadata.uid!;
    const eventTime = this.#eventTimes.get(uid);
    this.#eventTimes.delete(uid);
    const result = await vms.sync(vm, eventTime);
    if (result.error) throw result.error;
    return result.requeueAfterMs;
  }

  async #processDomain(uuid: string): Promise<number | undefined> {
    const { desired, domains, reporter } = this.deps;
    const domain = domains.get(uuid);
    const ownerUid = domain?.owner?.uid;
    const ownerKey = ownerUid ? desired.keyForUid(ownerUid) : undefined;
    if (ownerKey && !isUnmanaged(desired.vms.get(ownerKey)!)) {
      this.queue.add(`vm:${ownerKey}`);
      return undefined;
    }
    // Orphans can only be told from VMs not listed yet once the desired state is complete.
    if (!desired.synced) return 500;
    if (domain && !reportsHostDomain(domain, desired, reporter)) return undefined;
    if (!isTrackedUuid(uuid)) return undefined;
    const eventTime = this.#eventTimes.get(uuid);
    this.#eventTimes.delete(uuid);
    try {
      await reporter.reportDomain(uuid, domain, eventTime);
    } catch (err) {
      const boundNode = boundNodeOfRefusal(err);
      if (boundNode && (await this.deps.removeStaleCopy?.(uuid, boundNode))) return undefined;
      throw err;
    }
    return undefined;
  }

  async #processPool(name: string): Promise<number | undefined> {
    const { desired, domains, pools } = this.deps;
    if (!domains.hypervisorUp) return 1_000;
    // A pool missing from the desired state means "not assigned here any more" (stop and
    // undefine) only once the desired state is complete, as for orphan domains: before the
    // first SYNCED (an agent start, a slow stream) every pool would look unassigned.
    if (!desired.synced) return 500;
    const res = await pools.sync(name, desired.pools.get(name));
    return res.requeueAfterMs;
  }
}
