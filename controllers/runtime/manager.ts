/**
 * The controller manager: shared informers (one list+watch per resource, shared by every
 * controller), the controllers, and leader election.
 *
 * Informers run on every replica (a standby keeps a warm cache, so a takeover does not
 * start with a full list); controllers run only on the leader. When leadership is lost
 * the controllers stop and `lost` resolves — the process should exit (as
 * kube-controller-manager does) and be restarted as a fresh candidate.
 */
import type { KubeObject } from '../../api-types/meta.js';
import { createLogger, type Logger } from '../../lib/logging/logger.js';
import type { ApiClient } from './client.js';
import type { Controller } from './controller.js';
import { EventRecorder } from './events.js';
import { Informer, listerWatcher, type Selector } from './informer.js';
import { LeaderElector, type LeaderElectionTiming } from './leaderelection.js';
import type { ControllerManagerMetrics } from './metrics.js';
import type { ResourceRef } from './resources.js';

export class SharedInformerFactory {
  readonly #client: ApiClient;
  readonly #log: Logger;
  readonly #informers = new Map<string, Informer<KubeObject>>();
  #started = false;

  constructor(client: ApiClient, log: Logger) {
    this.#client = client;
    this.#log = log;
  }

  /** The informer for `r` (created once per resource and selector). */
  informerFor<T extends KubeObject>(r: ResourceRef, selector: Selector = {}): Informer<T> {
    const key = `${r.group}/${r.plural}?${selector.namespace ?? ''}&${selector.labelSelector ?? ''}&${selector.fieldSelector ?? ''}`;
    let inf = this.#informers.get(key);
    if (!inf) {
      inf = new Informer<KubeObject>(listerWatcher(this.#client, r, selector), { name: r.plural, logger: this.#log });
      this.#informers.set(key, inf);
      if (this.#started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  start(): void {
    this.#started = true;
    for (const inf of this.#informers.values()) inf.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.waitForSync()));
  }

  stop(): void {
    for (const inf of this.#informers.values()) inf.stop();
  }

  all(): Informer<KubeObject>[] {
    return [...this.#informers.values()];
  }
}

export interface ManagerContext {
  /** The shared client (informers' lists and watches, events). */
  client: ApiClient;
  /** The client a controller writes with (its own rate limit), default `client`. */
  clientFor(controller: string): ApiClient;
  informers: SharedInformerFactory;
  events: EventRecorder;
  logger: Logger;
  identity: string;
}

/** Builds a controller: registers its informer handlers and returns it (not started). */
export type ControllerSetup = (ctx: ManagerContext) => Controller;

export interface ManagerOptions {
  client: ApiClient;
  identity: string;
  logger?: Logger;
  controllers: ControllerSetup[];
  /** Omit to run without leader election (a single replica). */
  leaderElection?: { namespace: string; name: string } & Partial<LeaderElectionTiming>;
  /**
   * A client of its own for the Lease (default: `client`). Renewals must not queue behind
   * the controllers' requests on a shared connection pool, or a busy leader misses its
   * renew deadline.
   */
  leaderElectionClient?: ApiClient;
  /** Per-controller clients for writes, by controller name (e.g. a scheduler with its own QPS). */
  controllerClients?: Record<string, ApiClient>;
  /** Where reconciles, queues, leadership and dropped Events are reported (served by --metrics-listen). */
  metrics?: ControllerManagerMetrics;
}

export class ControllerManager {
  readonly context: ManagerContext;
  readonly controllers: Controller[];
  readonly #o: ManagerOptions;
  readonly #log: Logger;
  #elector?: LeaderElector;
  #leading = false;
  /** The elector holds the lease (the controllers may not have started yet: caches syncing). */
  #holdsLease = false;
  #lostResolve!: () => void;
  /** Resolves when this replica stops leading (lost the lease, or stopped), before its controllers have drained. */
  readonly lost: Promise<void>;
  #startedLeading!: () => void;
  readonly leading: Promise<void>;

  constructor(options: ManagerOptions) {
    this.#o = options;
    this.#log = options.logger ?? createLogger('controller-manager');
    const events = new EventRecorder({
      client: options.client,
      component: 'quantix-controller-manager',
      instance: options.identity,
      logger: this.#log,
      ...(options.metrics ? { registry: options.metrics.registry } : {}),
    });
    this.context = {
      client: options.client,
      clientFor: (name) => options.controllerClients?.[name] ?? options.client,
      informers: new SharedInformerFactory(options.client, this.#log),
      events,
      logger: this.#log,
      identity: options.identity,
    };
    this.controllers = options.controllers.map((setup) => setup(this.context));
    if (options.metrics) for (const c of this.controllers) c.instrument(options.metrics);
    this.lost = new Promise((resolve) => (this.#lostResolve = resolve));
    this.leading = new Promise((resolve) => (this.#startedLeading = resolve));
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** Whether the controllers may write now: always without leader election, else while the lease is held (LeaderElector.holdsLease). */
  mayWrite(): boolean {
    if (!this.#o.leaderElection) return true;
    return this.#leading && (this.#elector?.holdsLease() ?? false);
  }

  /** Sets the gauges read at scrape time (queue depths, leadership). */
  refreshMetrics(): void {
    this.#o.metrics?.refresh({
      queues: this.controllers.map((c) => ({ name: c.name, depth: c.queue.len() })),
      leaseName: this.#o.leaderElection?.name ?? 'quantix-controller-manager',
      leading: this.#leading,
      informers: this.context.informers.all().map((i) => ({ resource: i.name, lists: i.stats.lists, reconnects: i.stats.reconnects })),
    });
  }

  /**
   * Starts the informers and, with leader election, campaigns at once; the controllers start
   * once this replica leads and its caches have synced. Campaigning only after the sync (as
   * this did before) left a restarted manager without a leader for minutes when listing from
   * a loaded apiserver was slow (the 1,000-node scale run); kube-controller-manager campaigns
   * first too. Resolves once the caches have synced.
   */
  async start(): Promise<void> {
    this.context.informers.start();
    const synced = this.context.informers.waitForSync().then(() => {
      this.#log.info('caches synced', { informers: this.context.informers.all().map((i) => `${i.name}:${i.store.size}`) });
    });
    const le = this.#o.leaderElection;
    if (!le) {
      await synced;
      this.#lead();
      return;
    }
    this.#elector = new LeaderElector({
      client: this.#o.leaderElectionClient ?? this.#o.client,
      namespace: le.namespace,
      name: le.name,
      identity: this.#o.identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      logger: this.#log,
      onStartedLeading: () => {
        this.#holdsLease = true;
        void synced.then(() => {
          if (this.#holdsLease && !this.#leading) this.#lead();
        });
      },
      onStoppedLeading: () => {
        const held = this.#holdsLease;
        this.#holdsLease = false;
        if (this.#leading) void this.#stopLeading();
        // Lost before the caches synced: nothing started, but the replica must still exit.
        else if (held) this.#lostResolve();
      },
      onNewLeader: (id) => this.#log.info('leader is', { leader: id }),
      onRenewAttempt: (ms, ok) => this.#o.metrics?.leaseRenewals.observe({ result: ok ? 'renewed' : 'failed' }, ms / 1000),
    });
    void this.#elector.run();
    await synced;
  }

  #lead(): void {
    this.#leading = true;
    this.#o.metrics?.leaderTransitions.inc();
    for (const c of this.controllers) c.start();
    this.#startedLeading();
  }

  #stopping?: Promise<void>;

  #stopLeading(): Promise<void> {
    if (!this.#leading) return this.#stopping ?? Promise.resolve();
    this.#leading = false;
    this.#o.metrics?.leaderTransitions.inc();
    // `lost` at once, not after the drain: in-flight reconciles may wait minutes for the client's
    // rate limiter before their writes are refused by the lease fence, and the process should
    // exit and campaign again now (kube-controller-manager exits on the spot).
    this.#lostResolve();
    this.#stopping = Promise.all(this.controllers.map((c) => c.stop())).then(() => undefined);
    return this.#stopping;
  }

  /** Graceful stop: controllers drain, the lease is released, informers stop. */
  async stop(): Promise<void> {
    await this.#elector?.stop(true);
    await this.#stopLeading();
    this.#lostResolve();
    // Give queued events a moment, not the whole rate-limited backlog.
    await Promise.race([this.context.events.flush(), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.context.informers.stop();
  }

  /** Simulates a crash (tests): everything stops at once and the lease is not released. */
  async kill(): Promise<void> {
    this.context.informers.stop();
    await this.#elector?.stop(false);
    await this.#stopLeading();
    this.#lostResolve();
  }
}
