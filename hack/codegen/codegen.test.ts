import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { CustomResourceDefinition } from '../../api-types/crd.js';
import { RESOURCES } from '../../api-types/registry.js';
import { named, type JSONSchema, type ResourceDefinition } from '../../api-types/schema/types.js';
import { emitTypes } from './emit-ts.js';
import { generateFiles, GENERATED_MARKER, runCodegen } from './generate.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
const files = generateFiles();

describe('generated files', () => {
  test.each([...files.keys()])('%s is up to date (run `make codegen`)', (rel) => {
    expect(readFileSync(join(root, rel), 'utf8')).toBe(files.get(rel));
  });

  test('cover the TS types and one CRD per quantix.io kind, each marked generated', () => {
    expect([...files.keys()].sort()).toEqual([
      'api-types/generated/types.ts',
      'manifests/crds/hostjoins.quantix.io.yaml',
      'manifests/crds/images.quantix.io.yaml',
      'manifests/crds/networks.quantix.io.yaml',
      'manifests/crds/nodes.quantix.io.yaml',
      'manifests/crds/storagepools.quantix.io.yaml',
      'manifests/crds/virtualmachinerestores.quantix.io.yaml',
      'manifests/crds/virtualmachines.quantix.io.yaml',
      'manifests/crds/virtualmachinesnapshots.quantix.io.yaml',
    ]);
    for (const content of files.values()) expect(content).toContain(GENERATED_MARKER);
  });

  test('runCodegen names every drifted, missing and stale file, and repairs the tree', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'qx-codegen-'));
    try {
      for (const [rel, content] of files) {
        mkdirSync(dirname(join(scratch, rel)), { recursive: true });
        writeFileSync(join(scratch, rel), content);
      }
      expect(runCodegen(scratch, true)).toEqual({ drifted: [], changed: [] });

      writeFileSync(join(scratch, 'api-types/generated/types.ts'), files.get('api-types/generated/types.ts') + '\n// edited\n');
      rmSync(join(scratch, 'manifests/crds/nodes.quantix.io.yaml'));
      writeFileSync(join(scratch, 'manifests/crds/widgets.quantix.io.yaml'), `# ${GENERATED_MARKER}\n`);
      writeFileSync(join(scratch, 'manifests/crds/README.md'), 'hand-written, not ours\n');
      const drift = [
        'api-types/generated/types.ts (out of date)',
        'manifests/crds/nodes.quantix.io.yaml (missing)',
        'manifests/crds/widgets.quantix.io.yaml (stale: no longer generated)',
      ];
      expect(runCodegen(scratch, true)).toEqual({ drifted: drift, changed: [] });

      expect(runCodegen(scratch, false).changed).toEqual([
        'wrote api-types/generated/types.ts',
        'wrote manifests/crds/nodes.quantix.io.yaml',
        'removed manifests/crds/widgets.quantix.io.yaml',
      ]);
      expect(readFileSync(join(scratch, 'api-types/generated/types.ts'), 'utf8')).toBe(files.get('api-types/generated/types.ts'));
      expect(existsSync(join(scratch, 'manifests/crds/README.md'))).toBe(true);
      expect(runCodegen(scratch, true).drifted).toEqual([]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('update-codegen.ts --verify exits 1 and names the drifted file', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'qx-codegen-'));
    try {
      mkdirSync(join(scratch, 'manifests/crds'), { recursive: true });
      writeFileSync(join(scratch, 'manifests/crds/widgets.quantix.io.yaml'), `# ${GENERATED_MARKER}\n`);
      const tsx = join(root, 'node_modules/.bin/tsx');
      const err = await run(tsx, [join(root, 'hack/codegen/update-codegen.ts'), '--verify', '--root', scratch]).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).toBe(1);
      expect(err?.stderr).toContain('run `make codegen`');
      expect(err?.stderr).toContain('api-types/generated/types.ts (missing)');
      expect(err?.stderr).toContain('manifests/crds/widgets.quantix.io.yaml (stale: no longer generated)');
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('CRDs', () => {
  const crds = RESOURCES.filter((d) => d.crd).map((def) => {
    const text = readFileSync(join(root, `manifests/crds/${def.plural}.${def.group}.yaml`), 'utf8');
    return [def.kind, def, parse(text) as CustomResourceDefinition] as const;
  });

  test.each(crds)('%s CRD has the expected structure', (_kind, def, crd) => {
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${def.plural}.quantix.io`);
    expect(crd.spec.group).toBe('quantix.io');
    expect(crd.spec.scope).toBe(def.namespaced ? 'Namespaced' : 'Cluster');
    expect(crd.spec.names).toEqual({
      kind: def.kind,
      listKind: def.listKind,
      plural: def.plural,
      singular: def.singular,
      shortNames: def.shortNames,
      categories: def.categories,
    });
    expect(crd.spec.versions).toHaveLength(1);
    const [v] = crd.spec.versions;
    expect(v).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    expect(v!.additionalPrinterColumns).toEqual(
      def.printerColumns.map((c) => ({
        name: c.name,
        type: c.type,
        description: c.description,
        priority: c.priority,
        jsonPath: c.jsonPath,
      })),
    );
    expect(v!.selectableFields).toEqual(def.selectableFields.map((f) => ({ jsonPath: `.${f.path}` })));
    const schema = v!.schema.openAPIV3Schema;
    expect(schema.type).toBe('object');
    expect(schema.properties!.metadata).toEqual({ type: 'object' });
    expect(Object.keys(schema.properties!)).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'metadata', 'spec', 'status']));
    expect(schema.properties!.spec!.type).toBe('object');
  });

  test('short names, categories and printer-column priorities as kubectl needs them', () => {
    const byKind = Object.fromEntries(crds.map(([k, , crd]) => [k, crd]));
    expect(byKind.VirtualMachine!.spec.names.shortNames).toEqual(['vm', 'vms']);
    expect(byKind.VirtualMachine!.spec.names.categories).toEqual(['quantix', 'all']);
    expect(byKind.StoragePool!.spec.names.shortNames).toEqual(['sp']);
    expect(byKind.Node!.spec.names.shortNames).toEqual(['qn']);
    const vmCols = byKind.VirtualMachine!.spec.versions[0]!.additionalPrinterColumns!;
    expect(vmCols.filter((c) => c.priority === 1).map((c) => c.name)).toEqual(['Power', 'Run-Strategy', 'Origin', 'Managed']);
    const vmSpec = byKind.VirtualMachine!.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;
    expect(vmSpec.properties!.runStrategy).toMatchObject({ default: 'Always', enum: ['Always', 'Halted', 'Manual', 'RerunOnFailure'] });
    expect(vmSpec.properties!.disks).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
    const poolType = byKind.StoragePool!.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!.properties!.type;
    expect(poolType!.enum).toEqual(['dir', 'nfs']);
  });
});

describe('emitTypes', () => {
  test('emits named interfaces, enums, maps, arrays, nullables and docs', () => {
    const Color = named('Color', { type: 'string', enum: ['red', 'dark-blue'], description: 'A color.' } satisfies JSONSchema, {
      enumDescriptions: { red: 'Warm.' },
    });
    const Part = named('WidgetPart', {
      type: 'object',
      required: ['id'],
      properties: { id: { type: 'integer' }, tags: { type: 'object', additionalProperties: { type: 'string' } } },
    } satisfies JSONSchema);
    const def = {
      group: 'example.io',
      version: 'v1',
      kind: 'Widget',
      listKind: 'WidgetList',
      plural: 'widgets',
      namespaced: true,
      schema: {
        type: 'object',
        description: 'A widget.',
        properties: {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          metadata: { type: 'object' },
          spec: {
            type: 'object',
            required: ['color'],
            properties: {
              color: Color,
              parts: { type: 'array', items: Part },
              shades: { type: 'array', items: { type: 'string', enum: ['a', 'b'] } },
              note: { type: 'string', nullable: true, default: 'x', description: 'Says */ things.' },
              'odd-name': { type: 'boolean' },
              inline: { type: 'object', properties: { n: { type: 'number' } } },
            },
          },
        },
      },
    } as unknown as ResourceDefinition;
    const out = emitTypes([def], '// header\n');
    expect(out).toContain(`export interface Widget extends KubeObject {
  apiVersion: 'example.io/v1';
  kind: 'Widget';
  metadata: ObjectMeta;
  spec?: {
    /** A color. */
    color: Color;
    parts?: WidgetPart[];
    shades?: Array<'a' | 'b'>;
    /**
     * Says *\\/ things.
     * @default "x"
     */
    note?: string | null;
    'odd-name'?: boolean;
    inline?: {
      n?: number;
    };
  };
}`);
    expect(out).toContain(`export const Color = {
  /** Warm. */
  red: 'red',
  'dark-blue': 'dark-blue',
} as const;`);
    expect(out).toContain('export type Color = (typeof Color)[keyof typeof Color];');
    expect(out).toContain(`export interface WidgetPart {
  id: number;
  tags?: Record<string, string>;
}`);
    expect(out).toContain("import type { KubeList, KubeObject, ObjectMeta } from '../meta.js';");
    expect(out).toContain('export interface WidgetList extends KubeList<Widget>');
  });

  test('two different schemas with one name are an error', () => {
    const a = named('Dup', { type: 'object', properties: { a: { type: 'string' } } } satisfies JSONSchema);
    const b = named('Dup', { type: 'object', properties: { b: { type: 'string' } } } satisfies JSONSchema);
    const def = {
      group: 'x.io',
      version: 'v1',
      kind: 'X',
      listKind: 'XList',
      schema: { type: 'object', properties: { a, b } },
    } as unknown as ResourceDefinition;
    expect(() => emitTypes([def], '')).toThrow('two different schemas are both named Dup');
  });
});
