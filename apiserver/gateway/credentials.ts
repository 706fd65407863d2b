/**
 * Node credentials: issued by RegisterNode, stored hashed in etcd under
 * `/quantix/node-credentials/<node>` next to the machine id that owns the hostname.
 *
 * A credential is `<node>.<secret>` (32 random bytes, base64url). Secrets have 256 bits of
 * entropy, so a plain SHA-256 is enough to store them (no slow hash needed: nothing to
 * brute-force). A record keeps the last few secrets so that concurrent registrations of
 * one machine (or an agent that restarts before persisting its credential) all end up with
 * a working credential.
 *
 * Every change of a record is a compare-and-swap on its etcd mod revision.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { Groups, NODE_USER_PREFIX, nodeNameOf, type Authenticator, type UserInfo } from '../auth/identity.js';
import { nodeOfCertificateSubject } from '../../lib/pki/node-certificate-subject.js';

/** The uid of the Node named `node` as it exists now (undefined: none). `expectedUid` is the uid the caller holds, a hint for where to look. */
export type NodeUidLookup = (node: string, expectedUid?: string) => Promise<string | undefined>;

export const NODE_CREDENTIALS_PREFIX = '/quantix/node-credentials/';
/** How many secrets a record keeps (oldest dropped first). */
export const MAX_SECRETS = 3;
/** How long the authenticator trusts a verified token before looking at etcd again. */
export const AUTH_CACHE_TTL_MS = 5_000;
/** How long a token that failed verification is refused without asking etcd (Kubernetes' token cache: 10 s). */
export const AUTH_FAILURE_CACHE_TTL_MS = 5_000;
/** Entries per cache; the oldest go first (a flood of random tokens cannot grow the heap). */
const AUTH_CACHE_MAX_ENTRIES = 10_000;

export interface CredentialRecord {
  node: string;
  machineID: string;
  /** The uid of the Node this machine registered; empty while its first registration runs. */
  nodeUID: string;
  /** Bearer secrets (agents that send no certificate request); emptied once the node has a certificate. */
  secrets: { sha256: string; issuedAt: string }[];
  /** Client certificates issued to the node (the newest few): only these authenticate it. */
  certificates?: { serial: string; notAfter: string; issuedAt: string }[];
  /** `qxctl node revoke`: nothing of this record authenticates until the host joins again with a bootstrap token. */
  revokedAt?: string;
  createdAt: string;
}

/** How many client certificates a record keeps (a renewal overlaps the one it replaces). */
export const MAX_CERTIFICATES = 3;

export interface StoredRecord {
  record: CredentialRecord;
  /** etcd mod revision, for compare-and-swap. */
  modRevision: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** `node.secret` → parts. Node names may contain dots, secrets (base64url) never do: split at the last one. */
export function parseCredential(token: string): { node: string; secret: string } | undefined {
  const dot = token.lastIndexOf('.');
  if (dot <= 0 || dot === token.length - 1) return undefined;
  return { node: token.slice(0, dot), secret: token.slice(dot + 1) };
}

export function nodeUser(node: string, uid: string): UserInfo {
  return { name: `${NODE_USER_PREFIX}${node}`, uid: uid || `node:${node}`, groups: [Groups.nodes, Groups.authenticated] };
}

function matches(record: CredentialRecord, secret: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  return record.secrets.some((s) => {
    const known = Buffer.from(s.sha256, 'hex');
    return known.length === presented.length && timingSafeEqual(known, presented);
  });
}

/** Reads and writes credential records in etcd. */
export class CredentialStore {
  constructor(private readonly etcd: Etcd3) {}

  async get(node: string): Promise<StoredRecord | undefined> {
    const res = await this.etcd.get(NODE_CREDENTIALS_PREFIX + node).exec();
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { record: JSON.parse(kv.value.toString('utf8')) as CredentialRecord, modRevision: String(kv.mod_revision) };
  }

  /**
   * Writes `record` if the stored one is still at `expected` (undefined: only if absent).
   * Returns false when someone else wrote first (the caller re-reads and decides again).
   */
  async compareAndSwap(record: CredentialRecord, expected: StoredRecord | undefined): Promise<boolean> {
    const key = NODE_CREDENTIALS_PREFIX + record.node;
    const value = JSON.stringify(record);
    const txn = expected ? this.etcd.if(key, 'Mod', '==', expected.modRevision) : this.etcd.if(key, 'Create', '==', 0);
    const res = await txn.then(this.etcd.put(key).value(value)).commit();
    return Boolean(res.succeeded);
  }

  async verify(token: string): Promise<{ node: string; record: CredentialRecord } | undefined> {
    const parsed = parseCredential(token);
    if (!parsed) return undefined;
    const stored = await this.get(parsed.node);
    if (!stored || stored.record.revokedAt || !matches(stored.record, parsed.secret)) return undefined;
    return { node: parsed.node, record: stored.record };
  }

  /** The record of `node` when `serial` is one of its certificates and it is not revoked. */
  async verifyCertificate(node: string, serial: string): Promise<CredentialRecord | undefined> {
    const stored = await this.get(node);
    if (!stored || stored.record.revokedAt) return undefined;
    return stored.record.certificates?.some((c) => c.serial === serial) ? stored.record : undefined;
  }

