/**
 * Records core/v1 Events about objects (what `kubectl describe` and `kubectl get events`
 * show). Repeats — same object, type, reason, message and component — are aggregated
 * the way client-go's EventCorrelator does: the existing Event's `count` is bumped and its
 * `lastTimestamp` moved, instead of writing a new Event. Repeats that arrive while a write
 * for the same key is still waiting are folded into that write (its count and
 * lastTimestamp), so 2,000 identical `FailedScheduling` in a burst cost one or two writes,
 * not 2,000, and never fill the backlog.
 *
 * Recording never blocks or fails a reconcile: writes are queued, sent in the background
 * (serialized per aggregation key) and failures are logged. Events are the lowest-priority
 * writes a controller makes: they go out through a token bucket (default 10/s, burst 100)
 * so a burst of transitions does not take API capacity from binds and status, and when
 * more than `maxPending` distinct writes are waiting new ones are dropped (client-go's
 * broadcaster drops on a full queue too): every drop is counted in the Prometheus counter
 * `quantix_controller_events_dropped_total` (writes sent: `quantix_controller_event_writes_total`) and logged once per `dropLogIntervalMs`
 * (default 60 s) with the count since the last such line, never once per event.
 *
 * An Event carries the correlation id of the object it is about (its quantix.io/correlation-id
 * annotation, the user action being acted on): in its own annotation, and as the X-Request-Id
 * of its writes. Events of different actions are not aggregated together.
 */
import { randomBytes } from 'node:crypto';
import type { Event, EventType } from '../../api-types/generated/types.js';
import type { KubeObject } from '../../api-types/meta.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { Clock } from '../../lib/clock/clock.js';
import { realClock } from '../../lib/clock/clock.js';
import type { ApiClient } from './client.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import { Events } from './resources.js';
import { correlationIdOf } from './correlation.js';
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import { TokenBucket } from '../../lib/workqueue/tokenbucket.js';
import { Counter, Registry } from 'prom-client';

export interface EventSpec {
  type: EventType;
  reason: string;
  message: string;
  /** What was done or failed, e.g. Binding. */
  action?: string;
}

export interface Recorder {
  record(obj: KubeObject, event: EventSpec): void;
}

export interface EventRecorderOptions {
  client: ApiClient;
  /** e.g. quantix-scheduler */
  component: string;
  /** The reporting instance (host name / identity). */
  instance: string;
  clock?: Clock;
  logger?: Logger;
  /** Aggregation keys remembered (LRU; default 4096). */
  cacheSize?: number;
  /** Event writes per second (default 10) and burst (default 100). */
  qps?: number;
  burst?: number;
  /** Distinct event writes waiting beyond this are dropped (default 2000). */
  maxPending?: number;
  /** A drop is logged at most once per this interval (default 60 s). */
  dropLogIntervalMs?: number;
  /** Where the recorder's metrics are registered (default: a registry of its own, `recorder.registry`). */
  registry?: Registry;
}

/** Repeats of one key recorded while its write waits for its turn: sent as one write. */
interface Waiting {
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
}

interface Aggregate {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
}

export class EventRecorder implements Recorder {
  readonly #o: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #cache = new Map<string, Aggregate>();
  readonly #chains = new Map<string, Promise<void>>();
  /** Per key, the repeats folded into the write that has not started yet. */
  readonly #waiting = new Map<string, Waiting>();
  readonly #pending = new Set<Promise<void>>();
  readonly stats = { created: 0, bumped: 0, folded: 0, failed: 0, dropped: 0 };
  readonly #bucket: TokenBucket;
  readonly registry: Registry;
  readonly #droppedTotal: Counter;
  readonly #writesTotal: Counter;
  /** When a drop was last logged, and drops since. */
  #dropLog: { atMs: number; since: number } | undefined;

  constructor(options: EventRecorderOptions) {
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.#bucket = new TokenBucket(options.qps ?? 10, options.burst ?? 100, this.#clock);
    this.registry = options.registry ?? new Registry();
    this.#droppedTotal =
      (this.registry.getSingleMetric('quantix_controller_events_dropped_total') as Counter | undefined) ??
      new Counter({
        name: 'quantix_controller_events_dropped_total',
        help: 'Events not recorded because the backlog of event writes was full',
        registers: [this.registry],
      });
    this.#writesTotal =
      (this.registry.getSingleMetric('quantix_controller_event_writes_total') as Counter | undefined) ??
      new Counter({
        name: 'quantix_controller_event_writes_total',
        help: 'Event writes sent: new Events and count bumps of repeats',
        registers: [this.registry],
      });
  }

