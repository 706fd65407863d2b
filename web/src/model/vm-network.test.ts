import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { formatPortForward, guestAgentState, guestOsText, interfaceRows, vmAddress } from './vm-network.js';

const base: VirtualMachine = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'web', namespace: 'default' },
  spec: { memory: '1Gi' },
};
const vm = (spec: Partial<VirtualMachine['spec']>, status?: VirtualMachine['status']): VirtualMachine => ({ ...base, spec: { ...base.spec, ...spec }, status });

describe('formatPortForward', () => {
  it.each([
    [{ hostPort: 2222, guestPort: 22 }, '127.0.0.1:2222 → 22/tcp'],
    [{ hostPort: 5353, guestPort: 53, protocol: 'UDP' as const, hostAddress: '0.0.0.0' }, '0.0.0.0:5353 → 53/udp'],
  ])('%j → %s', (pf, want) => {
    expect(formatPortForward(pf)).toBe(want);
  });
});

describe('interfaces', () => {
  it('joins spec and status by name, preferring all reported addresses', () => {
    const v = vm(
      {
        networks: [
          { name: 'default', type: 'user', portForwards: [{ hostPort: 2222, guestPort: 22 }] },
          { name: 'lab', type: 'network', source: 'lab', macAddress: '52:54:00:00:00:02' },
        ],
      },
      {
        interfaces: [
          {
            name: 'default',
            macAddress: '52:54:00:00:00:01',
            ipAddress: '10.0.2.15',
            ipAddresses: ['10.0.2.15/24', 'fec0::5054:ff:fe00:1/64'],
            interfaceName: 'eth0',
          },
          { name: 'extra', macAddress: '52:54:00:00:00:03', ipAddress: '192.168.1.9' },
        ],
      },
    );
    expect(interfaceRows(v)).toEqual([
      {
        name: 'default',
        attachment: 'user',
        macAddress: '52:54:00:00:00:01',
        addresses: ['10.0.2.15/24', 'fec0::5054:ff:fe00:1/64'],
        guestName: 'eth0',
        portForwards: ['127.0.0.1:2222 → 22/tcp'],
      },
      { name: 'lab', attachment: 'network lab', macAddress: '52:54:00:00:00:02', addresses: [], guestName: undefined, portForwards: [] },
      { name: 'extra', macAddress: '52:54:00:00:00:03', addresses: ['192.168.1.9'], guestName: undefined, portForwards: [] },
    ]);
  });

  it('takes the first reported IP for the list', () => {
    expect(vmAddress(vm({}, { interfaces: [{ name: 'a' }, { name: 'b', ipAddress: '10.0.0.7' }] }))).toBe('10.0.0.7');
    expect(vmAddress(vm({}))).toBeUndefined();
  });
});

describe('guest', () => {
  it('reads the AgentConnected condition', () => {
    const cond = (status: 'True' | 'False' | 'Unknown') => vm({}, { conditions: [{ type: 'AgentConnected', status, reason: 'R' }] });
    expect(guestAgentState(cond('True')).state).toBe('connected');
    expect(guestAgentState(cond('False')).state).toBe('disconnected');
    expect(guestAgentState(cond('Unknown')).state).toBe('unknown');
    expect(guestAgentState(vm({})).state).toBe('unknown');
  });

  it('names the OS by its pretty name, else name and version', () => {
    expect(guestOsText(vm({}, { guestOSInfo: { prettyName: 'Debian GNU/Linux 12 (bookworm)', name: 'Debian' } }))).toBe('Debian GNU/Linux 12 (bookworm)');
    expect(guestOsText(vm({}, { guestOSInfo: { name: 'Alpine Linux', version: '3.20' } }))).toBe('Alpine Linux 3.20');
    expect(guestOsText(vm({}))).toBeUndefined();
  });
});
