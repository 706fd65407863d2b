import type { Event, Node, StoragePool, VirtualMachine } from './generated/types.js';
import type { KubeObject } from './meta.js';
import { apiVersionOf } from './group-version.js';
import {
  fieldGetters,
  findResource,
  groupVersions,
  nodeDefinition,
  RESOURCES,
  resourceFor,
  resourceForGVK,
  resourceForKind,
  resourceForShortName,
  storagePoolDefinition,
  virtualMachineDefinition,
  eventDefinition,
} from './registry.js';
import { humanDuration } from './schema/printing.js';
import { SCHEMA_KEYS, type JSONSchema, type ResourceDefinition } from './schema/types.js';

const now = new Date('2024-01-10T12:00:00Z');

function cells(def: ResourceDefinition, obj: KubeObject, wide = false): Record<string, unknown> {
  return Object.fromEntries(def.printerColumns.filter((c) => wide || c.priority === 0).map((c) => [c.name, c.cell(obj, now)]));
}

describe('registry', () => {
  test('lookups', () => {
    expect(resourceFor('quantix.io', 'virtualmachines')).toBe(virtualMachineDefinition);
    expect(resourceFor('', 'events')?.kind).toBe('Event');
    expect(resourceFor('coordination.k8s.io', 'leases')?.kind).toBe('Lease');
    expect(resourceFor('quantix.io', 'events')).toBeUndefined();
    expect(resourceForKind('StoragePool')).toBe(storagePoolDefinition);
    expect(resourceForGVK('quantix.io/v1alpha1', 'Node')).toBe(nodeDefinition);
    expect(resourceForGVK('v1', 'Node')).toBeUndefined();
    expect(resourceForShortName('vm')).toBe(virtualMachineDefinition);
    expect(resourceForShortName('vms')).toBe(virtualMachineDefinition);
    expect(resourceForShortName('sp')).toBe(storagePoolDefinition);
    expect(resourceForShortName('qn')).toBe(nodeDefinition);
    expect(findResource('VirtualMachines.quantix.io')).toBe(virtualMachineDefinition);
    expect(findResource('virtualmachine')).toBe(virtualMachineDefinition);
    expect(findResource('node')).toBe(nodeDefinition);
    expect(findResource('nodes.example.com')).toBeUndefined();
    expect(apiVersionOf(eventDefinition)).toBe('v1');
    expect(groupVersions().map((g) => apiVersionOf(g))).toEqual(['quantix.io/v1alpha1', 'v1', 'coordination.k8s.io/v1']);
  });

  test('names are consistent and short names never shadow core kubectl names', () => {
    const reserved = new Set(['no', 'po', 'svc', 'ns', 'ev', 'pv', 'pvc', 'cm', 'deploy', 'ds', 'rs', 'sts', 'sa', 'ing', 'ep']);
    const seen = new Set<string>();
    for (const d of RESOURCES) {
      expect(d.listKind).toBe(`${d.kind}List`);
      expect(d.singular).toBe(d.kind.toLowerCase());
      expect(d.plural).toMatch(/^[a-z]+s$/);
      for (const s of d.shortNames) {
        if (d.group !== '') expect(reserved.has(s)).toBe(false);
        expect(seen.has(s)).toBe(false);
        seen.add(s);
      }
      if (d.group === 'quantix.io') expect(d.categories).toContain('quantix');
    }
    expect(virtualMachineDefinition.categories).toEqual(['quantix', 'all']);
    expect(nodeDefinition.shortNames).not.toContain('no');
    expect(nodeDefinition.shortNames).not.toContain('node');
  });

  test('schemas use only the structural keywords a CRD accepts', () => {
    const bad: string[] = [];
    const walk = (s: JSONSchema, path: string) => {
      for (const k of Object.keys(s)) if (!SCHEMA_KEYS.has(k)) bad.push(`${path}: ${k}`);
      if (s.type === undefined && !s['x-kubernetes-preserve-unknown-fields']) bad.push(`${path}: no type`);
      if (s.properties && s.additionalProperties) bad.push(`${path}: properties and additionalProperties`);
      for (const [k, p] of Object.entries(s.properties ?? {})) walk(p, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
      if (s.additionalProperties) walk(s.additionalProperties, `${path}{}`);
      if (s['x-kubernetes-list-type'] === 'map') {
        for (const key of s['x-kubernetes-list-map-keys'] ?? []) {
          if (!s.items?.required?.includes(key)) bad.push(`${path}: list-map key ${key} not required`);
        }
      }
    };
    for (const d of RESOURCES) walk(d.schema, d.kind);
    expect(bad).toEqual([]);
  });

  test('printer columns have kubectl-valid types and priorities; selectable fields resolve', () => {
    for (const d of RESOURCES) {
      expect(d.printerColumns.some((c) => c.priority === 0)).toBe(true);
      for (const c of d.printerColumns) {
        expect(['integer', 'number', 'string', 'boolean', 'date']).toContain(c.type);
        expect(c.jsonPath.startsWith('.')).toBe(true);
        expect(c.description).not.toBe('');
      }
      // Every selectable field is a path in the schema.
      for (const f of d.selectableFields) {
        if (d.kind === 'Event' && f.path === 'source') continue; // Kubernetes' alias for source.component
        let s: JSONSchema | undefined = d.schema;
        for (const seg of f.path.split('.')) s = s?.properties?.[seg];
        expect([f.path, s?.type]).toEqual([f.path, expect.stringMatching(/^(string|boolean|integer)$/)]);
      }
    }
  });
});

describe('table cells', () => {
  test('VirtualMachine', () => {
    const vm: VirtualMachine = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'web', creationTimestamp: '2024-01-10T11:55:00Z' },
      spec: { memory: '1536Mi', cpu: 2 },
      status: {
        phase: 'Running',
        nodeName: 'host-1',
        powerState: 'running',
        conditions: [{ type: 'Ready', status: 'True' }],
        interfaces: [{ name: 'n' }, { name: 'm', ipAddress: '10.0.0.9' }],
      },
    };
    expect(cells(virtualMachineDefinition, vm)).toEqual({
      Phase: 'Running',
      Node: 'host-1',
      IP: '10.0.0.9',
      CPU: 2,
      Memory: '1.5Gi',
      Ready: 'True',
      Age: '5m',
    });
    expect(cells(virtualMachineDefinition, vm, true)).toMatchObject({ Power: 'running', 'Run-Strategy': 'Always', Origin: '', IP: '10.0.0.9' });
    const bare = { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata: {}, spec: { memory: '256Mi' } } as VirtualMachine;
    expect(cells(virtualMachineDefinition, bare)).toEqual({ Phase: '', Node: '', IP: '', CPU: 1, Memory: '256Mi', Ready: '', Age: '<unknown>' });
  });

  test('StoragePool', () => {
    const sp: StoragePool = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'local', creationTimestamp: '2024-01-08T12:00:00Z' },
      spec: { type: 'dir', dir: { path: '/var/lib/quantix/pools/local' }, assignedNodes: ['a', 'b', 'c'] },
      status: {
        phase: 'Degraded',
        capacity: { totalBytes: 500 * 2 ** 30, usedBytes: 120 * 2 ** 30, availableBytes: 380 * 2 ** 30 },
        hosts: { a: { health: 'HEALTHY' }, b: { health: 'HEALTHY' }, c: { health: 'ERROR' }, gone: { health: 'HEALTHY' } },
      },
    };
    expect(cells(storagePoolDefinition, sp, true)).toEqual({
      Type: 'dir',
      Phase: 'Degraded',
      Capacity: '120Gi/500Gi',
      Nodes: '2/3',
      Age: '2d',
      Source: '/var/lib/quantix/pools/local',
      Available: '380Gi',
    });
    const nfs = { ...sp, spec: { type: 'nfs', nfs: { server: 'nas', exportPath: '/e' } }, status: undefined } as StoragePool;
    expect(cells(storagePoolDefinition, nfs, true)).toMatchObject({ Capacity: '', Nodes: '0/0', Source: 'nas:/e', Available: '' });
  });

  test('Node', () => {
    const n: Node = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Node',
      metadata: { name: 'host-1', creationTimestamp: '2024-01-10T09:00:00Z' },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [
          { type: 'Hostname', address: 'host-1' },
          { type: 'InternalIP', address: '10.0.0.1' },
        ],
        allocatable: { cpu: 8, memoryBytes: 16 * 2 ** 30 },
        allocated: { cpu: 2, memoryBytes: 1.5 * 2 ** 30, vmCount: 3 },
        nodeInfo: { hypervisor: 'kvm', libvirtVersion: '9.0.0', agentVersion: '0.1.0', kernelVersion: '6.1' },
        acceleration: 'tcg',
      },
    };
    expect(cells(nodeDefinition, n, true)).toEqual({
      Status: 'Ready,SchedulingDisabled',
      VMs: 3,
      CPU: '2/8',
      Memory: '1.5Gi/16Gi',
      Accel: 'tcg',
      Age: '3h',
      'Internal-IP': '10.0.0.1',
      Hypervisor: 'kvm',
      Libvirt: '9.0.0',
      Agent: '0.1.0',
      Kernel: '6.1',
    });
    const unknown = { ...n, spec: {}, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } } as Node;
    expect(cells(nodeDefinition, unknown)).toMatchObject({ Status: 'Unknown', VMs: 0, CPU: '', Memory: '' });
    expect(fieldGetters(nodeDefinition)['spec.unschedulable']!(n)).toBe('true');
    expect(fieldGetters(nodeDefinition)['spec.unschedulable']!(unknown)).toBe('false');
  });

  test('Event', () => {
    const e: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web.1', namespace: 'default' },
      involvedObject: { kind: 'VirtualMachine', name: 'web', namespace: 'default', uid: 'u1' },
      reason: 'Scheduled',
      message: 'Bound to host-1',
      type: 'Normal',
      count: 2,
      firstTimestamp: '2024-01-10T11:00:00Z',
      lastTimestamp: '2024-01-10T11:59:30Z',
      source: { component: 'quantix-scheduler', host: 'cm-1' },
    };
    expect(cells(eventDefinition, e, true)).toEqual({
      'Last Seen': '30s',
      Type: 'Normal',
      Reason: 'Scheduled',
      Object: 'virtualmachine/web',
      Message: 'Bound to host-1',
      Subobject: '',
      Source: 'quantix-scheduler, cm-1',
      'First Seen': '60m',
      Count: 2,
      Name: 'web.1',
    });
    const get = fieldGetters(eventDefinition);
    expect(Object.keys(get)).toEqual(
      expect.arrayContaining(['involvedObject.name', 'involvedObject.namespace', 'involvedObject.kind', 'involvedObject.uid', 'reason', 'type']),
    );
    expect(get['involvedObject.kind']!(e)).toBe('VirtualMachine');
    expect(get['involvedObject.uid']!(e)).toBe('u1');
    expect(get.type!(e)).toBe('Normal');
    expect(get['involvedObject.fieldPath']!(e)).toBe('');
  });

  test('VM field getters', () => {
    const get = fieldGetters(virtualMachineDefinition);
    const vm = { metadata: {}, spec: { nodeName: 'h1', memory: '1Gi' }, status: { phase: 'Lost', nodeName: 'h2' } } as unknown as KubeObject;
    expect([get['spec.nodeName']!(vm), get['status.phase']!(vm), get['status.nodeName']!(vm), get['status.origin']!(vm)]).toEqual(['h1', 'Lost', 'h2', '']);
  });

  test.each([
    [-5000, '<invalid>'],
    [-500, '0s'],
    [0, '0s'],
    [59_000, '59s'],
    [119_000, '119s'],
    [125_000, '2m5s'],
    [600_000, '10m'],
    [3 * 3600_000, '3h'],
    [3 * 3600_000 + 60_000, '3h1m'],
    [10 * 3600_000, '10h'],
    [50 * 3600_000, '2d2h'],
    [30 * 86400_000, '30d'],
    [3 * 365 * 86400_000, '3y'],
    [3 * 365 * 86400_000 + 86400_000, '3y1d'],
    [10 * 365 * 86400_000, '10y'],
  ])('humanDuration(%d) = %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});
