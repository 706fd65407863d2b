/**
 * Where each node's tunnel lives, for every apiserver replica to see: the replica an agent's
 * Tunnel is connected to records `/quantix/tunnels/NODE` = {url, replica} in etcd under a
 * lease of its own (kept alive while the process runs, so a replica that dies takes its
 * records with it within TUNNEL_LEASE_SECONDS). A replica asked for a console or a file
 * listing of a node whose tunnel is elsewhere forwards the request to that url (forward.ts).
 *
 * Each replica also records itself, `/quantix/apiservers/REPLICA` = {url, replica}, under the
 * same lease: GET /logs asks every other replica for the files of its host (`peers()`).
 *
 * Only the replica that wrote a record deletes it (compare-and-delete on the value): when an
 * agent moves to another replica, the newer record is never removed by the older replica
 * noticing late that its tunnel ended.
 */
import { randomUUID } from 'node:crypto';
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../../lib/logging/logger.js';

export const TUNNEL_KEY_PREFIX = '/quantix/tunnels/';
/** One key per running replica (its URL), for requests that go to all of them (GET /logs). */
export const REPLICA_KEY_PREFIX = '/quantix/apiservers/';
/** A dead replica's records expire this long after its last keep-alive. */
export const TUNNEL_LEASE_SECONDS = 15;

export interface TunnelRecord {
  /** The apiserver URL of the replica holding the tunnel, as the other replicas reach it. */
  url: string;
  /** That replica's id (random per process). */
  replica: string;
}

export class TunnelLocator {
  readonly replica = randomUUID();
  #lease: Lease | undefined;
  readonly #local = new Set<string>();
  #stopped = false;
  #registered = false;

  constructor(
    private readonly etcd: Etcd3,
    /** This replica's apiserver URL (https://host:port); its serving certificate must name the host. */
    readonly url: string,
    private readonly log: Logger,
  ) {}

  #value(): string {
    return JSON.stringify({ url: this.url, replica: this.replica } satisfies TunnelRecord);
  }

  #leaseOf(): Lease {
    if (this.#lease) return this.#lease;
    const lease = this.etcd.lease(TUNNEL_LEASE_SECONDS);
    lease.on('lost', (err) => {
      // etcd was unreachable past the TTL: the records are gone; write them again under a new lease.
      if (this.#lease === lease) this.#lease = undefined;
      if (this.#stopped) return;
      this.log.warn('tunnel records lease lost; recording again', { error: err.message });
      for (const node of this.#local) void this.#put(node);
      if (this.#registered) void this.#putReplica();
    });
    this.#lease = lease;
    return lease;
  }

  async #put(node: string): Promise<void> {
    try {
      await this.#leaseOf()
        .put(TUNNEL_KEY_PREFIX + node)
        .value(this.#value());
    } catch (err) {
      this.log.warn('recording a tunnel in etcd failed', { node, error: (err as Error).message });
    }
  }

  async #putReplica(): Promise<void> {
    try {
      await this.#leaseOf()
        .put(REPLICA_KEY_PREFIX + this.replica)
        .value(this.#value());
    } catch (err) {
      this.log.warn('recording this apiserver replica in etcd failed', { error: (err as Error).message });
    }
  }

  /** Records this replica for the others (peers()); its record goes with the lease. */
  registerReplica(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#registered = true;
    return this.#putReplica();
  }

  /** The URLs of the other running replicas (recorded, lease alive: a replica that died goes within TUNNEL_LEASE_SECONDS). */
  async peers(): Promise<string[]> {
    const values = await this.etcd.getAll().prefix(REPLICA_KEY_PREFIX).strings();
    const urls = new Set<string>();
    for (const text of Object.values(values)) {
      try {
        const record = JSON.parse(text) as TunnelRecord;
        if (record.replica !== this.replica && record.url !== this.url) urls.add(record.url);
      } catch {
        // not ours to read
      }
    }
    return [...urls].sort();
  }

  /** The tunnel of `node` is now here. */
  recordLocal(node: string): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#local.add(node);
    return this.#put(node);
  }

  /** The tunnel of `node` ended here: remove the record if it is still ours. */
  async forgetLocal(node: string): Promise<void> {
    this.#local.delete(node);
    const key = TUNNEL_KEY_PREFIX + node;
    try {
      await this.etcd.if(key, 'Value', '==', this.#value()).then(this.etcd.delete().key(key)).commit();
    } catch (err) {
      this.log.warn('removing a tunnel record failed (it expires with the lease)', { node, error: (err as Error).message });
    }
  }

  /** The URL of the other replica holding `node`'s tunnel, or undefined (none, or this one). */
  async peerFor(node: string): Promise<string | undefined> {
    const text = await this.etcd.get(TUNNEL_KEY_PREFIX + node).string();
    if (!text) return undefined;
    try {
      const record = JSON.parse(text) as TunnelRecord;
      return record.replica === this.replica || record.url === this.url ? undefined : record.url;
    } catch {
      return undefined;
    }
  }

  /** This replica stops: its records go with its lease. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#local.clear();
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.revoke().catch(() => undefined);
  }
}
