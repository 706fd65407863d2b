/**
 * The agent's identity and what it keeps in its state dir (mode 0700):
 *   machine-id         random, created once (mode 0600): tells this machine from another one
 *                      that claims the same hostname; Node status shows only a fingerprint
 *   node.key           the node's private key, made here (mode 0600; it never leaves the host)
 *   node.crt           its client certificate, signed by the cluster CA through RegisterNode
 *   credential         a bearer node credential (control planes that sign no certificates)
 *   kubeconfig         the certificate (or credential) as a kubeconfig for --server (kubectl as the node)
 *   managed-pools.json libvirt pools this agent defined (the only ones it ever stops)
 *   managed-networks.json  likewise for libvirt networks (by Network name)
 *   restarts.json      per VM uid, the last quantix.io/restart-requested-at honoured and
 *                      the one being carried out (with the id of the domain instance to stop)
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';

/** What restarts.json keeps per VM (vm/sync.ts RestartRecords). */
export interface RestartRecord {
  honoured?: string;
  inProgress?: { asked: string; domainId: number };
}

export class StateDir {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  #path(name: string): string {
    return path.join(this.dir, name);
  }

  #read(name: string): string | undefined {
    const p = this.#path(name);
    return existsSync(p) ? readFileSync(p, 'utf8').trim() : undefined;
  }

  /** Atomic write (temp file + rename), so a crash never leaves half a credential. */
  #write(name: string, content: string, mode = 0o600): void {
    const p = this.#path(name);
    const tmp = `${p}.tmp-${process.pid}`;
    writeFileSync(tmp, content, { mode });
    renameSync(tmp, p);
  }

  machineId(): string {
    const existing = this.#read('machine-id');
    if (existing) {
      // Written 0644 by agents before 2026-12: close it now.
      chmodSync(this.#path('machine-id'), 0o600);
      return existing;
    }
    const id = randomUUID().replace(/-/g, '');
    // Only root reads it: it proves this machine owns its hostname when it registers.
    this.#write('machine-id', `${id}\n`, 0o600);
    return id;
  }

  credential(): string | undefined {
    return this.#read('credential') || undefined;
  }

  saveCredential(credential: string): void {
    this.#write('credential', `${credential}\n`);
  }

  clearCredential(): void {
    this.#write('credential', '');
  }

  /** The node's private key file, made (EC P-256) on first use. */
  nodeKeyFile(): string {
    const file = this.#path('node.key');
    if (!existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      this.#write('node.key', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
    }
    return file;
  }

  nodeKey(): string {
    return readFileSync(this.nodeKeyFile(), 'utf8');
  }

  nodeCertificate(): string | undefined {
    return this.#read('node.crt') || undefined;
  }

  saveNodeCertificate(certPem: string): void {
    this.#write('node.crt', `${certPem.trim()}\n`, 0o644);
  }

  saveKubeconfig(server: string, caPem: string, node: string, credential: string | { certPem: string; keyPem: string }): void {
    const ca = Buffer.from(caPem).toString('base64');
    const user = `quantix:node:${node}`;
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: quantix`,
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      `- name: "${user}"`,
      '  user:',
      ...(typeof credential === 'string'
        ? [`    token: ${credential}`]
        : [
            `    client-certificate-data: ${Buffer.from(credential.certPem).toString('base64')}`,
            `    client-key-data: ${Buffer.from(credential.keyPem).toString('base64')}`,
          ]),
      'contexts:',
      `- name: node`,
      '  context:',
      '    cluster: quantix',
      `    user: "${user}"`,
      'current-context: node',
      '',
    ].join('\n');
    this.#write('kubeconfig', text);
  }

  managedPools(): Set<string> {
    return this.#readNames('managed-pools.json');
  }

  saveManagedPools(names: Iterable<string>): void {
    this.#writeNames('managed-pools.json', names);
  }

  /** Networks (by Network name) whose libvirt network this agent defined. */
  managedNetworks(): Set<string> {
    return this.#readNames('managed-networks.json');
  }

  saveManagedNetworks(names: Iterable<string>): void {
    this.#writeNames('managed-networks.json', names);
  }

  #readNames(file: string): Set<string> {
    const text = this.#read(file);
    if (!text) return new Set();
    try {
      return new Set(JSON.parse(text) as string[]);
    } catch {
      return new Set();
    }
  }

  #writeNames(file: string, names: Iterable<string>): void {
    this.#write(file, `${JSON.stringify([...names].sort())}\n`, 0o644);
  }

  /**
   * Restart requests by VM uid (the honoured one, the one in progress): read once, written
   * through on every change. An older file's plain string is the honoured value.
   */
  restartRecords(): { get(uid: string): RestartRecord | undefined; set(uid: string, value: RestartRecord | undefined): void } {
    let records: Record<string, RestartRecord> = {};
    try {
      const raw = JSON.parse(this.#read('restarts.json') ?? '{}') as Record<string, string | RestartRecord>;
      for (const [uid, v] of Object.entries(raw)) records[uid] = typeof v === 'string' ? { honoured: v } : v;
    } catch {
      records = {};
    }
    return {
      get: (uid) => records[uid],
      set: (uid, value) => {
        if (JSON.stringify(records[uid]) === JSON.stringify(value)) return;
        if (value === undefined) delete records[uid];
        else records[uid] = value;
        this.#write('restarts.json', `${JSON.stringify(records)}\n`, 0o644);
      },
    };
  }
}

export function defaultHostname(): string {
  return hostname();
}

/** Management addresses: the host's non-loopback IPs (IPv4 first), without ports. */
export function defaultAddresses(): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') v4.push(a.address);
      else if (!a.address.startsWith('fe80')) v6.push(a.address);
    }
  }
  return [...v4, ...v6].slice(0, 4);
}
