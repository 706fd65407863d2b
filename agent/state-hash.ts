/**
 * The state hash the agent sends with heartbeats and reports: a digest of what it reports
 * (per managed VM: uid, phase, power state; per unmanaged domain: UUID and power state;
 * per pool: health). Only durable facts go in — no timestamps, no capacity — so the hash
 * is the same after an agent restart when nothing changed. The gateway compares it with
 * the hash of the last report it accepted and asks for a full sync when they differ.
 *
 * Cheap: entries live in a map, the digest (SHA-256 over the sorted entries, 16 hex
 * digits) is computed only when something changed since the last digest.
 */
import { createHash } from 'node:crypto';

export class StateHash {
  readonly #entries = new Map<string, string>();
  #digest: string | undefined;

  set(key: string, value: string): void {
    if (this.#entries.get(key) === value) return;
    this.#entries.set(key, value);
    this.#digest = undefined;
  }

  delete(key: string): void {
    if (this.#entries.delete(key)) this.#digest = undefined;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  digest(): string {
    if (this.#digest === undefined) {
      const h = createHash('sha256');
      for (const key of [...this.#entries.keys()].sort()) h.update(`${key}=${this.#entries.get(key)}\n`);
      this.#digest = h.digest('hex').slice(0, 16);
    }
    return this.#digest;
  }
}
