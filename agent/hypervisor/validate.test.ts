/**
 * Spec checks shared by both drivers (validate.ts): port forwards of user NICs, CD-ROM buses,
 * acceleration, the PCI budget and libvirt-managed network definitions. Every refusal is an
 * InvalidSpec that names what is wrong (for NICs: the VM's interface name and position).
 */
import type { DomainSpec, NetworkDefSpec, NetworkSpec, PortForward } from './driver.js';
import { HypervisorError } from './errors.js';
import { MAX_PCI_DEVICES, pciDeviceCount, sameNetworkDefinition, validateBridgeName, validateDomainSpec, validateNetworkDefSpec } from './validate.js';

const base: DomainSpec = {
  uuid: '6f1c1e7e-4d0b-4f63-9a55-2a4d7f2b9c01',
  name: 'vm',
  vcpus: 1,
  memoryBytes: 64 * 1024 * 1024,
  disks: [],
  networks: [],
  owner: { namespace: 'ns', name: 'vm' },
};

const ssh: PortForward = { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22 };
const user = (portForwards: PortForward[], name = 'eth0'): NetworkSpec => ({ type: 'user', name, portForwards });

function refusal(f: () => void): HypervisorError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(HypervisorError);
    expect((err as HypervisorError).reason).toBe('InvalidSpec');
    return err as HypervisorError;
  }
  throw new Error('expected an InvalidSpec refusal');
}

