/**
 * Bootstrap tokens: short-lived secrets an admin hands to a host so that it can join
 * (`qxctl token create`, then `quantix-agent join --token ...`), as kubeadm's.
 *
 * A token is `<id>.<secret>`: 6 then 16 characters of [a-z0-9]. The id names the token (in
 * lists, logs, and the etcd key `/quantix/bootstrap-tokens/<id>`); only a SHA-256 of the
 * secret is stored, with the expiry. 16 random characters of 36 are 82 bits: more than an
 * online guesser gets through, so a plain hash (no slow KDF) is enough, as for kubeadm's.
 *
 * A deleted token leaves a tombstone until its expiry (plus a day), so that presenting it
 * answers TOKEN_REVOKED rather than TOKEN_INVALID; an expired one answers TOKEN_EXPIRED for
 * a day; a single-use token that joined a host answers TOKEN_ALREADY_USED. The registration
 * marks a single-use token used with a compare-and-swap, so two hosts racing with one token
 * cannot both join.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { ApiError } from '../../lib/apimachinery/status-error.js';
import { httpStatusFor, type HostJoinErrorCode } from '../../lib/host-join/codes.js';
import { Groups, type Authenticator, type UserInfo } from '../auth/identity.js';

export const BOOTSTRAP_TOKENS_PREFIX = '/quantix/bootstrap-tokens/';
export const BOOTSTRAP_TOKEN_FORMAT = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
/** How long an expired or deleted token is remembered, to say so instead of "invalid". */
const TOMBSTONE_MS = 24 * 3_600_000;
/** The longest TTL a token may have (kubeadm's default is 24 h; a join token is not a credential to keep). */
export const MAX_TTL_SECONDS = 7 * 24 * 3600;
const DEFAULT_TTL_SECONDS = 3600;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Why a presented bootstrap token is refused: the host-join error codes (lib/host-join/codes.ts). */
export type TokenRefusalCode = Extract<HostJoinErrorCode, 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED' | 'TOKEN_ALREADY_USED'>;

export interface BootstrapTokenRecord {
  id: string;
  secretSha256: string;
  description: string;
  /** RFC 3339. */
  expiration: string;
  singleUse: boolean;
  createdAt: string;
  createdBy: string;
  /** The node a single-use token joined, and when. */
  usedBy?: string;
  usedAt?: string;
  /** Set by `token delete`: the token is refused with TOKEN_REVOKED. */
  revokedAt?: string;
}

interface StoredToken {
  record: BootstrapTokenRecord;
  modRevision: string;
}

export interface CreateTokenRequest {
  ttlSeconds?: number;
  description?: string;
  singleUse?: boolean;
}

