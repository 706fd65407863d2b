/**
 * The one place that owns watch streams: every view that needs a resource asks the manager,
 * which keeps a single ResourceWatch per resource however many views use it (ten open views
 * of VMs share one stream), and stops it a little after the last view lets go, so moving
 * between a list and its detail pages does not churn connections.
 *
 * Streams are cluster-wide (all namespaces); views filter in memory. The apiserver speaks
 * HTTP/1.1, where a browser opens at most 6 connections per origin and each watch holds one
 * for as long as it runs, and the six are shared by every tab on the origin: with six kinds
 * (VMs, nodes, pools, events, images, networks) all lingering, no connection would be left
 * for a create or a delete, nor for another tab. So at most `maxStreams` (4) are open: a new
 * stream first closes the streams no view uses any more, the longest unused first; every
 * page reads at most four kinds; and an unused stream lingers only briefly.
 */
import type { KubeObject } from '../../../api-types/meta.js';
import type { ApiClient } from '../api/client.js';
import type { ResourceRef } from '../api/resources.js';
import { ResourceWatch, type ConnectionState, type ResourceWatchOptions } from './resource-watch.js';

export type OverallState = ConnectionState | 'idle';

interface Entry {
  watch: ResourceWatch<KubeObject>;
  users: number;
  stopTimer?: ReturnType<typeof setTimeout>;
  /** When the last view let go (ordering of lingering streams; 0 while in use). */
  idleSince: number;
  unsubscribe: () => void;
}

export interface ConnectionManagerOptions extends ResourceWatchOptions {
  /** How long a stream outlives its last user (DEFAULT_LINGER_MS). */
  lingerMs?: number;
  /** Streams open at most, lingering ones included (a lingering one is closed to make room). */
  maxStreams?: number;
}

export const DEFAULT_MAX_STREAMS = 4;
/**
 * Long enough for list → detail → list without a relist, short because a lingering stream
 * holds one of the six connections every tab of the UI on this origin shares: a request
 * queued behind other tabs' lingering streams waits at most this long.
 */
export const DEFAULT_LINGER_MS = 5_000;

export class ConnectionManager {
  readonly #client: ApiClient;
  readonly #options: ConnectionManagerOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<() => void>();
  #overall: OverallState = 'idle';
  #idleCounter = 0;

  constructor(client: ApiClient, options: ConnectionManagerOptions = {}) {
    this.#client = client;
    this.#options = options;
  }

  /** Uses the shared stream of `ref`; call the returned function when done with it. */
  acquire<T extends KubeObject>(ref: ResourceRef<T>): { watch: ResourceWatch<T>; release: () => void } {
    let entry = this.#entries.get(ref.key);
    if (!entry) {
      this.#makeRoom();
      const watch = new ResourceWatch<KubeObject>(this.#client, ref as ResourceRef, this.#options);
      entry = { watch, users: 0, idleSince: 0, unsubscribe: watch.subscribe(() => this.#recompute()) };
      this.#entries.set(ref.key, entry);
      watch.start();
      this.#recompute();
    }
    clearTimeout(entry.stopTimer);
    entry.stopTimer = undefined;
    entry.idleSince = 0;
    entry.users++;
    const held = entry;
    let released = false;
    return {
      watch: held.watch as unknown as ResourceWatch<T>,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.users > 0) return;
        held.idleSince = ++this.#idleCounter;
        held.stopTimer = setTimeout(() => this.#drop(ref.key, held), this.#options.lingerMs ?? DEFAULT_LINGER_MS);
      },
    };
  }

  /** Streams currently open (for tests and the connection popover). */
  activeKeys(): string[] {
    return [...this.#entries.keys()];
  }

  /** Retry every reconnecting stream now. */
  kick(): void {
    for (const entry of this.#entries.values()) entry.watch.kick();
  }

  stopAll(): void {
    for (const [key, entry] of this.#entries) this.#drop(key, entry);
  }

  getOverall = (): OverallState => this.#overall;

  subscribeOverall = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** Closes lingering streams, the longest unused first, until one more fits under maxStreams. */
  #makeRoom(): void {
    const max = this.#options.maxStreams ?? DEFAULT_MAX_STREAMS;
    const idle = [...this.#entries].filter(([, e]) => e.users === 0).sort(([, a], [, b]) => a.idleSince - b.idleSince);
    while (this.#entries.size >= max && idle.length > 0) {
      const [key, entry] = idle.shift()!;
      this.#drop(key, entry);
    }
  }

  #drop(key: string, entry: Entry): void {
    if (this.#entries.get(key) !== entry) return;
    clearTimeout(entry.stopTimer);
    entry.unsubscribe();
    entry.watch.stop();
    this.#entries.delete(key);
    this.#recompute();
  }

  #recompute(): void {
    const states = [...this.#entries.values()].map((e) => e.watch.getSnapshot().state);
    const next = overallOf(states);
    if (next === this.#overall) return;
    this.#overall = next;
    for (const listener of [...this.#listeners]) listener();
  }
}

/** The badge state: the worst of the streams (error > reconnecting > connecting > live). */
export function overallOf(states: readonly ConnectionState[]): OverallState {
  if (states.length === 0) return 'idle';
  for (const worst of ['error', 'reconnecting', 'connecting'] as const) if (states.includes(worst)) return worst;
  return 'live';
}
