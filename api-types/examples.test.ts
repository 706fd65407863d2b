import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { applyDefaults } from './defaults.js';
import { formatFieldError } from './field-errors.js';
import { resourceForGVK } from './registry.js';
import { findUnknownFields, validate } from './validation.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../manifests/examples');
// The top folder is what works on a single machine as it is; nfs/ needs an NFS server.
const files = readdirSync(dir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.yaml'));
const docs = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d, i) => [`${file}#${i}`, d.toJS() as Record<string, unknown>] as const),
);

describe('manifests/examples', () => {
  test('there are dir and nfs pools and VMs using each', () => {
    const kinds = docs.map(([, o]) => o.kind);
    expect(kinds.filter((k) => k === 'StoragePool')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'VirtualMachine').length).toBeGreaterThanOrEqual(2);
    const pools = new Set(docs.filter(([, o]) => o.kind === 'StoragePool').map(([, o]) => (o.metadata as { name: string }).name));
    const used = docs.flatMap(([, o]) =>
      o.kind === 'VirtualMachine' ? ((o.spec as { disks?: { storagePool: string }[] }).disks ?? []).map((d) => d.storagePool) : [],
    );
    for (const p of used) expect(pools.has(p)).toBe(true);
    expect(new Set(used)).toEqual(pools);
    expect(docs.some(([, o]) => o.kind === 'VirtualMachine' && (o.spec as { nodeName?: string }).nodeName)).toBe(true);
  });

  test.each(docs)('%s validates, before and after defaulting, with no unknown fields', (_name, obj) => {
    const def = resourceForGVK(String(obj.apiVersion), String(obj.kind));
    expect(def).toBeDefined();
    expect(validate(def!, obj).map(formatFieldError)).toEqual([]);
    expect(validate(def!, applyDefaults(def!, obj)).map(formatFieldError)).toEqual([]);
    expect(findUnknownFields(def!, obj)).toEqual([]);
  });
});
