import type { Network, VirtualMachine } from '../../../api-types/generated/types.js';
import { activeHostsText, dhcpText, hostState, subnetText, vmsOnNetwork } from './network-view.js';

const net: Network = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'Network',
  metadata: { name: 'lab' },
  spec: { ipv4: { address: '10.0.0.1', prefix: 24, dhcpStart: '10.0.0.10', dhcpEnd: '10.0.0.99' }, assignedNodes: ['hv-1', 'hv-2'] },
  status: { hosts: { 'hv-1': { defined: true, active: true }, 'hv-2': { defined: true, active: false }, 'hv-3': { active: true } } },
};

describe('network view', () => {
  it('writes the subnet, the DHCP range and the active assigned hosts', () => {
    expect(subnetText(net)).toBe('10.0.0.1/24');
    expect(dhcpText(net)).toBe('10.0.0.10 – 10.0.0.99');
    expect(activeHostsText(net)).toBe('1 / 2'); // hv-3 reports, but is not assigned
    expect(subnetText({ ...net, spec: {} })).toBeUndefined();
  });

  it.each([
    [{ defined: true, active: true }, 'Active'],
    [{ defined: true, active: false }, 'Inactive'],
    [{ defined: false, message: 'bridge exists' }, 'Undefined'],
    [undefined, undefined],
  ])('host %j is %s', (h, want) => {
    expect(hostState(h)).toBe(want);
  });

  it('finds the VMs with an interface on the network', () => {
    const vm = (name: string, networks: VirtualMachine['spec']['networks']): VirtualMachine => ({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name, namespace: 'default' },
      spec: { memory: '1Gi', networks },
    });
    const vms = [
      vm('a', [{ name: 'n', type: 'network', source: 'lab' }]),
      vm('b', [{ name: 'n', type: 'bridge', source: 'lab' }]),
      vm('c', [{ name: 'n', type: 'user' }]),
      vm('d', undefined),
    ];
    expect(vmsOnNetwork(vms, 'lab').map((v) => v.metadata.name)).toEqual(['a']);
  });
});