export function randomTokenPart(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * The refusal for a token, as an Unauthorized Status whose first cause carries the code: the
 * reason stays Unauthorized (what clients and the agent's retry logic key on), and
 * lib/host-join's hostJoinCodeOf reads the code from `causes[0].reason`.
 */
export function tokenRefusal(code: TokenRefusalCode, id?: string): ApiError {
  const what = id ? `bootstrap token "${id}"` : 'the bootstrap token';
  const message: Record<TokenRefusalCode, string> = {
    TOKEN_MISSING: 'no token was presented: pass the bootstrap token from `qxctl token create`',
    TOKEN_INVALID: `${what} is not valid: it is unknown or its secret is wrong; create a new one with \`qxctl token create\``,
    TOKEN_EXPIRED: `${what} has expired; create a new one with \`qxctl token create\``,
    TOKEN_REVOKED: `${what} was deleted by an admin; create a new one with \`qxctl token create\``,
    TOKEN_ALREADY_USED: `${what} is single-use and has already joined a host; create a new one with \`qxctl token create\``,
  };
  return new ApiError(httpStatusFor(code), 'Unauthorized', `Unauthorized: ${code}: ${message[code]}`, {
    ...(id ? { name: id } : {}),
    group: 'quantix.io',
    kind: 'bootstraptokens',
    causes: [{ reason: code, message: message[code], field: 'token' }],
  });
}

export function bootstrapUser(id: string): UserInfo {
  return { name: `${BOOTSTRAP_USER_PREFIX}${id}`, uid: `bootstrap-token:${id}`, groups: [Groups.bootstrappers, Groups.authenticated] };
}

/** The token id of a bootstrap identity, or undefined for any other user. */
export function bootstrapTokenIdOf(user: UserInfo): string | undefined {
  return user.name.startsWith(BOOTSTRAP_USER_PREFIX) && user.groups.includes(Groups.bootstrappers) ? user.name.slice(BOOTSTRAP_USER_PREFIX.length) : undefined;
}

/** Bootstrap tokens in etcd, and the authenticator that accepts them (bound to etcd by `attach`). */
export class BootstrapTokens implements Authenticator {
  #etcd: Etcd3 | undefined;
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  attach(etcd: Etcd3): void {
    this.#etcd = etcd;
  }

  get #client(): Etcd3 {
    if (!this.#etcd) throw new Error('BootstrapTokens used before attach()');
    return this.#etcd;
  }

  async #get(id: string): Promise<StoredToken | undefined> {
    const res = await this.#client.get(BOOTSTRAP_TOKENS_PREFIX + id).exec();
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { record: JSON.parse(kv.value.toString('utf8')) as BootstrapTokenRecord, modRevision: String(kv.mod_revision) };
  }

  async #swap(record: BootstrapTokenRecord, expected: StoredToken | undefined): Promise<boolean> {
    const key = BOOTSTRAP_TOKENS_PREFIX + record.id;
    const txn = expected ? this.#client.if(key, 'Mod', '==', expected.modRevision) : this.#client.if(key, 'Create', '==', 0);
    return Boolean((await txn.then(this.#client.put(key).value(JSON.stringify(record))).commit()).succeeded);
  }

  /** Creates a token; the whole token is returned here only (the store keeps its hash). */
  async create(req: CreateTokenRequest, createdBy: string): Promise<{ record: BootstrapTokenRecord; token: string }> {
    const now = this.#now();
    const ttl = req.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    for (;;) {
      const id = randomTokenPart(6);
      const secret = randomTokenPart(16);
      const record: BootstrapTokenRecord = {
        id,
        secretSha256: hashSecret(secret),
        description: req.description ?? '',
        expiration: new Date(now.getTime() + ttl * 1000).toISOString(),
        singleUse: req.singleUse ?? false,
        createdAt: now.toISOString(),
        createdBy,
      };
      // 36^6 ids: a collision is rare, and the create-if-absent transaction catches it.
      if (await this.#swap(record, undefined)) {
        await this.#collectExpired().catch(() => undefined);
        return { record, token: `${id}.${secret}` };
      }
    }
  }

  /** Tokens an admin may still use or wants to see (tombstones of deleted ones excluded). */
  async list(): Promise<BootstrapTokenRecord[]> {
    await this.#collectExpired().catch(() => undefined);
    const all = await this.#client.getAll().prefix(BOOTSTRAP_TOKENS_PREFIX).strings();
    return Object.values(all)
      .map((value) => JSON.parse(value) as BootstrapTokenRecord)
      .filter((r) => !r.revokedAt)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async get(id: string): Promise<BootstrapTokenRecord | undefined> {
    const stored = await this.#get(id);
    return stored && !stored.record.revokedAt ? stored.record : undefined;
  }

  /** Deletes (revokes) a token at once; false when there is no such token. */
  async revoke(id: string): Promise<boolean> {
    for (;;) {
      const stored = await this.#get(id);
      if (!stored || stored.record.revokedAt) return false;
      if (await this.#swap({ ...stored.record, revokedAt: this.#now().toISOString() }, stored)) return true;
    }
  }

  /** Why `token` is refused, or the stored token when it may be used now. */
  async check(token: string): Promise<{ refusal: ApiError } | { stored: StoredToken }> {
    const match = BOOTSTRAP_TOKEN_FORMAT.exec(token);
    if (!match) return { refusal: tokenRefusal('TOKEN_INVALID') };
    const [, id, secret] = match as unknown as [string, string, string];
    const stored = await this.#get(id);
    if (!stored) return { refusal: tokenRefusal('TOKEN_INVALID', id) };
    const known = Buffer.from(stored.record.secretSha256, 'hex');
    const presented = Buffer.from(hashSecret(secret), 'hex');
    if (known.length !== presented.length || !timingSafeEqual(known, presented)) return { refusal: tokenRefusal('TOKEN_INVALID', id) };
    const { record } = stored;
    if (record.revokedAt) return { refusal: tokenRefusal('TOKEN_REVOKED', id) };
    if (Date.parse(record.expiration) <= this.#now().getTime()) return { refusal: tokenRefusal('TOKEN_EXPIRED', id) };
    if (record.singleUse && record.usedBy) return { refusal: tokenRefusal('TOKEN_ALREADY_USED', id) };
    return { stored };
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    if (!this.#etcd || !BOOTSTRAP_TOKEN_FORMAT.test(token)) return undefined;
    const result = await this.check(token).catch(() => undefined);
    return result && 'stored' in result ? bootstrapUser(result.stored.record.id) : undefined;
  }

  /**
   * Marks a single-use token as used by `node` (compare-and-swap: of two hosts racing with
   * one token, one joins). Throws the refusal when it cannot be used (any more). Also checks
   * an unlimited token again: it may have been deleted since the call was authenticated.
   */
  async consume(id: string, node: string): Promise<void> {
    for (;;) {
      const stored = await this.#get(id);
      if (!stored) throw tokenRefusal('TOKEN_INVALID', id);
      const { record } = stored;
      if (record.revokedAt) throw tokenRefusal('TOKEN_REVOKED', id);
      if (Date.parse(record.expiration) <= this.#now().getTime()) throw tokenRefusal('TOKEN_EXPIRED', id);
      if (!record.singleUse || record.usedBy === node) return; // a retried registration of the same host
      if (record.usedBy) throw tokenRefusal('TOKEN_ALREADY_USED', id);
      if (await this.#swap({ ...record, usedBy: node, usedAt: this.#now().toISOString() }, stored)) return;
    }
  }

  /** Drops tokens a day past their expiry (by then "expired" or "revoked" says nothing useful). */
  async #collectExpired(): Promise<void> {
    const all = await this.#client.getAll().prefix(BOOTSTRAP_TOKENS_PREFIX).strings();
    const cutoff = this.#now().getTime() - TOMBSTONE_MS;
    for (const [key, value] of Object.entries(all)) {
      const record = JSON.parse(value) as BootstrapTokenRecord;
      if (Date.parse(record.expiration) < cutoff) await this.#client.delete().key(key).exec();
    }
  }
}
