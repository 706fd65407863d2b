/**
 * The one place that owns watch streams: every view that needs a resource asks the manager,
 * which keeps a single ResourceWatch per resource however many views use it (ten open views
 * of VMs share one stream), and stops it a little after the last view lets go, so moving
 * between pages does not churn connections.
 *
 * Streams are cluster-wide (all namespaces); views filter in memory. That bounds the open
 * connections to one per resource kind (4), well under the browser's 6 per origin.
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
  unsubscribe: () => void;
}

export interface ConnectionManagerOptions extends ResourceWatchOptions {
  /** How long a stream outlives its last user. */
  lingerMs?: number;
}

export class ConnectionManager {
  readonly #client: ApiClient;
  readonly #options: ConnectionManagerOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<() => void>();
  #overall: OverallState = 'idle';

  constructor(client: ApiClient, options: ConnectionManagerOptions = {}) {
    this.#client = client;
    this.#options = options;
  }

  /** Uses the shared stream of `ref`; call the returned function when done with it. */
  acquire<T extends KubeObject>(ref: ResourceRef<T>): { watch: ResourceWatch<T>; release: () => void } {
    let entry = this.#entries.get(ref.key);
    if (!entry) {
      const watch = new ResourceWatch<KubeObject>(this.#client, ref as ResourceRef, this.#options);
      entry = { watch, users: 0, unsubscribe: watch.subscribe(() => this.#recompute()) };
      this.#entries.set(ref.key, entry);
      watch.start();
      this.#recompute();
    }
    clearTimeout(entry.stopTimer);
    entry.stopTimer = undefined;
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
        held.stopTimer = setTimeout(() => this.#drop(ref.key, held), this.#options.lingerMs ?? 30_000);
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
