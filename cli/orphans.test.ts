import type { StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { DISCOVERED_ON_LABEL, DOMAIN_UUID_LABEL, FORMER_OWNER_ANNOTATION } from '../api-types/proto/contract.js';
import { poolsOfNode } from './commands/node.js';
import { findOrphans, VOLUME_NAME_PATTERN } from './orphans.js';

const vm = (
  name: string,
  uid: string,
  disks: { name: string; storagePool: string }[],
  o: Partial<VirtualMachine['status']> = {},
  ns = 'default',
): VirtualMachine =>
  ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: ns, uid },
    spec: { cpu: 1, memory: '256Mi', disks: disks.map((d) => ({ ...d, size: '1Gi' })) },
    status: o,
  }) as VirtualMachine;

const file = (name: string, type = 'file') => ({ name, type });

const discovered = (name: string, node: string, formerOwner: string | undefined, phase = 'Running'): VirtualMachine =>
  ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace: 'default',
      uid: `u-${name}`,
      labels: { [DISCOVERED_ON_LABEL]: node, [DOMAIN_UUID_LABEL]: '11111111-2222-3333-4444-555555555555' },
      annotations: { 'quantix.io/discovered-domain': `dom-${name}`, ...(formerOwner ? { [FORMER_OWNER_ANNOTATION]: formerOwner } : {}) },
    },
    spec: { cpu: 1, memory: '256Mi', runStrategy: 'Manual', nodeName: node },
    status: { phase, origin: 'host-discovered', managed: false, domainName: `dom-${name}` },
  }) as VirtualMachine;

describe('findOrphans', () => {
  const web = vm('web', 'abcdef01-0000-0000-0000-000000000000', [{ name: 'root', storagePool: 'local' }]);

  it('nothing when every volume-named file is owned (by the naming rule or by status.volumes, on any node)', () => {
    const db = vm('db', '12345678-0000-0000-0000-000000000000', [{ name: 'data', storagePool: 'shared' }], {
      nodeName: 'other',
      volumes: [{ name: 'data', pool: 'shared', path: '/srv/shared/db_data_12345678.qcow2' }],
    });
    // A volume reported under a name the rule would not give (an older naming) is still owned.
    const legacy = vm('legacy', '99999999-0000-0000-0000-000000000000', [], { volumes: [{ name: 'x', pool: 'local', path: '/p/old_x_aaaaaaaa.qcow2' }] });
    expect(
      findOrphans(
        'n1',
        [
          { pool: 'local', entries: [file('web_root_abcdef01.qcow2'), file('old_x_aaaaaaaa.qcow2')] },
          { pool: 'shared', entries: [file('db_data_12345678.qcow2')] },
        ],
        [web, db, legacy],
      ),
    ).toEqual([]);
  });

  it('lists a volume-named file no VM owns, with the reason', () => {
    const findings = findOrphans('n1', [{ pool: 'local', entries: [file('web_root_abcdef01.qcow2'), file('ghost_root_deadbeef.qcow2')] }], [web]);
    expect(findings).toEqual([{ kind: 'volume', name: 'ghost_root_deadbeef.qcow2', where: 'local', reason: 'no VM named "ghost" exists (disk "root")' }]);
  });

  it('a leftover of an earlier VM with the same name (other uid) is an orphan', () => {
    const [f] = findOrphans('n1', [{ pool: 'local', entries: [file('web_root_00000000.qcow2')] }], [web]);
    expect(f).toMatchObject({ kind: 'volume', name: 'web_root_00000000.qcow2' });
    expect(f!.reason).toContain('left by an earlier VM of that name');
  });

  it('a file owned in another pool only is an orphan in this one', () => {
    expect(findOrphans('n1', [{ pool: 'shared', entries: [file('web_root_abcdef01.qcow2')] }], [web])).toHaveLength(1);
  });

  it('ignores files that are not named as volumes, and directories', () => {
    const entries = [
      file('debian-12.qcow2'),
      file('notes.txt'),
      file('web_root_abcdef01.qcow2.bak'),
      file('x_y_deadbeef.qcow2', 'dir'),
      file('Web_root_deadbeef.qcow2'),
    ];
    expect(findOrphans('n1', [{ pool: 'local', entries }], [])).toEqual([]);
  });

  it('lists a domain claiming a Quantix owner that has no VM; not Terminated ones, other nodes, or plain host domains', () => {
    const vms = [
      web,
      discovered('orphan', 'n1', 'default/gone (uid 0badc0de-0000-0000-0000-000000000000)'),
      discovered('gone-already', 'n1', 'default/old (uid 1)', 'Terminated'),
      discovered('elsewhere', 'n2', 'default/gone (uid 2)'),
      discovered('foreign', 'n1', undefined),
      // The owner exists by now (recreated with that uid): not an orphan.
      discovered('back', 'n1', `default/web (uid ${web.metadata.uid})`),
    ];
    expect(findOrphans('n1', [], vms)).toEqual([
      {
        kind: 'domain',
        name: 'dom-orphan',
        where: 'default/orphan',
        reason: 'owner metadata names default/gone (uid 0badc0de-0000-0000-0000-000000000000), which has no VM',
      },
    ]);
  });

  it('the pattern is the agent naming rule', () => {
    expect(VOLUME_NAME_PATTERN.test('my-vm_disk-1_0123abcd.qcow2')).toBe(true);
    expect(VOLUME_NAME_PATTERN.test('my-vm_disk-1_0123abc.qcow2')).toBe(false);
    expect(VOLUME_NAME_PATTERN.test('my_vm_disk_0123abcd.qcow2')).toBe(false);
  });
});

describe('poolsOfNode', () => {
  const pool = (name: string, assigned: string[], hosts: string[] = []) =>
    ({
      metadata: { name },
      spec: { type: 'dir', assignedNodes: assigned },
      status: { hosts: Object.fromEntries(hosts.map((h) => [h, {}])) },
    }) as unknown as StoragePool;
  it('assigned pools and pools the node still reports', () => {
    expect(poolsOfNode([pool('b', ['n1']), pool('a', [], ['n1']), pool('c', ['n2'], ['n2'])], 'n1')).toEqual(['a', 'b']);
  });
});