  /** A recorder reporting as another component (shares the aggregation cache). */
  forComponent(component: string): Recorder {
    return { record: (obj, ev) => this.#record(obj, ev, component) };
  }

  record(obj: KubeObject, event: EventSpec): void {
    this.#record(obj, event, this.#o.component);
  }

  /** Resolves once every queued write has been sent (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }

  #record(obj: KubeObject, ev: EventSpec, component: string): void {
    const ref = objectReference(obj);
    const correlationId = correlationIdOf(obj);
    const key = [ref.uid ?? `${ref.namespace}/${ref.name}`, ref.kind, ev.type, ev.reason, ev.message, component, correlationId ?? ''].join('\u0000');
    const now = new Date(this.#clock.now()).toISOString();
    const waiting = this.#waiting.get(key);
    if (waiting) {
      // A write for this key has not started yet: it carries this repeat too.
      waiting.count++;
      waiting.lastTimestamp = now;
      this.stats.folded++;
      return;
    }
    if (this.#pending.size >= (this.#o.maxPending ?? 2000)) {
      this.#dropped(ev);
      return;
    }
    const batch: Waiting = { count: 1, firstTimestamp: now, lastTimestamp: now };
    this.#waiting.set(key, batch);
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.#bucket.take())
      .then(() => {
        // From here on repeats start a new write (this one's count is fixed now).
        if (this.#waiting.get(key) === batch) this.#waiting.delete(key);
        return this.#send(key, ref, ev, component, batch, correlationId);
      })
      .catch((err: unknown) => {
        if (this.#waiting.get(key) === batch) this.#waiting.delete(key);
        this.stats.failed++;
        this.#o.logger?.warn('could not record event', { reason: ev.reason, object: `${ref.kind}/${ref.name}`, error: (err as Error)?.message ?? String(err) });
      });
    this.#chains.set(key, next);
    this.#pending.add(next);
    void next.finally(() => {
      this.#pending.delete(next);
      if (this.#chains.get(key) === next) this.#chains.delete(key);
    });
  }

  #dropped(ev: EventSpec): void {
    this.stats.dropped++;
    this.#droppedTotal.inc();
    const nowMs = this.#clock.now();
    const interval = this.#o.dropLogIntervalMs ?? 60_000;
    if (this.#dropLog && nowMs - this.#dropLog.atMs < interval) {
      this.#dropLog.since++;
      return;
    }
    const since = (this.#dropLog?.since ?? 0) + 1;
    this.#dropLog = { atMs: nowMs, since: 0 };
    this.#o.logger?.warn('event backlog full: dropping events', {
      droppedSinceLastLog: since,
      droppedTotal: this.stats.dropped,
      backlog: this.#pending.size,
      reason: ev.reason,
    });
  }

  async #send(key: string, ref: Event['involvedObject'], ev: EventSpec, component: string, batch: Waiting, correlationId: string | undefined): Promise<void> {
    const client = this.#o.client.withCorrelationId(correlationId);
    const seen = this.#cache.get(key);
    if (seen) {
      try {
        await client.patch(Events, seen.namespace, seen.name, { count: seen.count + batch.count, lastTimestamp: batch.lastTimestamp });
        seen.count += batch.count;
        this.#touch(key, seen);
        this.stats.bumped++;
        this.#writesTotal.inc();
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.#cache.delete(key); // the Event expired or was deleted: start a new one
      }
    }
    const namespace = ref.namespace || 'default';
    const name = `${ref.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`;
    const event: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace, ...(correlationId ? { annotations: { [CORRELATION_ID_ANNOTATION]: correlationId } } : {}) },
      involvedObject: ref,
      type: ev.type,
      reason: ev.reason,
      message: ev.message,
      count: batch.count,
      firstTimestamp: batch.firstTimestamp,
      lastTimestamp: batch.lastTimestamp,
      source: { component, host: this.#o.instance },
      reportingComponent: component,
      reportingInstance: this.#o.instance,
      ...(ev.action ? { action: ev.action } : {}),
    };
    await client.create(Events, event);
    this.stats.created++;
    this.#writesTotal.inc();
    this.#touch(key, { name, namespace, count: batch.count, firstTimestamp: batch.firstTimestamp });
  }

  #touch(key: string, agg: Aggregate): void {
    this.#cache.delete(key);
    this.#cache.set(key, agg);
    const max = this.#o.cacheSize ?? 4096;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
  }
}

export function objectReference(obj: KubeObject): Event['involvedObject'] {
  const ref: Event['involvedObject'] = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name: obj.metadata.name,
    uid: obj.metadata.uid,
    resourceVersion: obj.metadata.resourceVersion,
  };
  if (obj.metadata.namespace) ref.namespace = obj.metadata.namespace;
  return Object.fromEntries(Object.entries(ref).filter(([, v]) => v !== undefined)) as Event['involvedObject'];
}

/** Collects events in memory (unit tests of controllers). */
export class FakeRecorder implements Recorder {
  readonly events: (EventSpec & { object: string })[] = [];
  record(obj: KubeObject, event: EventSpec): void {
    this.events.push({ object: `${obj.kind}/${obj.metadata.namespace ? obj.metadata.namespace + '/' : ''}${obj.metadata.name}`, ...event });
  }
}