describe('validateDomainSpec: port forwards', () => {
  it('accepts tcp and udp forwards on user NICs', () => {
    expect(() =>
      validateDomainSpec({
        ...base,
        networks: [
          user([ssh, { protocol: 'udp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 53 }]),
          user([{ ...ssh, hostPort: 65535, guestPort: 1 }], 'eth1'),
        ],
      }),
    ).not.toThrow();
  });

  it.each<[string, NetworkSpec[], RegExp]>([
    ['host port 0', [user([{ ...ssh, hostPort: 0 }])], /network "eth0" \(NIC 0\): port forward host port must be an integer in 1\.\.65535, got 0/],
    ['host port 65536', [user([{ ...ssh, hostPort: 65536 }])], /host port must be an integer in 1\.\.65535, got 65536/],
    ['a fractional guest port', [user([{ ...ssh, guestPort: 22.5 }])], /guest port must be an integer in 1\.\.65535, got 22\.5/],
    ['guest port 0', [user([{ ...ssh, guestPort: 0 }])], /guest port must be an integer/],
    [
      'a host name as host address',
      [user([{ ...ssh, hostAddress: 'localhost' }])],
      /host address must be an IPv4 literal such as 127\.0\.0\.1, got "localhost"/,
    ],
    ['an IPv6 host address', [user([{ ...ssh, hostAddress: '::1' }])], /IPv4 literal/],
    ['a bad protocol', [user([{ ...ssh, protocol: 'sctp' as 'tcp' }])], /protocol must be tcp or udp, got "sctp"/],
    [
      'the same tcp port twice on one NIC',
      [user([ssh, { ...ssh, guestPort: 80 }])],
      /network "eth0" \(NIC 0\): host port tcp 2222 is already forwarded by network "eth0" \(NIC 0\)/,
    ],
    [
      'the same tcp port on two NICs',
      [user([ssh], 'a'), user([{ ...ssh, hostAddress: '127.0.0.2' }], 'b')],
      /network "b" \(NIC 1\): host port tcp 2222 is already forwarded by network "a" \(NIC 0\)/,
    ],
    [
      'forwards on a network NIC',
      [{ type: 'network', network: 'default', portForwards: [ssh] } as unknown as NetworkSpec],
      /NIC 0: port forwards need a user NIC \(this one is type network\)/,
    ],
    ['forwards that are not a list', [{ type: 'user', portForwards: 'ssh' } as unknown as NetworkSpec], /NIC 0: portForwards must be a list/],
  ])('refuses %s, naming the NIC', (_what, networks, message) => {
    const err = refusal(() => validateDomainSpec({ ...base, networks }));
    expect(err.message).toMatch(message);
  });

  it('names a NIC without a name by its position, and sets the target', () => {
    const err = refusal(() => validateDomainSpec({ ...base, networks: [{ type: 'user' }, { type: 'user', portForwards: [{ ...ssh, hostPort: -1 }] }] }));
    expect(err.message).toMatch(/^NIC 1: /);
    expect(err.details.target).toBe('nic1');
    expect(refusal(() => validateDomainSpec({ ...base, networks: [user([{ ...ssh, hostPort: -1 }], 'web')] })).details.target).toBe('web');
  });
});

describe('validateDomainSpec: devices and acceleration', () => {
  it('refuses a CD-ROM on virtio, an unknown device and an unknown domain type', () => {
    expect(refusal(() => validateDomainSpec({ ...base, disks: [{ path: '/i/seed.iso', device: 'cdrom', bus: 'virtio' }] })).message).toMatch(
      /a CD-ROM cannot be on the virtio bus/,
    );
    refusal(() => validateDomainSpec({ ...base, disks: [{ path: '/i/x', device: 'floppy' as 'disk' }] }));
    expect(refusal(() => validateDomainSpec({ ...base, domainType: 'xen' as 'kvm' })).message).toMatch(/unsupported domainType "xen"/);
    refusal(() => validateDomainSpec({ ...base, guestAgent: 'yes' as unknown as boolean }));
    expect(() =>
      validateDomainSpec({
        ...base,
        domainType: 'qemu',
        guestAgent: false,
        disks: [{ path: '/i/seed.iso', device: 'cdrom', bus: 'sata', format: 'raw', readonly: true }],
      }),
    ).not.toThrow();
  });

  it('counts PCI devices and refuses more than the slots there are', () => {
    expect(pciDeviceCount(base)).toBe(2); // virtio-serial for the agent, balloon
    expect(pciDeviceCount({ ...base, guestAgent: false })).toBe(1);
    expect(
      pciDeviceCount({
        ...base,
        disks: [{ path: '/a' }, { path: '/b', bus: 'sata' }, { path: '/c', device: 'cdrom' }, { path: '/d', bus: 'scsi' }, { path: '/e', bus: 'ide' }],
        networks: [{ type: 'user' }, { type: 'bridge', bridge: 'br0' }],
      }),
    ).toBe(2 + 1 + 1 + 1 + 1 + 1); // NICs, virtio disk, sata, scsi, virtio-serial, balloon
    const nics = (n: number): NetworkSpec[] => Array.from({ length: n }, () => ({ type: 'user' as const }));
    expect(() => validateDomainSpec({ ...base, networks: nics(MAX_PCI_DEVICES - 2) })).not.toThrow();
    expect(refusal(() => validateDomainSpec({ ...base, networks: nics(MAX_PCI_DEVICES - 1) })).message).toMatch(/too many PCI devices: 30/);
  });
});

describe('validateNetworkDefSpec', () => {
  const ok: NetworkDefSpec = {
    name: 'qx-net',
    mode: 'nat',
    bridgeName: 'qxbr0',
    ipv4: { address: '192.168.150.1', prefix: 24, dhcpStart: '192.168.150.100', dhcpEnd: '192.168.150.200' },
  };

  it('accepts nat and isolated networks, with or without addressing', () => {
    expect(() => validateNetworkDefSpec(ok)).not.toThrow();
    expect(() => validateNetworkDefSpec({ name: 'iso', mode: 'isolated' })).not.toThrow();
    expect(() => validateNetworkDefSpec({ name: 'iso', mode: 'isolated', ipv4: { address: '10.1.0.1', prefix: 16 } })).not.toThrow();
  });

  it.each<[string, NetworkDefSpec, RegExp]>([
    ['a bad name', { ...ok, name: 'has space' }, /invalid network name/],
    ['an unknown mode', { ...ok, mode: 'bridge' as 'nat' }, /unsupported mode "bridge"/],
    ['a bridge name over 15 characters', { ...ok, bridgeName: 'a-very-long-bridge' }, /invalid bridge name/],
    ['a bridge name with a slash', { ...ok, bridgeName: 'br/0' }, /invalid bridge name/],
    ['a host name as address', { ...ok, ipv4: { address: 'gw.local', prefix: 24 } }, /ipv4\.address must be an IPv4 address/],
    ['a /31', { ...ok, ipv4: { address: '10.0.0.1', prefix: 31 } }, /prefix must be an integer in 8\.\.30/],
    ['the network address', { ...ok, ipv4: { address: '192.168.150.0', prefix: 24 } }, /is the network or broadcast address/],
    ['the broadcast address', { ...ok, ipv4: { address: '192.168.150.255', prefix: 24 } }, /is the network or broadcast address/],
    ['a DHCP start without end', { ...ok, ipv4: { address: '192.168.150.1', prefix: 24, dhcpStart: '192.168.150.10' } }, /go together/],
    [
      'a DHCP range outside the subnet',
      { ...ok, ipv4: { ...ok.ipv4!, dhcpEnd: '192.168.151.10' } },
      /dhcpEnd 192\.168\.151\.10 is outside 192\.168\.150\.1\/24/,
    ],
    ['a reversed DHCP range', { ...ok, ipv4: { ...ok.ipv4!, dhcpStart: '192.168.150.200', dhcpEnd: '192.168.150.100' } }, /is after dhcpEnd/],
    ['a DHCP range over the host address', { ...ok, ipv4: { ...ok.ipv4!, dhcpStart: '192.168.150.1' } }, /contains the network's own address/],
  ])('refuses %s', (_what, spec, message) => {
    expect(refusal(() => validateNetworkDefSpec(spec)).message).toMatch(message);
  });

  it('compares definitions for idempotent defines, and checks bridge names', () => {
    expect(sameNetworkDefinition({ mode: 'nat', bridgeName: 'qxbr0', ipv4: { ...ok.ipv4! } }, ok)).toBe(true);
    expect(sameNetworkDefinition({ mode: 'isolated', bridgeName: 'virbr4' }, { name: 'x', mode: 'isolated' })).toBe(true);
    expect(sameNetworkDefinition({ mode: 'nat', bridgeName: 'virbr4', ipv4: ok.ipv4 }, ok)).toBe(false);
    expect(sameNetworkDefinition({ mode: 'nat', bridgeName: 'qxbr0' }, ok)).toBe(false);
    expect(sameNetworkDefinition({ mode: 'nat', bridgeName: 'qxbr0', ipv4: { ...ok.ipv4!, dhcpEnd: '192.168.150.201' } }, ok)).toBe(false);
    expect(() => validateBridgeName('br0')).not.toThrow();
    refusal(() => validateBridgeName('../etc'));
    refusal(() => validateBridgeName(''));
  });
});
