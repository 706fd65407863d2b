/**
 * Events of the simulated host: lifecycle events of domains and pools and connection
 * events, delivered asynchronously to subscribers (like events read off a socket).
 */
import type { DomainEventType, HypervisorEvent, HypervisorEventListener, PoolEventType, Unsubscribe } from '../driver.js';

export class SimEvents {
  private readonly listeners = new Set<HypervisorEventListener>();

  constructor(private readonly now: () => number) {}

  subscribe(listener: HypervisorEventListener): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(ev: HypervisorEvent): void {
    // Delivered asynchronously, like events read off a socket.
    const listeners = [...this.listeners];
    setImmediate(() => {
      for (const l of listeners) {
        try {
          l(ev);
        } catch {
          // a listener's failure is its own
        }
      }
    });
  }

  domainEvent(d: { uuid: string; config: { name: string } }, type: DomainEventType, detail: string): void {
    this.emit({ kind: 'domain', uuid: d.uuid, name: d.config.name, type, detail, timestamp: this.now() });
  }

  poolEvent(name: string, type: PoolEventType): void {
    this.emit({ kind: 'pool', name, type, timestamp: this.now() });
  }
}
