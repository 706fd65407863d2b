/**
 * The NoCloud seed of one VM: an ISO 9660 image labelled `cidata` holding `user-data`,
 * `meta-data` and, when given, `network-config` (cloud-init's NoCloud datasource reads it from
 * a CD-ROM or disk with that label).
 *
 * Instance id: `<vmUid>-<12 hex digits of a hash of everything else in the seed>` (hostname,
 * user data, network config, SSH keys). cloud-init runs its per-instance modules (users and
 * keys, runcmd, scripts, network config) once per instance id, so a changed seed gets a new id
 * and is applied at the next boot; an unchanged seed keeps its id and nothing runs twice. The
 * price of a change: cloud-init treats the VM as a new instance, which also regenerates the
 * SSH host keys and reruns per-instance scripts.
 *
 * SSH keys: without user data, the generated `#cloud-config` lists them in
 * `ssh_authorized_keys` (the default user's). With user data (cloud-config, a script,
 * multipart, anything), the user data is written byte for byte and the keys go into
 * meta-data `public-keys`, which cloud-init's ssh module also gives to the default user.
 * The hostname is meta-data `local-hostname` in both cases.
 *
 * User data may hold secrets: it is never logged nor put in an error message (errors name
 * "user data" and its size), its files are written 0600 in a private temp dir that is then
 * removed, and the ISO is 0640 (see buildSeedIso).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chown, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';

const execFileP = promisify(execFile);

export interface SeedInput {
  /** The VM's metadata.uid: the stable part of the instance id. */
  vmUid: string;
  /** The guest's host name (meta-data local-hostname): an RFC 1123 name, dots allowed. */
  hostname: string;
  /** Written untouched as `user-data`. Absent, empty or blank: a `#cloud-config` is generated. */
  userData?: string;
  /** Network config (version 2 YAML), written untouched as `network-config`. */
  networkData?: string;
  /** authorized_keys lines for the default user. */
  sshAuthorizedKeys?: string[];
}

export interface SeedFiles {
  'user-data': string;
  'meta-data': string;
  'network-config'?: string;
}

export interface SeedContent {
  files: SeedFiles;
  instanceId: string;
  /** SHA-256 (hex) of the files as written: equal hashes, equal seeds. */
  contentHash: string;
}

export const CloudInitSeedErrorReasons = [
  /** The input cannot make a seed (bad hostname, vmUid or key line). */
  'InvalidInput',
  /** genisoimage failed or is missing. */
  'BuildFailed',
  /** The seed's directory cannot be written. */
  'IOError',
] as const;
export type CloudInitSeedErrorReason = (typeof CloudInitSeedErrorReasons)[number];

export class CloudInitSeedError extends Error {
  readonly reason: CloudInitSeedErrorReason;
  constructor(reason: CloudInitSeedErrorReason, message: string) {
    super(message);
    this.name = 'CloudInitSeedError';
    this.reason = reason;
  }
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const VM_UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/;
/** The ISO's application id carries the content hash (see `readSeedHash`). */
const APP_ID_PREFIX = 'quantix-seed-';
/** Bumped when the generated files change shape, so that every seed is rebuilt with a new instance id. */
const SEED_FORMAT = 'quantix-nocloud-v1';

function present(text: string | undefined): text is string {
  return text !== undefined && text.trim() !== '';
}

function validate(input: SeedInput): string[] {
  if (!VM_UID.test(input.vmUid)) throw new CloudInitSeedError('InvalidInput', `vmUid "${input.vmUid}" is not a uid (letters, digits and "-")`);
  if (!HOSTNAME.test(input.hostname)) throw new CloudInitSeedError('InvalidInput', `hostname "${input.hostname}" is not a valid host name (RFC 1123)`);
  const keys = (input.sshAuthorizedKeys ?? []).map((key) => key.trim());
  keys.forEach((key, i) => {
    if (key === '') throw new CloudInitSeedError('InvalidInput', `sshAuthorizedKeys[${i}] is empty`);
    if (/[\r\n]/.test(key)) throw new CloudInitSeedError('InvalidInput', `sshAuthorizedKeys[${i}] must be a single line`);
  });
  return keys;
}

/** YAML without line folding: an SSH key stays on one line. */
function yaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}

function hashOf(parts: (string | undefined)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    // Length-prefixed, so that no two different inputs share a byte stream.
    if (part === undefined) hash.update('-\0');
    else hash.update(`${Buffer.byteLength(part)}\0`).update(part);
  }
  return hash.digest('hex');
}

