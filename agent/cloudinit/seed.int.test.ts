/**
 * buildSeedIso with the real genisoimage; the ISO is read back with isoinfo (no mount).
 * Needs the Debian packages genisoimage (genisoimage, isoinfo).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setLogSink } from '../../lib/logging/logger.js';
import { buildSeedIso, CloudInitSeedError, readSeedHash, type SeedInput, seedContent } from './seed.js';

const execFileP = promisify(execFile);
const isoinfo = async (...args: string[]): Promise<string> => (await execFileP('isoinfo', args)).stdout;

describe('buildSeedIso', () => {
  let dir: string;
  const logLines: string[] = [];
  const SECRET = 'hunter2-SECRET-do-not-log';
  const input: SeedInput = {
    vmUid: '0b7a3c55-1d2e-4f60-8a9b-c0d1e2f30415',
    hostname: 'web-1',
    userData: `#cloud-config\nchpasswd:\n  users:\n    - {name: debian, password: ${SECRET}, type: text}\n`,
    networkData: 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n',
    sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LW5vdC1yZWFs test@example'],
  };

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'qx-seed-'));
    setLogSink((line) => logLines.push(line));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds a cidata ISO holding exactly the seed files, 0640, with no temp left', async () => {
    const result = await buildSeedIso(input, { dir, name: 'vm-web-1' });
    const content = seedContent(input);
    expect(result).toEqual({ path: path.join(dir, 'vm-web-1.iso'), contentHash: content.contentHash, instanceId: content.instanceId, changed: true });
    expect(readdirSync(dir)).toEqual(['vm-web-1.iso']);
    expect(statSync(result.path).mode & 0o777).toBe(0o640);

    const descriptor = await isoinfo('-d', '-i', result.path);
    expect(descriptor).toMatch(/^Volume id: cidata$/m);
    expect(descriptor).toMatch(/Rock Ridge signatures version/);
    expect(descriptor).toMatch(/Joliet with UCS level/);
    expect((await isoinfo('-f', '-R', '-i', result.path)).split('\n').filter(Boolean).sort()).toEqual(['/meta-data', '/network-config', '/user-data']);
    for (const [name, text] of Object.entries(content.files)) {
      expect(await isoinfo('-R', '-x', `/${name}`, '-i', result.path)).toBe(text);
    }
    // Inside the guest the files are root's, 0600.
    expect(await isoinfo('-l', '-R', '-i', result.path)).toMatch(/-rw-------\s+1\s+0\s+0\s+\d+ .* user-data/);
    expect(await readSeedHash(result.path)).toBe(content.contentHash);
  });

  it('leaves an ISO with the same content untouched, and replaces it when the content changes', async () => {
    const first = await buildSeedIso(input, { dir, name: 'vm-web-2' });
    const before = statSync(first.path);
    const again = await buildSeedIso(input, { dir, name: 'vm-web-2' });
    expect(again).toEqual({ ...first, changed: false });
    const after = statSync(first.path);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    const changed = await buildSeedIso({ ...input, userData: '#cloud-config\npackages: [nginx]\n' }, { dir, name: 'vm-web-2' });
    expect(changed.changed).toBe(true);
    expect(changed.instanceId).not.toBe(first.instanceId);
    expect(await isoinfo('-R', '-x', '/user-data', '-i', changed.path)).toBe('#cloud-config\npackages: [nginx]\n');
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('rebuilds a file that is not a seed of this content (not an ISO, or another seed)', async () => {
    const iso = path.join(dir, 'vm-web-3.iso');
    writeFileSync(iso, 'garbage');
    expect(await readSeedHash(iso)).toBeUndefined();
    expect((await buildSeedIso(input, { dir, name: 'vm-web-3' })).changed).toBe(true);
    expect(await readSeedHash(iso)).toBe(seedContent(input).contentHash);
  });

  it('a genisoimage failure names the user data by its size only, and leaves nothing behind', async () => {
    let err: unknown;
    try {
      await buildSeedIso(input, { dir, name: 'vm-web-4', genisoimage: path.join(dir, 'no-such-genisoimage') });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CloudInitSeedError);
    expect((err as CloudInitSeedError).reason).toBe('BuildFailed');
    const size = Buffer.byteLength(input.userData!);
    expect((err as CloudInitSeedError).message).toBe(
      `genisoimage failed for the seed of web-1 (user data: ${size} bytes): genisoimage is not installed (Debian package genisoimage)`,
    );
    expect(readdirSync(dir).filter((f) => f.includes('vm-web-4'))).toEqual([]);
    expect(logLines.join('\n')).not.toContain(SECRET);
  });
});
