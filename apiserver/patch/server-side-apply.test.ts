import type { KubeObject } from '../../api-types/meta.js';
import { recordUpdate } from './managed-fields.js';
import { apply, ApplyConflictError, ApplyError, type ApplyConflict } from './server-side-apply.js';
import { API_VERSION, T1, T2, T3, vm, vmSchema } from './testdata.js';

/** An applied configuration: a VM manifest with the given spec. */
const config = (spec: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) => ({
  apiVersion: API_VERSION,
  kind: 'VirtualMachine',
  ...extra,
  metadata: { name: 'web', namespace: 'default', ...(extra.metadata as object) },
  ...(spec ? { spec } : {}),
});

/** One write in a scenario: a server-side apply, or a plain update (PUT/patch) recorded as an Update. */
type Step =
  | { apply: Record<string, unknown>; manager: string; force?: boolean; subresource?: 'status' }
  | { update: (obj: KubeObject) => KubeObject; manager: string; subresource?: 'status' }
  /** A client rewriting managedFields: drop one manager's entries, or all of them (`*`). */
  | { dropManagedFields: string };

interface Scenario {
  name: string;
  steps: Step[];
  spec?: unknown;
  status?: unknown;
  labels?: unknown;
  /** managedFields as `manager/Operation[/subresource]` → fieldsV1. */
  fields?: Record<string, unknown>;
  /** The last step fails with these conflicts. */
  conflicts?: ApplyConflict[];
  message?: string;
}

const clientSideCreate: Step = {
  manager: 'kubectl-client-side-apply',
  update: () => vm({ cpu: 2, memory: '1Gi', disks: [{ name: 'root', size: '10Gi' }] }),
};