/** The seed's files, instance id and content hash (pure). */
export function seedContent(input: SeedInput): SeedContent {
  const keys = validate(input);
  const hasUserData = present(input.userData);
  const dot = input.hostname.indexOf('.');
  let userData: string;
  if (hasUserData) {
    userData = input.userData!;
  } else {
    const config: Record<string, unknown> = {
      hostname: dot > 0 ? input.hostname.slice(0, dot) : input.hostname,
      ...(dot > 0 ? { fqdn: input.hostname } : {}),
      preserve_hostname: false,
      ...(keys.length ? { ssh_authorized_keys: keys } : {}),
    };
    userData = '#cloud-config\n' + yaml(config);
  }
  const networkConfig = present(input.networkData) ? input.networkData : undefined;
  const metaWithoutId: Record<string, unknown> = {
    'local-hostname': input.hostname,
    ...(hasUserData && keys.length ? { 'public-keys': keys } : {}),
  };
  const specHash = hashOf([SEED_FORMAT, userData, yaml(metaWithoutId), networkConfig]);
  const instanceId = `${input.vmUid}-${specHash.slice(0, 12)}`;
  const files: SeedFiles = { 'user-data': userData, 'meta-data': yaml({ 'instance-id': instanceId, ...metaWithoutId }) };
  if (networkConfig !== undefined) files['network-config'] = networkConfig;
  const contentHash = hashOf([files['user-data'], files['meta-data'], files['network-config']]);
  return { files, instanceId, contentHash };
}

/** The content hash recorded in an ISO built by buildSeedIso (its primary volume descriptor's application id), if any. */
export async function readSeedHash(isoPath: string): Promise<string | undefined> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(isoPath, 'r');
  } catch {
    return undefined;
  }
  try {
    const pvd = Buffer.alloc(2048);
    const { bytesRead } = await fh.read(pvd, 0, pvd.length, 16 * 2048);
    if (bytesRead < 2048 || pvd[0] !== 1 || pvd.toString('latin1', 1, 6) !== 'CD001') return undefined;
    if (pvd.toString('latin1', 40, 72).trimEnd() !== 'cidata') return undefined;
    const appId = pvd.toString('latin1', 574, 702).trimEnd();
    return appId.startsWith(APP_ID_PREFIX) ? appId.slice(APP_ID_PREFIX.length) : undefined;
  } finally {
    await fh.close();
  }
}

export interface BuildSeedOptions {
  /** Directory of the ISO (must exist). */
  dir: string;
  /** The ISO is `<dir>/<name>.iso`. */
  name: string;
  /**
   * Mode of the ISO, default 0640: user data may hold secrets. QEMU must read it: here QEMU runs
   * as root (hack/libvirt-setup.sh); with libvirt's default dynamic_ownership = 1 libvirt chowns it
   * to its QEMU user while the domain runs; with dynamic_ownership = 0 and a QEMU user other than
   * root, pass that user's group as `gid`.
   */
  mode?: number;
  gid?: number;
  signal?: AbortSignal;
  /** Default `genisoimage` (Debian package genisoimage). */
  genisoimage?: string;
}

export interface SeedResult {
  path: string;
  contentHash: string;
  instanceId: string;
  /** False when the ISO already had this content and was left untouched. */
  changed: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/**
 * Writes `<dir>/<name>.iso` for `input`, unless it already holds this content (then it is not
 * touched: the agent calls this on every reconcile). Built in a private temp dir in `dir` and
 * renamed into place, so the ISO is always whole.
 */
export async function buildSeedIso(input: SeedInput, opts: BuildSeedOptions): Promise<SeedResult> {
  const content = seedContent(input);
  if (!NAME.test(opts.name)) throw new CloudInitSeedError('InvalidInput', `invalid seed name "${opts.name}"`);
  const dir = path.resolve(opts.dir);
  const iso = path.join(dir, `${opts.name}.iso`);
  const result = { path: iso, contentHash: content.contentHash, instanceId: content.instanceId };
  if ((await readSeedHash(iso)) === content.contentHash) return { ...result, changed: false };

  let tmp: string;
  try {
    tmp = await mkdtemp(path.join(dir, `.${opts.name}.iso.tmp-`));
  } catch (err) {
    throw new CloudInitSeedError('IOError', `cannot write the seed into ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const names = Object.keys(content.files) as (keyof SeedFiles)[];
    try {
      for (const name of names) await writeFile(path.join(tmp, name), content.files[name]!, { mode: 0o600 });
    } catch (err) {
      const size = Buffer.byteLength(content.files['user-data']);
      throw new CloudInitSeedError(
        'IOError',
        `cannot write the seed files (user data: ${size} bytes) into ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const out = path.join(tmp, 'seed.iso');
    const args = [
      '-quiet',
      '-input-charset',
      'utf-8',
      '-output',
      out,
      '-volid',
      'cidata',
      '-joliet',
      '-rock',
      '-appid',
      APP_ID_PREFIX + content.contentHash,
      ...names,
    ];
    try {
      await execFileP(opts.genisoimage ?? 'genisoimage', args, { cwd: tmp, signal: opts.signal, timeout: 60_000, maxBuffer: 1024 * 1024 });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      const why = e.code === 'ENOENT' ? 'genisoimage is not installed (Debian package genisoimage)' : (e.stderr ?? '').trim().split('\n').pop() || e.message;
      throw new CloudInitSeedError(
        'BuildFailed',
        `genisoimage failed for the seed of ${input.hostname} (user data: ${Buffer.byteLength(content.files['user-data'])} bytes): ${why}`,
      );
    }
    try {
      const fh = await open(out, 'r+');
      try {
        await fh.chmod(opts.mode ?? 0o640);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (opts.gid !== undefined) await chown(out, -1, opts.gid);
      await rename(out, iso);
      const dh = await open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      throw new CloudInitSeedError('IOError', `cannot write ${iso}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { ...result, changed: true };
}
