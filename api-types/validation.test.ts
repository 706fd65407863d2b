import { formatFieldError, invalidStatus } from './field-errors.js';
import type { FieldError } from './schema/types.js';
import { findUnknownFields, pruneUnknownFields, unknownFieldMessage, validate, validateSpec, validateStatus } from './validation.js';

const vm = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'web-1', namespace: 'default' },
  spec: { memory: '512Mi', ...spec },
  ...extra,
});
const pool = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'StoragePool',
  metadata: { name: 'local' },
  spec,
  ...extra,
});
const node = (status: Record<string, unknown>) => ({ apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'host-1' }, status });

/** `field type message` lines, sorted: compares every problem, and only those. */
const lines = (errs: FieldError[]) => errs.map((e) => `${e.field} ${e.type} ${e.message}`).sort();

const NOT_LABEL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')";

const valid: [string, string, unknown][] = [
  ['minimal VM', 'VirtualMachine', vm({})],
  [
    'full VM',
    'VirtualMachine',
    vm(
      {
        runStrategy: 'RerunOnFailure',
        cpu: 4,
        memory: '1.5Gi',
        paused: true,
        disks: [
          { name: 'root', storagePool: 'local', size: '20Gi', bus: 'scsi', sourceImage: 'images/debian.qcow2', bootOrder: 1 },
          { name: 'data', storagePool: 'shared-nfs', size: '100G' },
        ],
        networks: [
          { name: 'mgmt', type: 'bridge', source: 'br0', macAddress: '52:54:00:12:34:56' },
          { name: 'nat', type: 'network', source: 'default', model: 'e1000' },
          { name: 'user' },
        ],
        nodeName: 'host-1.example.com',
        nodeSelector: { 'quantix.io/zone': 'a', ssd: 'true' },
      },
      {
        status: {
          phase: 'Running',
          powerState: 'running',
          nodeName: 'host-1',
          origin: 'control-plane',
          managed: true,
          domainUUID: '0f8fad5b-d9cb-469f-a165-70867728950e',
          domainName: 'default_web-1',
          lastSeen: '2024-01-02T15:04:05Z',
          conditions: [
            { type: 'Ready', status: 'True', reason: 'Running', message: '', lastTransitionTime: '2024-01-02T15:04:05.123456Z', observedGeneration: 2 },
          ],
          observedGeneration: 2,
          interfaces: [{ name: 'mgmt', macAddress: '52:54:00:12:34:56', ipAddress: '10.0.0.5' }],
          volumes: [{ name: 'root', pool: 'local', path: '/var/lib/quantix/pools/local/web-1-root.qcow2', capacityBytes: 21474836480 }],
          restartCount: 0,
        },
      },
    ),
  ],
  ['VM with generateName only', 'VirtualMachine', { ...vm({}), metadata: { generateName: 'web-' } }],
  ['dir pool', 'StoragePool', pool({ type: 'dir', dir: { path: '/var/lib/quantix/pools/local' }, assignedNodes: ['host-1', 'host-2'] })],
  [
    'nfs pool with status',
    'StoragePool',
    pool(
      { type: 'nfs', nfs: { server: '10.0.0.2', exportPath: '/exports/q', mountOptions: ['nfsvers=4.1'] } },
      {
        status: {
          phase: 'Degraded',
          capacity: { totalBytes: 100, usedBytes: 40, availableBytes: 60 },
          hosts: { 'host-1': { health: 'UNMOUNTED', message: 'mount.nfs: Connection refused', lastReported: '2024-01-02T15:04:05Z' } },
          conditions: [{ type: 'Ready', status: 'False' }],
          observedGeneration: 1,
        },
      },
    ),
  ],
  [
    'node',
    'Node',
    {
      ...node({
        conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', lastHeartbeatTime: '2024-01-02T15:04:05Z' }],
        addresses: [
          { type: 'InternalIP', address: '192.168.1.10' },
          { type: 'InternalIP', address: 'fd00::10' },
          { type: 'Hostname', address: 'Host-1' },
        ],
        capacity: { cpu: 8, memoryBytes: 17179869184 },
        allocatable: { cpu: 8, memoryBytes: 16106127360 },
        allocated: { cpu: 2, memoryBytes: 1073741824, vmCount: 2 },
        nodeInfo: { hypervisor: 'kvm', libvirtVersion: '9.0.0', agentVersion: '0.1.0' },
        stateHash: 'abc',
        assignedPools: ['local'],
      }),
      spec: { unschedulable: true },
    },
  ],
  [
    'event',
    'Event',
    {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web-1.17a3f', namespace: 'default' },
      involvedObject: { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', name: 'web-1', namespace: 'default', uid: 'u' },
      reason: 'Scheduled',
      message: 'Bound to host-1',
      type: 'Normal',
      count: 1,
      firstTimestamp: '2024-01-02T15:04:05Z',
      lastTimestamp: '2024-01-02T15:04:05Z',
      source: { component: 'quantix-scheduler' },
    },
  ],
  [
    'lease',
    'Lease',
    {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'quantix-controller-manager', namespace: 'quantix-system' },
      spec: {
        holderIdentity: 'cm-1',
        leaseDurationSeconds: 15,
        acquireTime: '2024-01-02T15:04:05.000000Z',
        renewTime: '2024-01-02T15:04:06.000000Z',
        leaseTransitions: 3,
      },
    },
  ],
];

