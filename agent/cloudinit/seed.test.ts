/** The seed's files (pure): generated cloud-config, meta-data, instance id and content hash. */
import { parse } from 'yaml';
import { CloudInitSeedError, type SeedInput, seedContent } from './seed.js';

const UID = '6f1c2a9e-3b1d-4c55-9e0b-2d5f0a7c1e42';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdC1hLXJlYWwta2V5LWp1c3QtdGVzdC1kYXRhLWZvci1xdWFudGl4 admin@example';
const LONG_KEY = `ssh-rsa ${'A'.repeat(540)} ops@example`;
const base: SeedInput = { vmUid: UID, hostname: 'web-1', sshAuthorizedKeys: [KEY] };

describe('seedContent', () => {
  it('without user data: a #cloud-config with the hostname and the keys; meta-data with instance-id and local-hostname', () => {
    const { files, instanceId } = seedContent(base);
    expect(instanceId).toMatch(new RegExp(`^${UID}-[0-9a-f]{12}$`));
    expect(files['user-data']).toBe(`#cloud-config\nhostname: web-1\npreserve_hostname: false\nssh_authorized_keys:\n  - ${KEY}\n`);
    expect(files['meta-data']).toBe(`instance-id: ${instanceId}\nlocal-hostname: web-1\n`);
    expect(files['network-config']).toBeUndefined();
  });

  it('an FQDN: short hostname and fqdn in the cloud-config, the full name as local-hostname', () => {
    const { files } = seedContent({ ...base, hostname: 'db.lab.example', sshAuthorizedKeys: [] });
    expect(parse(files['user-data'])).toEqual({ hostname: 'db', fqdn: 'db.lab.example', preserve_hostname: false });
    expect(parse(files['meta-data'])).toMatchObject({ 'local-hostname': 'db.lab.example' });
  });

  it('keeps a long key on one line', () => {
    const { files } = seedContent({ ...base, sshAuthorizedKeys: [` ${LONG_KEY} `] });
    expect(files['user-data'].split('\n')).toContain(`  - ${LONG_KEY}`);
  });

  it.each([
    ['#cloud-config', '#cloud-config\npackages: [nginx]\nusers:\n  - default\n'],
    ['a script', '#!/bin/sh\necho hello > /root/hello\n'],
    ['multipart', 'Content-Type: multipart/mixed; boundary="b"\nMIME-Version: 1.0\n\n--b\n--b--\n'],
  ])('user data (%s) is written untouched and the keys go to meta-data public-keys', (_kind, userData) => {
    const { files, instanceId } = seedContent({ ...base, userData });
    expect(files['user-data']).toBe(userData);
    expect(parse(files['meta-data'])).toEqual({ 'instance-id': instanceId, 'local-hostname': 'web-1', 'public-keys': [KEY] });
  });

  it('user data without keys: no public-keys', () => {
    expect(parse(seedContent({ ...base, sshAuthorizedKeys: undefined, userData: '#cloud-config\n' }).files['meta-data'])).not.toHaveProperty('public-keys');
  });

  it('blank user data counts as none', () => {
    expect(seedContent({ ...base, userData: '  \n' }).files['user-data']).toMatch(/^#cloud-config\nhostname: web-1\n/);
  });

  it('network data becomes network-config, untouched', () => {
    const net = 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n';
    expect(seedContent({ ...base, networkData: net }).files['network-config']).toBe(net);
  });

  it('the same input gives the same instance id and hash; any change of content gives new ones', () => {
    const a = seedContent(base);
    expect(seedContent({ ...base, sshAuthorizedKeys: [KEY] })).toEqual(a);
    const variants: SeedInput[] = [
      { ...base, hostname: 'web-2' },
      { ...base, sshAuthorizedKeys: [KEY, LONG_KEY] },
      { ...base, userData: '#cloud-config\n' },
      { ...base, networkData: 'version: 2\n' },
    ];
    const ids = new Set([a.instanceId, ...variants.map((v) => seedContent(v).instanceId)]);
    const hashes = new Set([a.contentHash, ...variants.map((v) => seedContent(v).contentHash)]);
    expect(ids.size).toBe(variants.length + 1);
    expect(hashes.size).toBe(variants.length + 1);
    // Another VM with the same spec: another instance id.
    expect(seedContent({ ...base, vmUid: 'a7f0e3c1-0000-4000-8000-000000000001' }).instanceId).not.toBe(a.instanceId);
  });

  it.each<[string, Partial<SeedInput>, string]>([
    ['a bad hostname', { hostname: 'web_1' }, 'hostname "web_1" is not a valid host name (RFC 1123)'],
    ['a hostname with a trailing dash', { hostname: 'web-' }, 'hostname "web-" is not a valid host name (RFC 1123)'],
    ['a key over two lines', { sshAuthorizedKeys: [KEY, 'ssh-ed25519 AAAA\nssh-rsa BBBB'] }, 'sshAuthorizedKeys[1] must be a single line'],
    ['an empty key', { sshAuthorizedKeys: [' '] }, 'sshAuthorizedKeys[0] is empty'],
    ['a bad uid', { vmUid: '../x' }, 'vmUid "../x" is not a uid (letters, digits and "-")'],
  ])('refuses %s (InvalidInput), never quoting user data', (_name, over, message) => {
    const secret = '#cloud-config\npassword: hunter2-SECRET\n';
    let err: unknown;
    try {
      seedContent({ ...base, userData: secret, ...over });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CloudInitSeedError);
    expect((err as CloudInitSeedError).reason).toBe('InvalidInput');
    expect((err as CloudInitSeedError).message).toBe(message);
  });
});
