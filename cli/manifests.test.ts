import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPaths, ManifestError, parseManifestText, readManifests, resolveManifest } from './manifests.js';

const VM = `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: web
spec:
  memory: 256Mi
`;
const POOL = `apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata: {name: local}
spec: {type: dir, dir: {path: /p}}
`;

describe('parseManifestText', () => {
  it('reads multi-document YAML, skipping empty documents, naming each document', () => {
    const docs = parseManifestText(`---\n${VM}---\n---\n${POOL}`, 'all.yaml');
    expect(docs.map((d) => [d.object.kind, d.source])).toEqual([
      ['VirtualMachine', 'all.yaml#1'],
      ['StoragePool', 'all.yaml#3'],
    ]);
  });

  it('reads JSON and flattens kind: List', () => {
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'n1' } }] });
    const docs = parseManifestText(list, 'list.json');
    expect(docs).toHaveLength(1);
    expect(docs[0]!.object.metadata.name).toBe('n1');
    expect(docs[0]!.source).toBe('list.json items[0]');
  });

  it.each([
    ['key: [unclosed', /error parsing bad.yaml: /],
    ['- a\n- b', /must be an object, got a list/],
    ['just a string', /must be an object, got string/],
  ])('rejects %j', (text, message) => {
    expect(() => parseManifestText(text, 'bad.yaml')).toThrow(message);
  });
});

describe('resolveManifest', () => {
  const obj = (o: object) => o as never;
  it('finds the resource definition', () => {
    expect(resolveManifest(obj({ apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata: { name: 'a' } }), 'f').def.plural).toBe(
      'virtualmachines',
    );
  });

  it.each([
    [{ kind: 'VirtualMachine', metadata: { name: 'a' } }, 'f: apiVersion not set'],
    [{ apiVersion: 'quantix.io/v1alpha1', metadata: { name: 'a' } }, 'f: kind not set'],
    [
      { apiVersion: 'quantix.io/v1', kind: 'VirtualMachine', metadata: { name: 'a' } },
      'f: no kind "VirtualMachine" is registered for version "quantix.io/v1" (use apiVersion: quantix.io/v1alpha1)',
    ],
    [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a' } }, 'f: no matches for kind "Deployment" in version "apps/v1"'],
    [{ apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine' }, 'f: metadata not set'],
    [
      { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata: { generateName: 'x-' } },
      'f: metadata.name is required (generateName is not supported by apply)',
    ],
  ])('rejects %j', (o, message) => {
    let err: unknown;
    try {
      resolveManifest(obj(o), 'f');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as Error).message).toBe(message);
    expect((err as ManifestError).exitCode).toBe(2);
  });
});

describe('files and directories', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'qxctl-manifests-'));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'b-vm.yaml'), VM);
    writeFileSync(join(dir, 'a-pool.yml'), POOL);
    writeFileSync(join(dir, 'README.md'), '# not a manifest');
    writeFileSync(join(dir, 'sub', 'node.json'), JSON.stringify({ apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'n1' } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes manifest files of a directory in name order; -R recurses', () => {
    expect(expandPaths([dir], false).map((p) => p.slice(dir.length + 1))).toEqual(['a-pool.yml', 'b-vm.yaml']);
    expect(expandPaths([dir], true).map((p) => p.slice(dir.length + 1))).toEqual(['a-pool.yml', 'b-vm.yaml', 'sub/node.json']);
  });

  it('reads files, directories and stdin together', async () => {
    const manifests = await readManifests([dir, '-'], false, async () => POOL.replace('local', 'from-stdin'));
    expect(manifests.map((m) => `${m.def.kind}/${m.object.metadata.name} ${m.source.replace(dir, '')}`)).toEqual([
      'StoragePool/local /a-pool.yml',
      'VirtualMachine/web /b-vm.yaml',
      'StoragePool/from-stdin <stdin>',
    ]);
  });

  it('fails clearly on missing paths, no -f, and nothing to apply', async () => {
    await expect(readManifests([join(dir, 'nope.yaml')], false, async () => '')).rejects.toThrow(/the path ".*nope.yaml" does not exist/);
    await expect(readManifests([], false, async () => '')).rejects.toThrow(/must specify -f/);
    await expect(readManifests(['-'], false, async () => '---\n')).rejects.toThrow(/no objects passed/);
  });
});