const invalid: [string, string, unknown, string[]][] = [
  [
    'VM without spec.memory and bad name',
    'VirtualMachine',
    { ...vm({}), metadata: { name: 'Web_1' }, spec: { cpu: 2 } },
    ['metadata.name FieldValueInvalid ' + NOT_LABEL, 'spec.memory FieldValueRequired Required value'],
  ],
  [
    'VM memory not a quantity, too small, cpu 0',
    'VirtualMachine',
    vm({ memory: '2GB', cpu: 0 }),
    ['spec.cpu FieldValueInvalid must be greater than or equal to 1', 'spec.memory FieldValueInvalid must be a quantity like 2Gi'],
  ],
  ['VM memory below 16Mi', 'VirtualMachine', vm({ memory: '8Mi' }), ['spec.memory FieldValueInvalid must be at least 16Mi']],
  [
    'VM wrong types',
    'VirtualMachine',
    vm({ cpu: '2', runStrategy: 3, paused: 'yes', memory: 512 }),
    [
      'spec.cpu FieldValueTypeInvalid must be of type integer',
      'spec.memory FieldValueTypeInvalid must be of type string',
      'spec.paused FieldValueTypeInvalid must be of type boolean',
      'spec.runStrategy FieldValueTypeInvalid must be of type string',
    ],
  ],
  [
    'VM enums',
    'VirtualMachine',
    vm({ runStrategy: 'Sometimes', disks: [{ name: 'a', storagePool: 'p', size: '1Gi', bus: 'ide' }], networks: [{ name: 'n', type: 'macvtap' }] }),
    [
      'spec.disks[0].bus FieldValueNotSupported Unsupported value: "ide": supported values: "virtio", "sata", "scsi"',
      'spec.networks[0].type FieldValueNotSupported Unsupported value: "macvtap": supported values: "user", "network", "bridge"',
      'spec.runStrategy FieldValueNotSupported Unsupported value: "Sometimes": supported values: "Always", "Halted", "Manual", "RerunOnFailure"',
    ],
  ],
  [
    'VM disks: duplicates, missing fields, bad sizes and names',
    'VirtualMachine',
    vm({
      disks: [
        { name: 'root', storagePool: 'local', size: '1Gi' },
        { name: 'root', storagePool: 'local', size: '0.5' },
        { name: 'Data', size: '10' },
        { storagePool: 'local', size: 'lots' },
      ],
    }),
    [
      'spec.disks[1].name FieldValueDuplicate Duplicate value: "root"',
      'spec.disks[1].size FieldValueInvalid must be a whole number of bytes',
      'spec.disks[2].name FieldValueInvalid ' + NOT_LABEL,
      'spec.disks[2].size FieldValueInvalid must be at least 1Mi',
      'spec.disks[2].storagePool FieldValueRequired Required value',
      'spec.disks[3].name FieldValueRequired Required value',
      'spec.disks[3].size FieldValueInvalid must be a quantity like 2Gi',
    ],
  ],
  [
    'VM networks: duplicate names, source rules, bad MAC',
    'VirtualMachine',
    vm({
      networks: [
        { name: 'a', type: 'bridge' },
        { name: 'a', source: 'br0' },
        { name: 'b', type: 'network', source: 'default', macAddress: '52:54:00:zz:00:01' },
      ],
    }),
    [
      'spec.networks[0].source FieldValueRequired Required value: type bridge needs the name of a host bridge',
      'spec.networks[1].name FieldValueDuplicate Duplicate value: "a"',
      'spec.networks[1].source FieldValueForbidden Forbidden: may not be set when type is user',
      'spec.networks[2].macAddress FieldValueInvalid must be a MAC address like 52:54:00:12:34:56',
    ],
  ],
  [
    'VM nodeName and nodeSelector',
    'VirtualMachine',
    vm({ nodeName: 'Host_1', nodeSelector: { 'bad key!': 'v', ok: 'bad value!' } }),
    [
      "spec.nodeName FieldValueInvalid a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
      "spec.nodeSelector FieldValueInvalid name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc')",
      "spec.nodeSelector[ok] FieldValueInvalid a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345')",
    ],
  ],
  [
    'VM metadata',
    'VirtualMachine',
    { ...vm({}), apiVersion: 'quantix.io/v1', metadata: { name: 'a'.repeat(64), namespace: 'Prod', labels: { app: 3 } } },
    [
      'apiVersion FieldValueInvalid must be quantix.io/v1alpha1',
      'metadata.labels[app] FieldValueTypeInvalid must be of type string',
      'metadata.name FieldValueInvalid must be no more than 63 characters',
      'metadata.namespace FieldValueInvalid ' + NOT_LABEL,
    ],
  ],
  ['VM without a name', 'VirtualMachine', { ...vm({}), metadata: {} }, ['metadata.name FieldValueRequired Required value: name or generateName is required']],
  [
    'VM status',
    'VirtualMachine',
    vm(
      {},
      {
        status: {
          phase: 'Exploded',
          powerState: 'on',
          origin: 'cloud',
          managed: 'yes',
          lastSeen: 'yesterday',
          domainUUID: 'nope',
          restartCount: -1,
          conditions: [{ type: 'Ready', status: 'Maybe' }, { type: 'Ready', status: 'True' }, { status: 'True' }],
        },
      },
    ),
    [
      'status.conditions[0].status FieldValueNotSupported Unsupported value: "Maybe": supported values: "True", "False", "Unknown"',
      'status.conditions[1].type FieldValueDuplicate Duplicate value: "Ready"',
      'status.conditions[2].type FieldValueRequired Required value',
      'status.domainUUID FieldValueInvalid must be a UUID like 0f8fad5b-d9cb-469f-a165-70867728950e',
      'status.lastSeen FieldValueInvalid must be an RFC 3339 date-time like 2024-01-02T15:04:05Z',
      'status.managed FieldValueTypeInvalid must be of type boolean',
      'status.origin FieldValueNotSupported Unsupported value: "cloud": supported values: "control-plane", "host-discovered", "imported"',
      'status.phase FieldValueNotSupported Unsupported value: "Exploded": supported values: "Pending", "Scheduled", "Starting", "Running", "Stopping", "Stopped", "Paused", "Failed", "Unknown", "Lost", "Terminated"',
      'status.powerState FieldValueNotSupported Unsupported value: "on": supported values: "running", "paused", "shutoff", "crashed", "pmsuspended", "blocked", "shutdown", "nostate"',
      'status.restartCount FieldValueInvalid must be greater than or equal to 0',
    ],
  ],
  [
    'pool of an unsupported type',
    'StoragePool',
    pool({ type: 'iscsi' }),
    ['spec.type FieldValueNotSupported Unsupported value: "iscsi": supported values: "dir", "nfs"'],
  ],
  [
    'dir pool without dir, with nfs',
    'StoragePool',
    pool({ type: 'dir', nfs: { server: 's', exportPath: '/e' } }),
    ['spec.dir FieldValueRequired Required value: must be set when type is dir', 'spec.nfs FieldValueForbidden Forbidden: may not be set when type is dir'],
  ],
  [
    'nfs pool with bad source',
    'StoragePool',
    pool({ type: 'nfs', nfs: { server: 'nfs server', exportPath: 'exports', mountOptions: ['ro,soft'] }, assignedNodes: ['a', 'a', 'B'] }),
    [
      'spec.assignedNodes[1] FieldValueDuplicate Duplicate value: "a"',
      "spec.assignedNodes[2] FieldValueInvalid a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
      'spec.nfs.exportPath FieldValueInvalid must be an absolute path',
      'spec.nfs.mountOptions[0] FieldValueInvalid must be a single mount option without spaces or commas',
      'spec.nfs.server FieldValueInvalid must be a host name or IP address',
    ],
  ],
  [
    'nfs pool missing server, namespaced, no spec type',
    'StoragePool',
    { ...pool({ nfs: { exportPath: '/e' } }), metadata: { name: 'p', namespace: 'default' } },
    [
      'metadata.namespace FieldValueForbidden Forbidden: not allowed on this type',
      'spec.nfs.server FieldValueRequired Required value',
      'spec.type FieldValueRequired Required value',
    ],
  ],
  [
    'pool status',
    'StoragePool',
    pool(
      { type: 'dir', dir: { path: '/p' } },
      {
        status: { phase: 'Fine', capacity: { totalBytes: 1.5, usedBytes: -1 }, hosts: { Host_1: { health: 'OK', volumeCount: 'two' } } },
      },
    ),
    [
      'status.capacity.totalBytes FieldValueTypeInvalid must be of type integer',
      'status.capacity.usedBytes FieldValueInvalid must be greater than or equal to 0',
      'status.hosts FieldValueInvalid keys must be node names (RFC 1123 subdomains)',
      'status.hosts[Host_1].health FieldValueNotSupported Unsupported value: "OK": supported values: "HEALTHY", "DEGRADED", "ERROR", "UNMOUNTED"',
      'status.hosts[Host_1].volumeCount FieldValueTypeInvalid must be of type integer',
      'status.phase FieldValueNotSupported Unsupported value: "Fine": supported values: "Pending", "Ready", "Degraded", "Error"',
    ],
  ],
  [
    'node addresses with ports',
    'Node',
    node({
      addresses: [
        { type: 'InternalIP', address: '10.0.0.5:8443' },
        { type: 'Hostname', address: 'host:22' },
        { type: 'ExternalIP', address: '1.2.3.4' },
      ],
      conditions: [{ type: 'Ready' }],
      capacity: { cpu: 1.5 },
    }),
    [
      'status.addresses[0].address FieldValueInvalid must be a valid IP address (without a port), e.g. 10.0.0.5 or fd00::5',
      'status.addresses[1].address FieldValueInvalid must be a host name (no port)',
      'status.addresses[2].type FieldValueNotSupported Unsupported value: "ExternalIP": supported values: "InternalIP", "Hostname"',
      'status.capacity.cpu FieldValueTypeInvalid must be of type integer',
      'status.conditions[0].status FieldValueRequired Required value',
    ],
  ],
  [
    'event',
    'Event',
    { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, type: 'Error', count: -1, lastTimestamp: 'now' },
    [
      'count FieldValueInvalid must be greater than or equal to 0',
      'involvedObject FieldValueRequired Required value',
      'lastTimestamp FieldValueInvalid must be an RFC 3339 date-time like 2024-01-02T15:04:05Z',
      'type FieldValueNotSupported Unsupported value: "Error": supported values: "Normal", "Warning"',
    ],
  ],
  [
    'lease',
    'Lease',
    { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { leaseDurationSeconds: 0, holderIdentity: 5 } },
    ['spec.holderIdentity FieldValueTypeInvalid must be of type string', 'spec.leaseDurationSeconds FieldValueInvalid must be greater than or equal to 1'],
  ],
  ['not an object', 'VirtualMachine', 'vm', [' FieldValueTypeInvalid must be of type object']],
];

