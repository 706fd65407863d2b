/**
 * The state watcher: what the hypervisor runs, kept in memory and kept fresh by
 *   - libvirt lifecycle events, pushed as they happen: each one re-reads that domain
 *     (one cheap RPC) and reports the change;
 *   - a safety poll (default every 10 s): one listDomains, diffed against the cache, for
 *     anything an event did not tell (events are lost while disconnected);
 *   - a re-read after each of the agent's own mutations (`refresh`);
 *   - a full re-list whenever the connection to libvirtd is restored.
 * Domains with a nil or malformed UUID are skipped. Reconcile reads domains from here
 * instead of asking libvirt again.
 */
import type { DomainInfo, HypervisorDriver, HypervisorEvent } from './hypervisor/driver.js';
import { isHypervisorError } from './hypervisor/errors.js';
import type { Logger } from '../lib/logging/logger.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export function isTrackedUuid(uuid: string): boolean {
  return UUID.test(uuid) && uuid !== NIL_UUID;
}

export interface DomainChange {
  uuid: string;
  previous: DomainInfo | undefined;
  current: DomainInfo | undefined;
  /** Receive time of the libvirt event that caused the change, if one did. */
  eventTime?: number;
}

/**
 * Whether libvirt tells anything new about a domain: only then is its key enqueued. This
 * is about the observation, not about the status (the reporter decides whether a status
 * report is sent); without it every safety poll would wake every key a second time.
 */
/** Whether two reads of a domain say the same (what a report of it depends on). */
export function sameObservation(a: DomainInfo | undefined, b: DomainInfo | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.state === b.state &&
    a.reason === b.reason &&
    a.persistent === b.persistent &&
    a.name === b.name &&
    a.id === b.id &&
    a.vcpus === b.vcpus &&
    a.memoryBytes === b.memoryBytes &&
    (a.owner?.uid ?? '') === (b.owner?.uid ?? '') &&
    (a.owner?.name ?? '') === (b.owner?.name ?? '')
  );
}

export class DomainCache {
  readonly #domains = new Map<string, DomainInfo>();
  readonly #inflight = new Map<string, { again: boolean; eventTime?: number; done: Promise<void> }>();
  #unsubscribe: (() => void) | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #listed = false;
  #hypervisorUp = false;
  #listing: Promise<void> | undefined;

  constructor(
    private readonly driver: HypervisorDriver,
    private readonly onChange: (change: DomainChange) => void,
    private readonly onPoolEvent: (name: string) => void,
    private readonly onConnection: (up: boolean, message?: string) => void,
    private readonly log: Logger,
    private readonly pollIntervalMs: number,
  ) {}

  get hypervisorUp(): boolean {
    return this.#hypervisorUp;
  }

  /** True once a full list succeeded since the last (re)connect: "missing" means missing. */
  get listed(): boolean {
    return this.#listed;
  }

  get(uuid: string): DomainInfo | undefined {
    return this.#domains.get(uuid);
  }

  all(): DomainInfo[] {
    return [...this.#domains.values()];
  }

  start(): void {
    this.#unsubscribe = this.driver.subscribe((event) => this.#onEvent(event));
    this.#hypervisorUp = this.driver.connectionState() === 'connected';
    this.#schedulePoll();
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  #schedulePoll(): void {
    if (this.pollIntervalMs <= 0) return;
    this.#pollTimer = setTimeout(() => {
      void this.relist()
        .catch(() => undefined)
        .finally(() => {
          if (this.#unsubscribe) this.#schedulePoll();
        });
    }, this.pollIntervalMs);
    this.#pollTimer.unref?.();
  }

  #onEvent(event: HypervisorEvent): void {
    switch (event.kind) {
      case 'domain':
        if (isTrackedUuid(event.uuid)) void this.refresh(event.uuid, event.timestamp);
        return;
      case 'pool':
        this.onPoolEvent(event.name);
        return;
      case 'connection':
        if (event.state === 'lost') {
          this.#hypervisorUp = false;
          this.#listed = false;
          this.log.warn('hypervisor connection lost', { error: event.message });
          this.onConnection(false, event.message);
        } else {
          this.#hypervisorUp = true;
          this.log.info('hypervisor connection restored: re-listing domains');
          void this.relist().then(
            () => this.onConnection(true),
            () => this.onConnection(true),
          );
        }
    }
  }

  #set(uuid: string, next: DomainInfo | undefined, eventTime?: number): void {
    const previous = this.#domains.get(uuid);
    if (sameObservation(previous, next)) return;
    if (next) this.#domains.set(uuid, next);
    else this.#domains.delete(uuid);
    this.onChange({ uuid, previous, current: next, eventTime });
  }

  /**
   * Re-reads one domain. Calls for the same domain are serialized (a second one while the
   * first runs re-reads once more afterwards), so answers never apply out of order.
   */
  refresh(uuid: string, eventTime?: number): Promise<void> {
    const running = this.#inflight.get(uuid);
    if (running) {
      running.again = true;
      running.eventTime = eventTime ?? running.eventTime;
      return running.done;
    }
    const entry: { again: boolean; eventTime?: number; done: Promise<void> } = { again: false, eventTime, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          const at = entry.eventTime;
          entry.eventTime = undefined;
          try {
            this.#set(uuid, await this.driver.getDomain(uuid), at);
          } catch (err) {
            if (isHypervisorError(err, 'DomainNotFound')) this.#set(uuid, undefined, at);
            else if (!isHypervisorError(err, 'HypervisorUnavailable')) this.log.warn('reading a domain failed', { uuid, error: (err as Error).message });
          }
        } while (entry.again);
      } finally {
        this.#inflight.delete(uuid);
      }
    })();
    this.#inflight.set(uuid, entry);
    return entry.done;
  }

  /** One listDomains, diffed against the cache. Concurrent callers share one list. */
  relist(): Promise<void> {
    if (this.#listing) return this.#listing;
    this.#listing = (async () => {
      try {
        const list = await this.driver.listDomains();
        this.#hypervisorUp = true;
        const seen = new Set<string>();
        for (const d of list) {
          if (!isTrackedUuid(d.uuid)) continue;
          seen.add(d.uuid);
          // A re-read in flight has fresher data than the list may have.
          if (!this.#inflight.has(d.uuid)) this.#set(d.uuid, d);
        }
        for (const uuid of [...this.#domains.keys()]) if (!seen.has(uuid) && !this.#inflight.has(uuid)) this.#set(uuid, undefined);
        this.#listed = true;
      } catch (err) {
        if (isHypervisorError(err, 'HypervisorUnavailable')) this.#hypervisorUp = false;
        throw err;
      } finally {
        this.#listing = undefined;
      }
    })();
    return this.#listing;
  }
}
