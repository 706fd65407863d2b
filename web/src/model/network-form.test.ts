import { emptyNetworkForm, networkFromForm, networkInputForField, networkLocalErrors } from './network-form.js';

describe('Network create form', () => {
  it('builds a Network with a subnet and DHCP range', () => {
    expect(networkFromForm({ ...emptyNetworkForm(), name: ' lab ', assignedNodes: ['hv-2', 'hv-1'] })).toEqual({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Network',
      metadata: { name: 'lab' },
      spec: {
        mode: 'nat',
        ipv4: { address: '192.168.150.1', prefix: 24, dhcpStart: '192.168.150.10', dhcpEnd: '192.168.150.250' },
        assignedNodes: ['hv-1', 'hv-2'],
      },
    });
  });

  it('leaves the subnet out when no address is given', () => {
    const spec = networkFromForm({ ...emptyNetworkForm(), name: 'iso', mode: 'isolated', bridgeName: 'qx-iso', address: '', dhcpStart: '', dhcpEnd: '' }).spec;
    expect(spec).toEqual({ mode: 'isolated', bridgeName: 'qx-iso' });
  });

  it.each([
    ['spec.ipv4.dhcpEnd', 'dhcpEnd'],
    ['spec.ipv4.prefix', 'prefix'],
    ['spec.ipv4', 'address'],
    ['spec.bridgeName', 'bridgeName'],
    ['spec.assignedNodes[1]', 'assignedNodes'],
    ['metadata.name', 'name'],
    ['status.phase', 'form'],
  ])('maps server field %s to input %s', (field, want) => {
    expect(networkInputForField(field)).toBe(want);
  });

  it('checks only what the form can tell', () => {
    expect(networkLocalErrors(emptyNetworkForm())).toEqual({ name: 'Required' });
    expect(networkLocalErrors({ ...emptyNetworkForm(), name: 'x', prefix: 'abc' }).prefix).toBeDefined();
    expect(networkLocalErrors({ ...emptyNetworkForm(), name: 'x', address: '' }).address).toMatch(/DHCP/);
  });
});