describe('validate', () => {
  test.each(valid)('valid: %s', (_name, kind, obj) => {
    expect(lines(validate(kind, obj))).toEqual([]);
    expect(findUnknownFields(kind, obj)).toEqual([]);
  });

  test.each(invalid)('invalid: %s', (_name, kind, obj, expected) => {
    const before = JSON.stringify(obj);
    expect(lines(validate(kind, obj))).toEqual([...expected].sort());
    expect(JSON.stringify(obj)).toBe(before); // never mutates
  });

  test('carries the offending value and renders the Kubernetes way', () => {
    const [e] = validate('VirtualMachine', vm({ memory: '2GB' }));
    expect(e).toEqual({ field: 'spec.memory', type: 'FieldValueInvalid', message: 'must be a quantity like 2Gi', value: '2GB' });
    expect(formatFieldError(e!)).toBe('spec.memory: Invalid value: "2GB": must be a quantity like 2Gi');
    const [t] = validate('StoragePool', pool({ type: 'iscsi' }));
    expect(formatFieldError(t!)).toBe('spec.type: Unsupported value: "iscsi": supported values: "dir", "nfs"');
  });

  test('invalidStatus builds the 422 Status kubectl prints', () => {
    const errs = validate('VirtualMachine', vm({ memory: '2GB', cpu: 0 }));
    const s = invalidStatus({ group: 'quantix.io', kind: 'VirtualMachine' }, 'web-1', errs);
    expect(s).toMatchObject({ code: 422, reason: 'Invalid', status: 'Failure', details: { name: 'web-1', kind: 'VirtualMachine', group: 'quantix.io' } });
    expect(s.message).toBe(
      'VirtualMachine.quantix.io "web-1" is invalid: [spec.cpu: Invalid value: 0: must be greater than or equal to 1, spec.memory: Invalid value: "2GB": must be a quantity like 2Gi]',
    );
    expect(s.details!.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.cpu', message: 'Invalid value: 0: must be greater than or equal to 1' },
      { reason: 'FieldValueInvalid', field: 'spec.memory', message: 'Invalid value: "2GB": must be a quantity like 2Gi' },
    ]);
  });

  test('spec and status are validated separately', () => {
    const obj = vm({ memory: '2GB' }, { status: { phase: 'Exploded' } });
    expect(lines(validateSpec('VirtualMachine', obj))).toEqual(['spec.memory FieldValueInvalid must be a quantity like 2Gi']);
    expect(lines(validateStatus('VirtualMachine', obj))).toEqual([
      'status.phase FieldValueNotSupported Unsupported value: "Exploded": supported values: "Pending", "Scheduled", "Starting", "Running", "Stopping", "Stopped", "Paused", "Failed", "Unknown", "Lost", "Terminated"',
    ]);
    expect(lines(validateStatus('Node', node({ addresses: [{ type: 'InternalIP', address: '10.0.0.1:1' }] })))).toHaveLength(1);
    expect(validateStatus('VirtualMachine', vm({}))).toEqual([]);
  });

  test('accepts a definition as well as a kind name; rejects unknown kinds', () => {
    expect(() => validate('Pod', {})).toThrow('unknown kind "Pod"');
  });
});