  /** Revokes every credential of `node` at once (its secrets and certificates); false when it has none. */
  async revoke(node: string, now: Date): Promise<boolean> {
    for (;;) {
      const stored = await this.get(node);
      if (!stored) return false;
      const record: CredentialRecord = { ...stored.record, secrets: [], certificates: [], revokedAt: now.toISOString() };
      if (await this.compareAndSwap(record, stored)) return true;
    }
  }
}

/** Adds a fresh secret to `record` (keeping the newest MAX_SECRETS) and returns the credential. */
export function issueSecret(record: CredentialRecord, now: Date): { record: CredentialRecord; credential: string } {
  const secret = newSecret();
  const secrets = [...record.secrets, { sha256: hashSecret(secret), issuedAt: now.toISOString() }].slice(-MAX_SECRETS);
  return { record: { ...record, secrets }, credential: `${record.node}.${secret}` };
}

/**
 * Authenticates node credentials for the REST API and the gateway. Created before the
 * apiserver's etcd client exists, bound to it with `attach` (the apiserver calls its
 * `extraRoutes` hook before it listens). Verified tokens are cached for a few seconds so
 * a busy agent does not cost an etcd read per request; a rotated-out secret stops working
 * within AUTH_CACHE_TTL_MS. A token that failed is refused from memory for
 * AUTH_FAILURE_CACHE_TTL_MS, so repeating a bad token does not cost an etcd read either (an
 * etcd error is not a failure: it is not remembered).
 */
export class NodeCredentialAuthenticator implements Authenticator {
  #store: CredentialStore | undefined;
  #nodeUid: NodeUidLookup | undefined;
  readonly #cache = new Map<string, { user: UserInfo; expiresAt: number }>();
  readonly #failed = new Map<string, number>();

  /** `nodeUid` tells the uid of a Node that exists now: a credential of a deleted Node is refused. */
  attach(etcd: Etcd3, nodeUid?: NodeUidLookup): void {
    this.#store = new CredentialStore(etcd);
    if (nodeUid) this.#nodeUid = nodeUid;
    this.#cache.clear();
  }

  /** Forgets what was verified about `node` (revoked or deleted: the next call asks etcd). */
  forget(node: string): void {
    for (const [key, entry] of this.#cache) if (nodeNameOf(entry.user) === node) this.#cache.delete(key);
  }

  /** A record is good for its Node only while that Node exists with the uid it registered. */
  async #nodeCurrent(record: CredentialRecord): Promise<boolean> {
    if (!this.#nodeUid) return true; // no apiserver store to ask (unit tests)
    if (!record.nodeUID) return false;
    const uid = await this.#nodeUid(record.node, record.nodeUID);
    return uid === undefined ? false : uid === record.nodeUID;
  }

  /**
   * A client certificate the TLS layer verified against the cluster CA: its subject names
   * the node, and its serial must be one the node's record holds (so revocation and Node
   * deletion take effect although the certificate itself has not expired).
   */
  async authenticateCertificate(cert: { subject: string; serialNumber: string }): Promise<UserInfo | undefined> {
    const node = nodeOfCertificateSubject(cert.subject);
    if (!this.#store || !node) return undefined;
    const serial = cert.serialNumber.toUpperCase();
    const key = `cert:${node}:${serial}`;
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && hit.expiresAt > now) return hit.user;
    let record: CredentialRecord | undefined;
    try {
      record = await this.#store.verifyCertificate(node, serial);
      if (record && !(await this.#nodeCurrent(record))) record = undefined;
    } catch {
      return undefined;
    }
    if (!record) {
      this.#cache.delete(key);
      return undefined;
    }
    const user = nodeUser(node, record.nodeUID);
    remember(this.#cache, key, { user, expiresAt: now + AUTH_CACHE_TTL_MS });
    return user;
  }

  get store(): CredentialStore {
    if (!this.#store) throw new Error('NodeCredentialAuthenticator used before attach()');
    return this.#store;
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    if (!this.#store || !parseCredential(token)) return undefined;
    const now = Date.now();
    const hit = this.#cache.get(token);
    if (hit && hit.expiresAt > now) return hit.user;
    const failedUntil = this.#failed.get(token);
    if (failedUntil !== undefined && failedUntil > now) return undefined;
    let verified: Awaited<ReturnType<CredentialStore['verify']>>;
    try {
      verified = await this.#store.verify(token);
      if (verified && !(await this.#nodeCurrent(verified.record))) verified = undefined;
    } catch {
      return undefined;
    }
    if (!verified) {
      this.#cache.delete(token);
      remember(this.#failed, token, now + AUTH_FAILURE_CACHE_TTL_MS);
      return undefined;
    }
    this.#failed.delete(token);
    const user = nodeUser(verified.node, verified.record.nodeUID);
    remember(this.#cache, token, { user, expiresAt: now + AUTH_CACHE_TTL_MS });
    return user;
  }
}

/** Sets `key` (as the newest entry), dropping the oldest entries beyond AUTH_CACHE_MAX_ENTRIES. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  cache.set(key, value);
  for (const oldest of cache.keys()) {
    if (cache.size <= AUTH_CACHE_MAX_ENTRIES) break;
    cache.delete(oldest);
  }
}
