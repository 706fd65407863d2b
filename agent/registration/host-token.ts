/**
 * The host token: proof that whoever adds this host to a cluster has access to the host
 * (issue 16, point 3). Generated on the host, valid for 1 h, stored 0600 in the agent's state
 * dir (`host-token.json`), shown by `quantix-agent token` and once in the log at start.
 * Checked in constant time; the full token is never logged elsewhere.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { HostJoinErrorCode } from '../../lib/host-join/codes.js';

export const HOST_TOKEN_TTL_MS = 60 * 60 * 1000;
const FILE = 'host-token.json';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface HostToken {
  token: string;
  expiresAt: Date;
}

export type TokenCheck = { ok: true; expiresAt: Date } | { ok: false; code: Extract<HostJoinErrorCode, 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED'> };

/** Five groups of five base-36 characters (about 129 bits): easy to read out and type. */
export function generateHostToken(): string {
  const groups: string[] = [];
  for (let g = 0; g < 5; g++) {
    let s = '';
    for (let i = 0; i < 5; i++) s += ALPHABET[randomInt(ALPHABET.length)];
    groups.push(s);
  }
  return groups.join('-');
}

/** The token with all but its first group hidden, for log lines that are not meant to show it. */
export function redactHostToken(token: string): string {
  return `${token.slice(0, 5)}-…`;
}

export class HostTokenStore {
  readonly #file: string;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(stateDir: string, options: { ttlMs?: number; now?: () => number } = {}) {
    this.#file = path.join(stateDir, FILE);
    this.#ttlMs = options.ttlMs ?? HOST_TOKEN_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The stored token, expired or not; undefined when there is none (or the file is unreadable). */
  current(): HostToken | undefined {
    if (!existsSync(this.#file)) return undefined;
    try {
      const raw = JSON.parse(readFileSync(this.#file, 'utf8')) as { token?: unknown; expiresAt?: unknown };
      if (typeof raw.token !== 'string' || typeof raw.expiresAt !== 'string') return undefined;
      const expiresAt = new Date(raw.expiresAt);
      return Number.isNaN(expiresAt.getTime()) ? undefined : { token: raw.token, expiresAt };
    } catch {
      return undefined;
    }
  }

  /** The valid token, or a new one when there is none or it expired; `created` tells which. */
  ensure(): HostToken & { created: boolean } {
    const existing = this.current();
    if (existing && existing.expiresAt.getTime() > this.#now()) return { ...existing, created: false };
    return { ...this.rotate(), created: true };
  }

  /** A new token, replacing any other. */
  rotate(): HostToken {
    const token = { token: generateHostToken(), expiresAt: new Date(this.#now() + this.#ttlMs) };
    const tmp = `${this.#file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify({ token: token.token, expiresAt: token.expiresAt.toISOString() })}\n`, { mode: 0o600 });
    renameSync(tmp, this.#file);
    return token;
  }

  /**
   * Checks a presented token. Both sides are hashed first, so the comparison takes the same
   * time whatever the length or content of the guess.
   */
  check(presented: string | undefined): TokenCheck {
    const stored = this.current();
    if (!stored || presented === undefined || presented === '') return { ok: false, code: 'TOKEN_MISSING' };
    const digest = (s: string) => createHash('sha256').update(s).digest();
    if (!timingSafeEqual(digest(presented), digest(stored.token))) return { ok: false, code: 'TOKEN_INVALID' };
    if (stored.expiresAt.getTime() <= this.#now()) return { ok: false, code: 'TOKEN_EXPIRED' };
    return { ok: true, expiresAt: stored.expiresAt };
  }
}
