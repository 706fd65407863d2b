/**
 * The heartbeat (default every 10 s): state hash, per-pool status, capacity, node facts and
 * whether libvirtd is reachable. The answer may ask for a full sync; a refused credential
 * or a deleted Node makes the agent register again; a failure marks the control plane
 * unreachable (domains are left as they are).
 */
import { GatewayError } from '../api-types/proto/errors.js';
import type { Logger } from '../lib/logging/logger.js';
import type { DomainCache } from './domain-cache.js';
import type { FullSync } from './full-sync.js';
import type { GatewayClient } from './gateway-client.js';
import type { Reporter } from './reporter.js';
import type { NodeSession } from './session.js';

export interface HeartbeatDeps {
  client: GatewayClient;
  session: NodeSession;
  reporter: Reporter;
  domains: DomainCache;
  fullSync: FullSync;
  intervalMs: number;
  log: Logger;
  running: () => boolean;
}

export class Heartbeat {
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: HeartbeatDeps) {}

  schedule(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.beat().finally(() => {
        if (this.deps.running()) this.schedule(this.deps.intervalMs);
      });
    }, delayMs);
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** One heartbeat (also run by the timer). */
  async beat(): Promise<void> {
    const { client, session, reporter, domains, fullSync, log } = this.deps;
    if (!this.deps.running()) return;
    try {
      const facts = await session.nodeFacts();
      const res = await client.heartbeat({
        stateHash: reporter.hash.digest(),
        pools: [...reporter.pools.values()],
        capacity: facts.capacity,
        allocatable: facts.capacity,
        nodeInfo: facts.nodeInfo,
        hypervisorReady: domains.hypervisorUp,
        hypervisorMessage: domains.hypervisorUp ? '' : 'libvirtd is not reachable',
        addresses: session.addresses(),
      });
      const wasDown = !session.controlPlaneReachable;
      session.controlPlaneReachable = true;
      if (fullSync.initialDone && (res.requestFullSync || reporter.needsFullSync || wasDown)) {
        log.info('full sync requested', { reason: res.fullSyncReason || (wasDown ? 'control plane reachable again' : 'a report was not delivered') });
        void fullSync.run();
      }
    } catch (err) {
      const e = err instanceof GatewayError ? err : undefined;
      if (e && (e.reason === 'Unauthorized' || e.reason === 'NotFound')) {
        log.warn('heartbeat refused: registering again', { reason: e.reason, error: e.message });
        await session.reregister();
        return;
      }
      if (session.controlPlaneReachable)
        log.warn('heartbeat failed: control plane unreachable; domains are left as they are', { error: (err as Error).message });
      session.controlPlaneReachable = false;
    }
  }
}
