/**
 * Static bearer tokens in the Kubernetes token-file format, one per line:
 *   token,user,uid,"group1,group2"
 * On first start the file is created with an admin and a read-only viewer. Hosts join with
 * bootstrap tokens (`qxctl token create`, apiserver/gateway/bootstrap-tokens.ts), which
 * expire: the static node-join token of earlier versions is removed from the file.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Groups, type Authenticator, type UserInfo } from './identity.js';

export interface TokenEntry {
  token: string;
  user: UserInfo;
}

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of line) {
    if (char === '"') quoted = !quoted;
    else if (char === ',' && !quoted) {
      fields.push(current);
      current = '';
    } else current += char;
  }
  fields.push(current);
  return fields.map((field) => field.trim());
}

export function parseTokenFile(text: string, path = 'token file'): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [token, name, uid, groups] = splitCsvLine(line);
    if (!token || !name) throw new Error(`${path}:${index + 1}: expected token,user,uid,"groups"`);
    const groupList = (groups ?? '')
      .split(',')
      .map((group) => group.trim())
      .filter(Boolean);
    entries.push({ token, user: { name, uid: uid || name, groups: [...groupList, Groups.authenticated] } });
  });
  return entries;
}

export interface StaticTokens {
  admin: string;
  viewer: string;
}

/** The user of the never-expiring join token earlier versions wrote. */
const RETIRED_NODE_JOIN_USER = 'node-join';

/** Creates the token file when absent; returns the well-known tokens found in it. */
export function ensureTokenFile(path: string): StaticTokens {
  if (!existsSync(path)) {
    const lines = [
      '# Quantix static tokens: token,user,uid,"groups"',
      `${generateToken()},admin,admin,"${Groups.admins}"`,
      `${generateToken()},viewer,viewer,"${Groups.viewers}"`,
    ];
    writeFileSync(path, lines.join('\n') + '\n', { mode: 0o600 });
  }
  let text = readFileSync(path, 'utf8');
  const kept = text.split('\n').filter((line) => splitCsvLine(line.trim())[1] !== RETIRED_NODE_JOIN_USER || line.trim().startsWith('#'));
  if (kept.length !== text.split('\n').length) {
    text = kept.join('\n');
    writeFileSync(path, text, { mode: 0o600 });
  }
  const entries = parseTokenFile(text, path);
  const find = (name: string) => entries.find((entry) => entry.user.name === name)?.token ?? '';
  return { admin: find('admin'), viewer: find('viewer') };
}

export class TokenFileAuthenticator implements Authenticator {
  readonly #entries: TokenEntry[];
  constructor(entries: TokenEntry[]) {
    this.#entries = entries;
  }
  static fromFile(path: string): TokenFileAuthenticator {
    return new TokenFileAuthenticator(parseTokenFile(readFileSync(path, 'utf8'), path));
  }
  async authenticate(token: string): Promise<UserInfo | undefined> {
    const presented = Buffer.from(token);
    for (const entry of this.#entries) {
      const known = Buffer.from(entry.token);
      if (known.length === presented.length && timingSafeEqual(known, presented)) return entry.user;
    }
    return undefined;
  }
}