const scenarios: Scenario[] = [
  {
    name: 'create: the config becomes the object, owned by the applier (no "." on Apply entries)',
    steps: [{ manager: 'kubectl', apply: config({ cpu: 2, disks: [{ name: 'root', size: '10Gi' }] }, { metadata: { labels: { app: 'web' } } }) }],
    spec: { cpu: 2, disks: [{ name: 'root', size: '10Gi' }] },
    labels: { app: 'web' },
    fields: {
      'kubectl/Apply': {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': { 'f:cpu': {}, 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } } },
      },
    },
  },
  {
    name: 'a field dropped from the config is removed',
    steps: [
      {
        manager: 'kubectl',
        apply: config({ cpu: 2, memory: '1Gi', nodeSelector: { zone: 'a', rack: '1' } }, { metadata: { labels: { app: 'web', env: 'dev' } } }),
      },
      { manager: 'kubectl', apply: config({ cpu: 2, nodeSelector: { zone: 'a' } }, { metadata: { labels: { app: 'web' } } }) },
    ],
    spec: { cpu: 2, nodeSelector: { zone: 'a' } },
    labels: { app: 'web' },
    fields: { 'kubectl/Apply': { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:cpu': {}, 'f:nodeSelector': { 'f:zone': {} } } } },
  },
  {
    name: 'a map no longer applied at all is removed whole',
    steps: [
      { manager: 'kubectl', apply: config({ cpu: 2 }, { metadata: { labels: { app: 'web' } } }) },
      { manager: 'kubectl', apply: config({ cpu: 2 }) },
    ],
    spec: { cpu: 2 },
    labels: undefined,
  },
  {
    name: 'a field someone else also owns survives being dropped from the config',
    steps: [
      { manager: 'kubectl', apply: config({ cpu: 2, memory: '1Gi' }) },
      { manager: 'kubectl-edit', update: (o) => ({ ...o, spec: { cpu: 2, memory: '2Gi' } }) },
      { manager: 'kubectl', apply: config({ cpu: 2 }) },
    ],
    spec: { cpu: 2, memory: '2Gi' },
    fields: { 'kubectl/Apply': { 'f:spec': { 'f:cpu': {} } }, 'kubectl-edit/Update': { 'f:spec': { 'f:memory': {} } } },
  },
  {
    name: 'fields nobody owns (and the applier never applied) are left alone',
    steps: [
      { manager: 'kubectl', apply: config({ cpu: 2 }) },
      { manager: 'kubectl-edit', update: (o) => ({ ...o, spec: { cpu: 2, memory: '1Gi' } }) },
      { dropManagedFields: 'kubectl-edit' },
      { manager: 'kubectl', apply: config({ cpu: 3 }) },
    ],
    spec: { cpu: 3, memory: '1Gi' },
    fields: { 'kubectl/Apply': { 'f:spec': { 'f:cpu': {} } } },
  },
  {
    name: 'conflict: changing a field another manager owns',
    steps: [clientSideCreate, { manager: 'kubectl', apply: config({ cpu: 4, memory: '1Gi' }) }],
    conflicts: [{ manager: 'kubectl-client-side-apply', field: '.spec.cpu', message: 'conflict with "kubectl-client-side-apply" using quantix.io/v1alpha1' }],
    message: 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using quantix.io/v1alpha1: .spec.cpu',
  },
  {
    name: 'force takes the field: ownership moves to the applier',
    steps: [clientSideCreate, { manager: 'kubectl', force: true, apply: config({ cpu: 4, memory: '1Gi' }) }],
    spec: { cpu: 4, memory: '1Gi', disks: [{ name: 'root', size: '10Gi' }] },
    fields: {
      'kubectl/Apply': { 'f:spec': { 'f:cpu': {}, 'f:memory': {} } },
      'kubectl-client-side-apply/Update': {
        'f:spec': { '.': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
      },
    },
  },
  {
    name: 'conflicts list every field, grouped by manager',
    steps: [
      clientSideCreate,
      { manager: 'ops', apply: config({ runStrategy: 'Always', disks: [{ name: 'root', size: '10Gi' }] }) },
      { manager: 'kubectl', apply: config({ cpu: 8, memory: '4Gi', runStrategy: 'Halted', disks: [{ name: 'root', size: '20Gi' }] }) },
    ],
    conflicts: [
      { manager: 'kubectl-client-side-apply', field: '.spec.cpu', message: 'conflict with "kubectl-client-side-apply" using quantix.io/v1alpha1' },
      {
        manager: 'kubectl-client-side-apply',
        field: '.spec.disks[name="root"].size',
        message: 'conflict with "kubectl-client-side-apply" using quantix.io/v1alpha1',
      },
      { manager: 'kubectl-client-side-apply', field: '.spec.memory', message: 'conflict with "kubectl-client-side-apply" using quantix.io/v1alpha1' },
      { manager: 'ops', field: '.spec.disks[name="root"].size', message: 'conflict with "ops"' },
      { manager: 'ops', field: '.spec.runStrategy', message: 'conflict with "ops"' },
    ],
    message:
      'Apply failed with 5 conflicts: conflicts with "kubectl-client-side-apply" using quantix.io/v1alpha1:\n' +
      '- .spec.cpu\n- .spec.disks[name="root"].size\n- .spec.memory\nconflicts with "ops":\n- .spec.disks[name="root"].size\n- .spec.runStrategy',
  },
  {
    name: "a controller's update takes a field; re-applying the old value then conflicts",
    steps: [
      { manager: 'kubectl', apply: config({ cpu: 2, memory: '1Gi' }) },
      { manager: 'quantix-scheduler', update: (o) => ({ ...o, spec: { ...(o.spec as object), cpu: 3 } }) },
      { manager: 'kubectl', apply: config({ cpu: 2, memory: '1Gi' }) },
    ],
    conflicts: [{ manager: 'quantix-scheduler', field: '.spec.cpu', message: 'conflict with "quantix-scheduler" using quantix.io/v1alpha1' }],
  },
  {
    name: 'conflict on a label',
    steps: [
      { manager: 'labeler', update: () => vm({ cpu: 1 }, { metadata: { name: 'web', labels: { tier: 'db' } } }) },
      { manager: 'kubectl', apply: config({ cpu: 1 }, { metadata: { labels: { tier: 'web' } } }) },
    ],
    conflicts: [{ manager: 'labeler', field: '.metadata.labels.tier', message: 'conflict with "labeler" using quantix.io/v1alpha1' }],
  },
  {
    name: 'two appliers setting the same value share the field without conflict',
    steps: [
      { manager: 'alice', apply: config({ cpu: 2, memory: '1Gi' }) },
      { manager: 'bob', apply: config({ cpu: 2 }) },
    ],
    spec: { cpu: 2, memory: '1Gi' },
    fields: { 'alice/Apply': { 'f:spec': { 'f:cpu': {}, 'f:memory': {} } }, 'bob/Apply': { 'f:spec': { 'f:cpu': {} } } },
  },
  {
    name: 'a shared field stays while one sharer still applies it',
    steps: [
      { manager: 'alice', apply: config({ cpu: 2, memory: '1Gi' }) },
      { manager: 'bob', apply: config({ cpu: 2 }) },
      { manager: 'alice', apply: config({ memory: '1Gi' }) },
    ],
    spec: { cpu: 2, memory: '1Gi' },
    fields: { 'alice/Apply': { 'f:spec': { 'f:memory': {} } }, 'bob/Apply': { 'f:spec': { 'f:cpu': {} } } },
  },
  {
    name: 'a shared field goes when the last sharer drops it',
    steps: [
      { manager: 'alice', apply: config({ cpu: 2, memory: '1Gi' }) },
      { manager: 'bob', apply: config({ cpu: 2 }) },
      { manager: 'alice', apply: config({ memory: '1Gi' }) },
      { manager: 'bob', apply: config({}) },
    ],
    spec: { memory: '1Gi' },
    fields: { 'alice/Apply': { 'f:spec': { 'f:memory': {} } }, 'bob/Apply': { 'f:spec': {} } },
  },
  {
    name: 'list-map: items merge by name; items of other managers are kept',
    steps: [
      { manager: 'kubectl', apply: config({ disks: [{ name: 'root', size: '10Gi' }] }) },
      {
        manager: 'quantix-agent',
        update: (o) => ({
          ...o,
          spec: {
            disks: [
              { name: 'root', size: '10Gi' },
              { name: 'cloudinit', size: '1Mi' },
            ],
          },
        }),
      },
      { manager: 'kubectl', apply: config({ disks: [{ name: 'root', size: '20Gi', bus: 'virtio' }] }) },
    ],
    spec: {
      disks: [
        { name: 'root', size: '20Gi', bus: 'virtio' },
        { name: 'cloudinit', size: '1Mi' },
      ],
    },
    fields: {
      'kubectl/Apply': { 'f:spec': { 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:bus': {}, 'f:name': {}, 'f:size': {} } } } },
      'quantix-agent/Update': { 'f:spec': { 'f:disks': { 'k:{"name":"cloudinit"}': { '.': {}, 'f:name': {}, 'f:size': {} } } } },
    },
  },
  {
    name: 'list-map: two appliers own one item each; dropping an item removes only it',
    steps: [
      {
        manager: 'alice',
        apply: config({
          disks: [
            { name: 'root', size: '10Gi' },
            { name: 'scratch', size: '1Gi' },
          ],
        }),
      },
      { manager: 'bob', apply: config({ disks: [{ name: 'data', size: '5Gi' }] }) },
      { manager: 'alice', apply: config({ disks: [{ name: 'root', size: '10Gi' }] }) },
    ],
    spec: {
      disks: [
        { name: 'root', size: '10Gi' },
        { name: 'data', size: '5Gi' },
      ],
    },
  },
  {
    name: 'list-map: a dropped item goes even if another manager changed a field inside it (as in Kubernetes)',
    steps: [
      {
        manager: 'alice',
        apply: config({
          disks: [
            { name: 'root', size: '10Gi' },
            { name: 'data', size: '1Gi' },
          ],
        }),
      },
      {
        manager: 'resizer',
        update: (o) => ({
          ...o,
          spec: {
            disks: [
              { name: 'root', size: '10Gi' },
              { name: 'data', size: '2Gi' },
            ],
          },
        }),
      },
      { manager: 'alice', apply: config({ disks: [{ name: 'root', size: '10Gi' }] }) },
    ],
    spec: { disks: [{ name: 'root', size: '10Gi' }] },
    fields: { 'alice/Apply': { 'f:spec': { 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } } } } },
  },
  {
    name: 'list-map: config order wins for the items it names, others keep their place',
    steps: [
      { manager: 'alice', apply: config({ disks: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }) },
      { manager: 'bob', apply: config({ disks: [{ name: 'x' }] }) },
      { manager: 'alice', apply: config({ disks: [{ name: 'c' }, { name: 'new' }, { name: 'a' }, { name: 'b' }] }) },
    ],
    spec: { disks: [{ name: 'c' }, { name: 'new' }, { name: 'a' }, { name: 'b' }, { name: 'x' }] },
  },
  {
    name: 'list-map with two keys',
    steps: [
      {
        manager: 'alice',
        apply: config({
          ports: [
            { port: 80, protocol: 'TCP' },
            { port: 80, protocol: 'UDP' },
          ],
        }),
      },
      { manager: 'alice', apply: config({ ports: [{ port: 80, protocol: 'UDP', name: 'dns' }] }) },
    ],
    spec: { ports: [{ port: 80, protocol: 'UDP', name: 'dns' }] },
    fields: { 'alice/Apply': { 'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"UDP"}': { '.': {}, 'f:name': {}, 'f:port': {}, 'f:protocol': {} } } } } },
  },
  {
    name: 'atomic list: replaced whole by its owner',
    steps: [
      { manager: 'alice', apply: config({ networks: [{ name: 'a' }, { name: 'b' }] }) },
      { manager: 'alice', apply: config({ networks: [{ name: 'b', source: 'br0' }] }) },
    ],
    spec: { networks: [{ name: 'b', source: 'br0' }] },
    fields: { 'alice/Apply': { 'f:spec': { 'f:networks': {} } } },
  },
  {
    name: 'atomic list: a different list from another applier is one conflict',
    steps: [
      { manager: 'alice', apply: config({ networks: [{ name: 'a' }] }) },
      { manager: 'bob', apply: config({ networks: [{ name: 'a' }, { name: 'b' }] }) },
    ],
    conflicts: [{ manager: 'alice', field: '.spec.networks', message: 'conflict with "alice"' }],
  },
  {
    name: 'atomic list: force replaces it and moves ownership',
    steps: [
      { manager: 'alice', apply: config({ cpu: 1, networks: [{ name: 'a' }] }) },
      { manager: 'bob', force: true, apply: config({ networks: [{ name: 'b' }] }) },
    ],
    spec: { cpu: 1, networks: [{ name: 'b' }] },
    fields: { 'alice/Apply': { 'f:spec': { 'f:cpu': {} } }, 'bob/Apply': { 'f:spec': { 'f:networks': {} } } },
  },
  {
    name: 'atomic map: replaced whole',
    steps: [
      { manager: 'alice', apply: config({ firmware: { type: 'efi', secureBoot: true } }) },
      { manager: 'alice', apply: config({ firmware: { type: 'bios' } }) },
    ],
    spec: { firmware: { type: 'bios' } },
  },
  {
    name: 'set: values from several appliers are unioned',
    steps: [
      { manager: 'alice', apply: config({ tags: ['a', 'b'] }) },
      { manager: 'bob', apply: config({ tags: ['c', 'a'] }) },
      { manager: 'alice', apply: config({ tags: ['b'] }) },
    ],
    spec: { tags: ['c', 'a', 'b'] },
  },
  {
    name: 'status subresource: applies only status and records subresource',
    steps: [
      { manager: 'kubectl', apply: config({ cpu: 2 }) },
      {
        manager: 'quantix-agent',
        subresource: 'status',
        apply: config({ cpu: 64 }, { metadata: { labels: { x: 'y' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }),
      },
    ],
    spec: { cpu: 2 },
    labels: undefined,
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    fields: {
      'kubectl/Apply': { 'f:spec': { 'f:cpu': {} } },
      'quantix-agent/Apply/status': { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:phase': {} } },
    },
  },
  {
    name: 'status subresource: status fields dropped from the config are removed, conditions merge by type',
    steps: [
      { manager: 'kubectl', apply: config({ cpu: 2 }) },
      {
        manager: 'quantix-agent',
        subresource: 'status',
        apply: config(undefined, { status: { phase: 'Running', nodeName: 'n1', conditions: [{ type: 'Ready', status: 'True' }] } }),
      },
      {
        manager: 'quantix-vm-controller',
        subresource: 'status',
        update: (o) => ({
          ...o,
          status: {
            ...(o.status as object),
            conditions: [
              { type: 'Ready', status: 'True' },
              { type: 'Scheduled', status: 'True' },
            ],
          },
        }),
      },
      {
        manager: 'quantix-agent',
        subresource: 'status',
        apply: config(undefined, { status: { phase: 'Stopped', conditions: [{ type: 'Ready', status: 'False', reason: 'Stopped' }] } }),
      },
    ],
    status: {
      phase: 'Stopped',
      conditions: [
        { type: 'Ready', status: 'False', reason: 'Stopped' },
        { type: 'Scheduled', status: 'True' },
      ],
    },
  },
  {
    name: 'main resource: status in the config is ignored and live status kept',
    steps: [
      { manager: 'kubectl', apply: config({ cpu: 2 }) },
      { manager: 'quantix-agent', subresource: 'status', update: (o) => ({ ...o, status: { phase: 'Running' } }) },
      { manager: 'kubectl', apply: config({ cpu: 3 }, { status: { phase: 'Failed' } }) },
    ],
    spec: { cpu: 3 },
    status: { phase: 'Running' },
    fields: { 'kubectl/Apply': { 'f:spec': { 'f:cpu': {} } }, 'quantix-agent/Update/status': { 'f:status': { '.': {}, 'f:phase': {} } } },
  },
  {
    name: 'an object that never had managedFields: its fields belong to before-first-apply',
    steps: [{ manager: 'legacy', update: () => vm({ cpu: 2, memory: '1Gi' }) }, { dropManagedFields: '*' }, { manager: 'kubectl', apply: config({ cpu: 4 }) }],
    conflicts: [{ manager: 'before-first-apply', field: '.spec.cpu', message: 'conflict with "before-first-apply" using quantix.io/v1alpha1' }],
  },
  {
    name: 'null in the config is a value (the schema validation decides)',
    steps: [
      { manager: 'alice', apply: config({ cpu: 2, memory: '1Gi' }) },
      { manager: 'alice', apply: config({ cpu: 2, memory: null }) },
    ],
    spec: { cpu: 2, memory: null },
  },
  {
    name: 'without a schema, lists are atomic and objects merge by key',
    steps: [
      { manager: 'alice', apply: config({ cpu: 2, disks: [{ name: 'a' }] }) },
      { manager: 'bob', apply: config({ memory: '1Gi' }) },
      { manager: 'alice', apply: config({ disks: [{ name: 'b' }] }) },
    ],
    spec: { disks: [{ name: 'b' }], memory: '1Gi' },
  },
];

function run(steps: Step[], noSchemaFor = ''): KubeObject | undefined {
  let live: KubeObject | undefined;
  steps.forEach((step, i) => {
    const now = new Date(T1.getTime() + i * 60_000);
    if ('dropManagedFields' in step) {
      const kept = live!.metadata.managedFields!.filter((e) => step.dropManagedFields !== '*' && e.manager !== step.dropManagedFields);
      live = { ...live!, metadata: { ...live!.metadata, managedFields: kept } };
      if (kept.length === 0) delete live.metadata.managedFields;
    } else if ('apply' in step) {
      live = apply({
        live,
        applied: step.apply,
        manager: step.manager,
        force: step.force,
        subresource: step.subresource,
        schema: noSchemaFor ? undefined : vmSchema,
        now,
      }).object;
    } else {
      const next = step.update(structuredClone(live) ?? ({ metadata: {} } as KubeObject));
      const managedFields = recordUpdate(live, next, step.manager, step.subresource, { schema: vmSchema, now });
      live = { ...next, metadata: { ...next.metadata, managedFields } };
    }
  });
  return live;
}

const fieldsOf = (obj: KubeObject) =>
  Object.fromEntries((obj.metadata.managedFields ?? []).map((e) => [[e.manager, e.operation, e.subresource].filter(Boolean).join('/'), e.fieldsV1]));

describe('server-side apply scenarios', () => {
  test.each(scenarios.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    const noSchema = s.name.startsWith('without a schema') ? 'all' : '';
    if (s.conflicts) {
      const before = run(s.steps.slice(0, -1));
      const frozen = JSON.stringify(before);
      let error: unknown;
      try {
        run(s.steps);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ApplyConflictError);
      expect((error as ApplyConflictError).conflicts).toEqual(s.conflicts);
      if (s.message) expect((error as ApplyConflictError).message).toBe(s.message);
      expect(JSON.stringify(before)).toBe(frozen);
      return;
    }
    const obj = run(s.steps, noSchema)!;
    if ('spec' in s) expect(obj.spec).toEqual(s.spec);
    if ('status' in s) expect(obj.status).toEqual(s.status);
    if ('labels' in s) expect(obj.metadata.labels).toEqual(s.labels);
    if (s.fields) expect(fieldsOf(obj)).toEqual(s.fields);
  });
});

describe('apply', () => {
  const first = config(
    { cpu: 2, memory: '1Gi', disks: [{ name: 'root', size: '10Gi' }] },
    { metadata: { labels: { app: 'web' } }, status: { phase: 'Running' } },
  );

  test('create returns the full object with an Apply entry and drops status', () => {
    const r = apply({ live: undefined, applied: first, manager: 'kubectl', schema: vmSchema, now: T1 });
    expect(r).toEqual({
      created: true,
      changed: true,
      object: {
        apiVersion: API_VERSION,
        kind: 'VirtualMachine',
        metadata: {
          name: 'web',
          namespace: 'default',
          labels: { app: 'web' },
          managedFields: [
            {
              manager: 'kubectl',
              operation: 'Apply',
              apiVersion: API_VERSION,
              time: '2025-01-01T10:00:00Z',
              fieldsType: 'FieldsV1',
              fieldsV1: {
                'f:metadata': { 'f:labels': { 'f:app': {} } },
                'f:spec': { 'f:cpu': {}, 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
              },
            },
          ],
        },
        spec: { cpu: 2, memory: '1Gi', disks: [{ name: 'root', size: '10Gi' }] },
      },
    });
  });

  test('re-applying the identical config yields an identical object (same bytes, same time)', () => {
    const live = { ...apply({ live: undefined, applied: first, manager: 'kubectl', schema: vmSchema, now: T1 }).object };
    live.metadata = { ...live.metadata, uid: 'u-1', resourceVersion: '42', creationTimestamp: '2025-01-01T10:00:00Z' };
    const again = apply({ live, applied: structuredClone(first), manager: 'kubectl', schema: vmSchema, now: T3 });
    expect(again.changed).toBe(false);
    expect(again.created).toBe(false);
    expect(JSON.stringify(again.object)).toBe(JSON.stringify(live));
  });

  test('a change updates the entry time; system metadata comes from live', () => {
    const created = apply({ live: undefined, applied: first, manager: 'kubectl', schema: vmSchema, now: T1 }).object;
    const live = { ...created, metadata: { ...created.metadata, uid: 'u-1', resourceVersion: '42' } };
    const changedConfig = config(
      { cpu: 4, memory: '1Gi', disks: [{ name: 'root', size: '10Gi' }] },
      { metadata: { labels: { app: 'web' }, uid: 'other', resourceVersion: '1' } },
    );
    const r = apply({ live, applied: changedConfig, manager: 'kubectl', schema: vmSchema, now: T2 });
    expect(r.changed).toBe(true);
    expect(r.object.metadata).toMatchObject({ uid: 'u-1', resourceVersion: '42', name: 'web' });
    expect(r.object.metadata.managedFields![0]!.time).toBe('2025-01-01T11:00:00Z');
    expect((r.object.spec as { cpu: number }).cpu).toBe(4);
  });

  test('a second applier sharing values gets an entry but the object is unchanged apart from managedFields', () => {
    const live = apply({ live: undefined, applied: first, manager: 'alice', schema: vmSchema, now: T1 }).object;
    const r = apply({ live, applied: config({ cpu: 2 }), manager: 'bob', schema: vmSchema, now: T2 });
    expect(r.changed).toBe(true);
    expect({ ...r.object, metadata: { ...r.object.metadata, managedFields: [] } }).toEqual({ ...live, metadata: { ...live.metadata, managedFields: [] } });
    expect(r.object.metadata.managedFields!.map((e) => [e.manager, e.time])).toEqual([
      ['alice', '2025-01-01T10:00:00Z'],
      ['bob', '2025-01-01T11:00:00Z'],
    ]);
  });

  test('inputs are never mutated and the result shares nothing with them', () => {
    const live = apply({ live: undefined, applied: first, manager: 'alice', schema: vmSchema, now: T1 }).object;
    const newDisk = { name: 'x', size: '1Gi' };
    const applied = config({ cpu: 3, disks: [{ name: 'root', size: '20Gi' }, newDisk] });
    const [liveText, appliedText] = [JSON.stringify(live), JSON.stringify(applied)];
    const r = apply({ live, applied, manager: 'alice', schema: vmSchema, now: T2 });
    expect([JSON.stringify(live), JSON.stringify(applied)]).toEqual([liveText, appliedText]);
    const disks = (r.object.spec as { disks: object[] }).disks;
    expect(disks[1]).toEqual(newDisk);
    expect(disks[1]).not.toBe(newDisk);
    expect(r.object.metadata).not.toBe(live.metadata);
  });

  test('an applier whose config owns nothing any more loses its entry', () => {
    const live = apply({ live: undefined, applied: config({ cpu: 2 }), manager: 'alice', schema: vmSchema, now: T1 }).object;
    const r = apply({ live, applied: config(undefined), manager: 'alice', schema: vmSchema, now: T2 });
    expect(r.object.spec).toBeUndefined();
    expect(r.object.metadata.managedFields).toBeUndefined();
  });

  const invalid: [name: string, request: () => Parameters<typeof apply>[0], message: string][] = [
    ['no field manager', () => ({ live: undefined, applied: first, manager: '' }), 'fieldManager is required for apply requests'],
    ['a config that is not an object', () => ({ live: undefined, applied: ['x'], manager: 'm' }), 'the applied configuration must be an object'],
    ['metadata that is not an object', () => ({ live: undefined, applied: { metadata: 'x' }, manager: 'm' }), 'metadata must be an object'],
    [
      'managedFields in the config',
      () => ({ live: undefined, applied: config({}, { metadata: { managedFields: [] } }), manager: 'm' }),
      'metadata.managedFields must be nil',
    ],
    [
      'a list-map item without its key',
      () => ({ live: undefined, applied: config({ disks: [{ size: '1Gi' }] }), manager: 'm', schema: vmSchema }),
      '.spec.disks: item 0 has no key field "name"',
    ],
    [
      'duplicate list-map keys',
      () => ({ live: undefined, applied: config({ disks: [{ name: 'a' }, { name: 'a', size: '1Gi' }] }), manager: 'm', schema: vmSchema }),
      '.spec.disks: duplicate entries for key name="a"',
    ],
    [
      'a list-map item that is not an object',
      () => ({ live: undefined, applied: config({ disks: ['root'] }), manager: 'm', schema: vmSchema }),
      '.spec.disks: item 0 must be an object',
    ],
    [
      'an object as a key value',
      () => ({ live: undefined, applied: config({ disks: [{ name: { a: 1 } }] }), manager: 'm', schema: vmSchema }),
      '.spec.disks: key field "name" of item 0 must be a string, number or boolean',
    ],
    [
      'duplicate set values',
      () => ({ live: undefined, applied: config({ tags: ['a', 'a'] }), manager: 'm', schema: vmSchema }),
      '.spec.tags: duplicate value "a" in a set',
    ],
    [
      'duplicate finalizers',
      () => ({ live: undefined, applied: config({}, { metadata: { finalizers: ['f', 'f'] } }), manager: 'm', schema: vmSchema }),
      '.metadata.finalizers: duplicate value "f" in a set',
    ],
    [
      'status apply to a missing object',
      () => ({ live: undefined, applied: config(undefined, { status: {} }), manager: 'm', subresource: 'status' }),
      'cannot apply to the status of an object that does not exist',
    ],
  ];
  test.each(invalid)('rejects %s', (_name, request, message) => {
    expect(() => apply(request())).toThrow(ApplyError);
    expect(() => apply(request())).toThrow(message);
  });

  test('a stored list that cannot be keyed is treated as atomic, not refused', () => {
    const live = vm({ disks: [{ name: 'a' }, { name: 'a' }] });
    const r = apply({ live, applied: config({ disks: [{ name: 'b' }] }), manager: 'm', schema: vmSchema, now: T1, force: true });
    expect(r.object.spec).toEqual({ disks: [{ name: 'b' }] });
  });
});
