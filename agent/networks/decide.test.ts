/** Network decisions and reports (pure), on networks as the drivers describe them. */
import type { NetworkInfo } from '../hypervisor/driver.js';
import type { Network } from '../../api-types/generated/types.js';
import { decideNetwork, networkDefFor, networkReport, type NetworkFacts } from './decide.js';
import { defaultBridgeName, libvirtNetworkName } from './names.js';

const lan: Network = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'Network',
  metadata: { name: 'lan', generation: 1 },
  spec: { mode: 'isolated', ipv4: { address: '10.213.7.1', prefix: 24, dhcpStart: '10.213.7.10', dhcpEnd: '10.213.7.99' }, assignedNodes: ['n1'] },
};
const desired = networkDefFor(lan);

function info(over: Partial<NetworkInfo> = {}): NetworkInfo {
  return {
    name: 'qx-lan',
    uuid: '9d3c5c8e-0000-4000-8000-000000000001',
    active: true,
    persistent: true,
    autostart: true,
    bridgeName: desired.bridgeName,
    mode: 'isolated',
    ipv4: { address: '10.213.7.1', prefix: 24, dhcpStart: '10.213.7.10', dhcpEnd: '10.213.7.99' },
    ...over,
  };
}

describe('names and the definition a Network asks for', () => {
  it('libvirt network qx-<name>; bridge from the spec, else qx-<8 hex>, stable and within 15 characters', () => {
    expect(libvirtNetworkName('lan')).toBe('qx-lan');
    const long = 'a-very-long-network-name.example.com';
    expect(defaultBridgeName(long)).toMatch(/^qx-[0-9a-f]{8}$/);
    expect(defaultBridgeName(long)).toBe(defaultBridgeName(long));
    expect(defaultBridgeName('lan')).not.toBe(defaultBridgeName('lan2'));
    expect(desired).toEqual({
      name: 'qx-lan',
      mode: 'isolated',
      bridgeName: defaultBridgeName('lan'),
      ipv4: { address: '10.213.7.1', prefix: 24, dhcpStart: '10.213.7.10', dhcpEnd: '10.213.7.99' },
    });
    const nat = networkDefFor({ ...lan, spec: { bridgeName: 'br-lan', assignedNodes: ['n1'] } });
    expect(nat).toEqual({ name: 'qx-lan', mode: 'nat', bridgeName: 'br-lan' });
  });
});

describe('decideNetwork', () => {
  const facts = (over: Partial<NetworkFacts>): NetworkFacts => ({ desired, actual: undefined, managed: false, usedBy: [], ...over });
  it.each<[string, NetworkFacts, ReturnType<typeof decideNetwork>]>([
    ['assigned and absent: define and start', facts({}), { actions: ['define', 'start'], removed: false }],
    ['assigned, defined and active as asked: nothing', facts({ actual: info(), managed: true }), { actions: [], removed: false }],
    ['assigned, defined as asked but stopped: start', facts({ actual: info({ active: false }), managed: true }), { actions: ['start'], removed: false }],
    [
      'the same definition, not ours (state dir lost): started, never claimed',
      facts({ actual: info({ active: false }), managed: false }),
      { actions: ['start'], removed: false },
    ],
    [
      'spec changed, ours and active, no VM on it: stop, redefine, start',
      facts({ actual: info({ ipv4: { address: '10.213.6.1', prefix: 24 } }), managed: true }),
      { actions: ['stop', 'define', 'start'], removed: false },
    ],
    [
      'spec changed, ours and inactive: redefine and start',
      facts({ actual: info({ active: false, mode: 'nat' }), managed: true }),
      { actions: ['define', 'start'], removed: false },
    ],
    [
      'spec changed, ours, active with a running VM on it: the old definition stays, and the report says why',
      facts({ actual: info({ mode: 'nat' }), managed: true, usedBy: ['default/web'] }),
      {
        actions: [],
        removed: false,
        waiting: 'the spec changed; the new definition applies once no VM uses the network: 1 running VM on this host uses it (default/web)',
      },
    ],
    [
      'another definition that is not ours: never touched, a conflict',
      facts({ actual: info({ mode: 'nat', ipv4: { address: '192.168.7.1', prefix: 24 }, bridgeName: 'virbr7' }), managed: false }),
      {
        actions: [],
        removed: false,
        conflict:
          'a libvirt network named "qx-lan" with another definition (nat 192.168.7.1/24 on bridge virbr7) already exists on this host and was not defined by Quantix',
      },
    ],
    [
      'unassigned, ours and active: stop and undefine',
      facts({ desired: undefined, actual: info(), managed: true }),
      { actions: ['stop', 'undefine'], removed: true },
    ],
    [
      'unassigned, ours and stopped: undefine',
      facts({ desired: undefined, actual: info({ active: false }), managed: true }),
      { actions: ['undefine'], removed: true },
    ],
    ['unassigned and not ours: left alone', facts({ desired: undefined, actual: info(), managed: false }), { actions: [], removed: true }],
    ['unassigned and absent: removed', facts({ desired: undefined, managed: true }), { actions: [], removed: true }],
    [
      'unassigned, ours, running VMs on it: kept until they stop',
      facts({ desired: undefined, actual: info(), managed: true, usedBy: ['a/v1', 'a/v2', 'a/v3', 'a/v4'] }),
      {
        actions: [],
        removed: false,
        waiting: 'no longer assigned here; it is removed once no VM uses it: 4 running VMs on this host use it (a/v1, a/v2, a/v3, …)',
      },
    ],
  ])('%s', (_label, f, expected) => {
    expect(decideNetwork(f)).toEqual(expected);
  });
});

describe('networkReport', () => {
  const refused = { reason: 'OperationFailed', message: 'internal error: Network is already in use by interface eth0' };
  it.each<[string, Parameters<typeof networkReport>, Partial<ReturnType<typeof networkReport>>]>([
    [
      'active: bridge and DHCP range',
      ['lan', info(), { removed: false }, undefined],
      { defined: true, active: true, bridgeName: desired.bridgeName, dhcpRange: '10.213.7.10-10.213.7.99', message: '' },
    ],
    [
      "start refused: inactive with libvirt's message",
      ['lan', info({ active: false }), { removed: false }, refused],
      { defined: true, active: false, bridgeName: '', message: refused.message },
    ],
    ['define refused: not defined, the message', ['lan', undefined, { removed: false }, refused], { defined: false, active: false, message: refused.message }],
    [
      'not defined yet',
      ['lan', undefined, { removed: false }, undefined],
      { defined: false, active: false, message: 'the network is not defined on this host yet' },
    ],
    [
      'defined, stopped by hand',
      ['lan', info({ active: false }), { removed: false }, undefined],
      { active: false, message: 'the network is defined but not active' },
    ],
    [
      "someone else's network of that name: not active as this Network, the conflict named",
      ['lan', info(), { removed: false, conflict: 'a libvirt network named "qx-lan" with another definition…' }, undefined],
      { defined: true, active: false, bridgeName: '', dhcpRange: '', message: 'a libvirt network named "qx-lan" with another definition…' },
    ],
    [
      'a redefine waiting for VMs: still active (VMs can attach), the wait said',
      ['lan', info(), { removed: false, waiting: 'the spec changed; …' }, undefined],
      { active: true, message: 'the spec changed; …' },
    ],
    ['removed', ['lan', undefined, { removed: true }, undefined], { name: 'lan', removed: true, defined: false, active: false, message: '' }],
  ])('%s', (_label, args, expected) => {
    expect(networkReport(...args)).toMatchObject(expected);
  });
});
