/**
 * Records core/v1 Events about objects (what `kubectl describe` and `kubectl get events`
 * show). Repeats — same object, type, reason, message and component — are aggregated
 * the way client-go's EventCorrelator does: the existing Event's `count` is bumped and its
 * `lastTimestamp` moved, instead of writing a new Event.
 *
 * Recording never blocks or fails a reconcile: writes are queued, sent in the background
 * (serialized per aggregation key) and failures are logged. Events are the lowest-priority
 * writes a controller makes: they go out through a token bucket (default 10/s, burst 100)
 * so a burst of transitions does not take API capacity from binds and status, and when
 * more than `maxPending` are waiting new ones are dropped and counted (client-go's
 * broadcaster drops on a full queue too).
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
import { TokenBucket } from '../../lib/workqueue/tokenbucket.js';

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
  /** Events waiting beyond this are dropped (default 2000). */
  maxPending?: number;
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
  readonly #pending = new Set<Promise<void>>();
  readonly stats = { created: 0, bumped: 0, failed: 0, dropped: 0 };
  readonly #bucket: TokenBucket;

  constructor(options: EventRecorderOptions) {
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.#bucket = new TokenBucket(options.qps ?? 10, options.burst ?? 100, this.#clock);
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
    if (this.#pending.size >= (this.#o.maxPending ?? 2000)) {
      if (this.stats.dropped++ % 100 === 0) this.#o.logger?.warn('event backlog full: dropping events', { dropped: this.stats.dropped, reason: ev.reason });
      return;
    }
    const ref = objectReference(obj);
    const key = [ref.uid ?? `${ref.namespace}/${ref.name}`, ref.kind, ev.type, ev.reason, ev.message, component].join('\u0000');
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const now = new Date(this.#clock.now()).toISOString();
    const next = previous
      .then(() => this.#bucket.take())
      .then(() => this.#send(key, ref, ev, component, now))
      .catch((err: unknown) => {
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

  async #send(key: string, ref: Event['involvedObject'], ev: EventSpec, component: string, now: string): Promise<void> {
    const seen = this.#cache.get(key);
    if (seen) {
      try {
        await this.#o.client.patch(Events, seen.namespace, seen.name, { count: seen.count + 1, lastTimestamp: now });
        seen.count++;
        this.#touch(key, seen);
        this.stats.bumped++;
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
      metadata: { name, namespace },
      involvedObject: ref,
      type: ev.type,
      reason: ev.reason,
      message: ev.message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component, host: this.#o.instance },
      reportingComponent: component,
      reportingInstance: this.#o.instance,
      ...(ev.action ? { action: ev.action } : {}),
    };
    await this.#o.client.create(Events, event);
    this.stats.created++;
    this.#touch(key, { name, namespace, count: 1, firstTimestamp: now });
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