describe('unknown fields', () => {
  const obj = {
    ...vm({ cpus: 2, disks: [{ name: 'root', storagePool: 'local', size: '1Gi', sizee: '2Gi' }], nodeSelector: { any: 'key' } }),
    metadata: { name: 'web-1', namespace: 'default', foo: 1, labels: { x: 'y' } },
    status: { hosts: {}, conditions: [{ type: 'Ready', status: 'True', since: 'now' }] },
    extra: true,
  };

  test('are reported with their paths, in document order', () => {
    expect(findUnknownFields('VirtualMachine', obj)).toEqual([
      'metadata.foo',
      'spec.cpus',
      'spec.disks[0].sizee',
      'status.hosts',
      'status.conditions[0].since',
      'extra',
    ]);
    expect(unknownFieldMessage('spec.cpus')).toBe('unknown field "spec.cpus"');
    // Unknown fields are not validation errors.
    expect(validate('VirtualMachine', obj)).toEqual([]);
  });

  test('pruneUnknownFields drops them without touching the input', () => {
    const before = JSON.stringify(obj);
    const pruned = pruneUnknownFields('VirtualMachine', obj);
    expect(JSON.stringify(obj)).toBe(before);
    expect(pruned).toEqual({
      ...vm({ disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }], nodeSelector: { any: 'key' } }),
      metadata: { name: 'web-1', namespace: 'default', labels: { x: 'y' } },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(findUnknownFields('VirtualMachine', pruned)).toEqual([]);
  });

  test('preserve-unknown-fields subtrees (managedFields[].fieldsV1) are left alone', () => {
    const o = { ...vm({}), metadata: { name: 'a', managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }] } };
    expect(findUnknownFields('VirtualMachine', o)).toEqual([]);
    expect(validate('VirtualMachine', o)).toEqual([]);
  });

  test('fields named like Object.prototype members are unknown too (and pruned)', () => {
    const o = { ...vm({ constructor: 1, toString: 'x' }), metadata: { name: 'a', hasOwnProperty: true } };
    expect(findUnknownFields('VirtualMachine', o)).toEqual(['metadata.hasOwnProperty', 'spec.constructor', 'spec.toString']);
    const p = pruneUnknownFields('VirtualMachine', o);
    expect(Object.hasOwn(p.spec, 'constructor')).toBe(false);
    expect(Object.hasOwn(p.metadata, 'hasOwnProperty')).toBe(false);
  });

  test('map keys are paths, not unknown fields (status.hosts of a pool)', () => {
    const p = pool({ type: 'dir', dir: { path: '/p' } }, { status: { hosts: { 'host-1': { health: 'HEALTHY', bogus: 1 } } } });
    expect(findUnknownFields('StoragePool', p)).toEqual(['status.hosts[host-1].bogus']);
  });
});
