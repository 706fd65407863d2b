import type { DomainSpec } from '../driver.js';
import { nicMac } from '../nics.js';
import {
  buildDomainXml,
  buildNetworkXml,
  buildPoolXml,
  buildVolumeXml,
  hostCpuModelFromCapabilities,
  parseNetworkXml,
  parseOwner,
  parseOwnerFromDomainXml,
  parsePoolXml,
  QUANTIX_METADATA_NS,
  VIDEO_SLOT,
  vncListen,
  xmlEscape,
  xmlUnescape,
} from './xml.js';

const spec: DomainSpec = {
  uuid: '6f1c1e7e-4d0b-4f63-9a55-2a4d7f2b9c01',
  name: 'prod_web-1',
  vcpus: 2,
  memoryBytes: 512 * 1024 * 1024,
  disks: [
    { path: '/var/lib/qx/pool/a.qcow2' },
    { path: '/var/lib/qx/pool/b<&>.raw', format: 'raw', bus: 'sata' },
    { path: '/iso/x.iso', device: 'cdrom', bus: 'sata', format: 'raw' },
  ],
  networks: [{ type: 'user' }, { type: 'network', network: 'default', mac: '52:54:00:AA:bb:cc', model: 'e1000' }, { type: 'bridge', bridge: 'br0' }],
  owner: { namespace: 'prod', name: 'web "1"', uid: '6f1c1e7e-4d0b-4f63-9a55-2a4d7f2b9c01' },
};

describe('domain XML', () => {
  const xml = buildDomainXml(spec, 'kvm');

  it('carries the given uuid, name, type, memory in bytes and vcpus', () => {
    expect(xml).toContain('<domain type="kvm">');
    expect(xml).toContain(`<uuid>${spec.uuid}</uuid>`);
    expect(xml).toContain('<name>prod_web-1</name>');
    expect(xml).toContain(`<memory unit="b">${512 * 1024 * 1024}</memory>`);
    expect(xml).toContain('<vcpu placement="static">2</vcpu>');
    expect(buildDomainXml(spec, 'qemu')).toContain('<domain type="qemu">');
  });

  it('names disk targets per bus and escapes paths', () => {
    expect(xml).toContain('<source file="/var/lib/qx/pool/a.qcow2"/>');
    expect(xml).toContain('<target dev="vda" bus="virtio"/>');
    expect(xml).toContain('<source file="/var/lib/qx/pool/b&lt;&amp;&gt;.raw"/>');
    expect(xml).toContain('<target dev="sda" bus="sata"/>');
    expect(xml).toContain('<target dev="sdb" bus="sata"/>');
    expect(xml).toMatch(/<disk type="file" device="cdrom">[\s\S]*?<readonly\/>/);
  });

  it('renders user, network and bridge interfaces, each with a MAC that survives a redefine', () => {
    expect(xml).toContain('<interface type="user">');
    expect(xml).toMatch(/<interface type="network">\s*<source network="default"\/>\s*<mac address="52:54:00:aa:bb:cc"\/>\s*<model type="e1000"\/>/);
    const bridgeMac = nicMac(spec.uuid, 2);
    expect(bridgeMac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(xml).toMatch(new RegExp(`<interface type="bridge">\\s*<source bridge="br0"/>\\s*<mac address="${bridgeMac}"/>\\s*<model type="virtio"/>`));
    // Derived from uuid and position: the same for the same domain, different per NIC and domain.
    expect(buildDomainXml(spec, 'kvm')).toBe(xml);
    expect(nicMac(spec.uuid, 0)).not.toBe(nicMac(spec.uuid, 1));
    expect(nicMac('11111111-2222-4333-8444-555555555555', 2)).not.toBe(bridgeMac);
  });

  it('marks the domain as managed by Quantix, and reads the mark back', () => {
    expect(xml).toContain(`xmlns:quantix="${QUANTIX_METADATA_NS}"`);
    expect(parseOwnerFromDomainXml(xml)).toEqual(spec.owner);
    // virDomainGetMetadata returns the element without prefix or namespace declaration.
    expect(parseOwner('<vm namespace="prod" name="web &quot;1&quot;" uid="u-1"/>')).toEqual({ namespace: 'prod', name: 'web "1"', uid: 'u-1' });
    expect(parseOwner('<vm name="x"/>')).toBeNull();
    expect(parseOwnerFromDomainXml('<domain><metadata><other:vm xmlns:other="urn:x" namespace="a" name="b"/></metadata></domain>')).toBeNull();
  });
});

/** Every `slot='0x..'` of PCI addresses in libvirt's or our XML, with the element it belongs to. */
function pciSlots(xml: string): Array<{ slot: number; device: string }> {
  const out: Array<{ slot: number; device: string }> = [];
  const re = /<(disk|controller|interface|memballoon|video)\b[^>]*>(?:(?!<\/\1>)[\s\S])*?<address type="pci"[^>]*slot="(0x[0-9a-f]+)"/g;
  for (let m = re.exec(xml); m !== null; m = re.exec(xml)) out.push({ device: m[1]!, slot: parseInt(m[2]!, 16) });
  return out;
}

describe('domain XML for real guests', () => {
  const uuid = '0b8e3f0e-1111-4a6c-9d55-2a4d7f2b9c02';
  const guest: DomainSpec = {
    uuid,
    name: 'prod_web-2',
    vcpus: 1,
    memoryBytes: 256 * 1024 * 1024,
    disks: [{ path: '/pool/root.qcow2' }, { path: '/pool/seed.iso', device: 'cdrom', bus: 'sata', format: 'raw', readonly: true }],
    networks: [{ type: 'user', mac: '52:54:00:12:34:56', portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22 }] }],
    owner: { namespace: 'prod', name: 'web-2', uid: uuid },
  };
  const xml = buildDomainXml(guest, 'kvm');

  it('takes the acceleration from the spec over the node default, and uses the pc machine', () => {
    expect(xml).toMatch(/^<domain type="kvm" /);
    expect(buildDomainXml({ ...guest, domainType: 'qemu' }, 'kvm')).toMatch(/^<domain type="qemu" /);
    expect(buildDomainXml({ ...guest, domainType: 'kvm' }, 'qemu')).toMatch(/^<domain type="kvm" /);
    expect(xml).toContain('<type arch="x86_64" machine="pc">hvm</type>');
    // host-passthrough is a KVM thing; TCG keeps its default CPU.
    expect(buildDomainXml({ ...guest, cpuMode: 'host-passthrough' }, 'kvm')).toContain('<cpu mode="host-passthrough" check="none"/>');
    expect(buildDomainXml({ ...guest, cpuMode: 'host-passthrough', domainType: 'qemu' }, 'kvm')).not.toContain('<cpu');
  });

  it('attaches a seed ISO as a read-only SATA CD-ROM on an addressed AHCI controller', () => {
    expect(xml).toContain(
      [
        '    <disk type="file" device="cdrom">',
        '      <driver name="qemu" type="raw"/>',
        '      <source file="/pool/seed.iso"/>',
        '      <target dev="sda" bus="sata"/>',
        '      <readonly/>',
        '    </disk>',
      ].join('\n'),
    );
    expect(xml).toMatch(/<controller type="sata" index="0"><address type="pci" domain="0x0000" bus="0x00" slot="0x04" function="0x0"\/><\/controller>/);
    // A CD-ROM without a bus goes on SATA (virtio cannot carry one).
    const noBus = buildDomainXml({ ...guest, disks: [{ path: '/pool/seed.iso', device: 'cdrom', format: 'raw' }] }, 'qemu');
    expect(noBus).toMatch(/<disk type="file" device="cdrom">[\s\S]*?<target dev="sda" bus="sata"\/>\s*<readonly\/>\s*<\/disk>/);
  });

  it('adds the guest agent channel unless turned off', () => {
    expect(xml).toContain('<channel type="unix"><target type="virtio" name="org.qemu.guest_agent.0"/></channel>');
    expect(xml).toMatch(/<controller type="virtio-serial" index="0"><address type="pci"[^>]*slot="0x05"/);
    const off = buildDomainXml({ ...guest, guestAgent: false }, 'kvm');
    expect(off).not.toContain('<channel');
    expect(off).not.toContain('virtio-serial');
  });

  it('passes a user NIC with port forwards to QEMU itself, on an explicit PCI slot', () => {
    expect(xml).toMatch(/^<domain type="kvm" xmlns:qemu="http:\/\/libvirt.org\/schemas\/domain\/qemu\/1.0">/);
    expect(xml).not.toContain('<interface');
    expect(xml).toContain(
      [
        '  <qemu:commandline>',
        '    <qemu:arg value="-netdev"/>',
        '    <qemu:arg value="user,id=qxnet0,hostfwd=tcp:127.0.0.1:2222-:22"/>',
        '    <qemu:arg value="-device"/>',
        '    <qemu:arg value="virtio-net-pci,id=qxnic0,netdev=qxnet0,mac=52:54:00:12:34:56,bus=pci.0,addr=0x03"/>',
        '  </qemu:commandline>',
        '</domain>',
      ].join('\n'),
    );
    // Without forwards a user NIC stays libvirt's own <interface type="user"> (no taint).
    const plain = buildDomainXml({ ...guest, networks: [{ type: 'user' }] }, 'kvm');
    expect(plain).not.toContain('qemu:commandline');
    expect(plain).not.toContain('xmlns:qemu');
    expect(plain).toMatch(
      /<interface type="user">\s*<mac address="52:54:00(:[0-9a-f]{2}){3}"\/>\s*<model type="virtio"\/>\s*<address type="pci"[^>]*slot="0x03"/,
    );
  });

  it('maps NIC models to QEMU devices and forwards several ports, udp too', () => {
    const two = buildDomainXml(
      {
        ...guest,
        networks: [
          { type: 'network', network: 'default' },
          {
            type: 'user',
            model: 'e1000',
            portForwards: [
              { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80 },
              { protocol: 'udp', hostAddress: '0.0.0.0', hostPort: 5353, guestPort: 53 },
            ],
          },
          { type: 'user', model: 'rtl8139', portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2223, guestPort: 22 }] },
        ],
      },
      'qemu',
    );
    expect(two).toContain('<qemu:arg value="user,id=qxnet1,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-:53"/>');
    expect(two).toContain(`<qemu:arg value="e1000,id=qxnic1,netdev=qxnet1,mac=${nicMac(uuid, 1)},bus=pci.0,addr=0x04"/>`);
    expect(two).toContain(`<qemu:arg value="rtl8139,id=qxnic2,netdev=qxnet2,mac=${nicMac(uuid, 2)},bus=pci.0,addr=0x05"/>`);
    expect(two).toMatch(/<interface type="network">[\s\S]*?slot="0x03"/);
  });

  it('gives every PCI device its own slot in 0x03..0x1f, none shared with a command-line NIC', () => {
    const many: DomainSpec = {
      ...guest,
      disks: [
        { path: '/pool/a.qcow2' },
        { path: '/pool/b.qcow2', bus: 'scsi' },
        { path: '/pool/seed.iso', device: 'cdrom', format: 'raw' },
        { path: '/pool/c.qcow2' },
      ],
      networks: [
        { type: 'user', portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22 }] },
        { type: 'bridge', bridge: 'br0' },
        { type: 'user', portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2223, guestPort: 22 }] },
      ],
    };
    const out = buildDomainXml(many, 'kvm');
    const libvirtSlots = pciSlots(out);
    const qemuSlots = [...out.matchAll(/addr=(0x[0-9a-f]+)/g)].map((m) => parseInt(m[1]!, 16));
    // NICs first in spec order (bridge is libvirt's, the two user NICs QEMU's), then sata, scsi,
    // virtio-serial, the virtio disks and the balloon; the display's VGA on 0x02 before them.
    expect(qemuSlots).toEqual([0x03, 0x05]);
    expect(libvirtSlots).toEqual([
      { device: 'disk', slot: 0x09 },
      { device: 'disk', slot: 0x0a },
      { device: 'controller', slot: 0x06 },
      { device: 'controller', slot: 0x07 },
      { device: 'controller', slot: 0x08 },
      { device: 'interface', slot: 0x04 },
      { device: 'video', slot: 0x02 },
      { device: 'memballoon', slot: 0x0b },
    ]);
    const all = [...qemuSlots, ...libvirtSlots.map((s) => s.slot)];
    expect(new Set(all).size).toBe(all.length);
    // The VGA device of the display sits on slot 0x02, below every NIC and disk.
    expect(all.filter((s) => s === VIDEO_SLOT)).toEqual([0x02]);
    expect(all.every((s) => s === VIDEO_SLOT || (s >= 0x03 && s <= 0x1f))).toBe(true);
  });

  it('gives every domain a VNC display on a unix socket only, a VGA device on slot 0x02 and a USB tablet', () => {
    for (const d of [guest, spec, { ...guest, networks: [], disks: [], guestAgent: false }]) {
      const out = buildDomainXml(d, 'qemu');
      expect(out.match(/<graphics\b[\s\S]*?<\/graphics>/g)).toEqual(['<graphics type="vnc"><listen type="socket"/></graphics>']);
      expect(out).toContain(
        '<video><model type="vga" heads="1" primary="yes"/><address type="pci" domain="0x0000" bus="0x00" slot="0x02" function="0x0"/></video>',
      );
      expect(out).toContain('<input type="tablet" bus="usb"/>');
    }
  });

  it('still reads the owner from the live XML libvirt returns with qemu:commandline', () => {
    // As `virsh dumpxml` printed it for such a domain on libvirt 9.0 (trimmed).
    const live = `<domain type='qemu' id='1' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>qxtest-manual-2</name>
  <uuid>0b8e3f0e-1111-4a6c-9d55-000000000002</uuid>
  <metadata>
    <quantix:vm xmlns:quantix="https://quantix.io/xmlns/libvirt/domain/v1" namespace="a" name="b" uid="u-1"/>
  </metadata>
  <memory unit='KiB'>131072</memory>
  <devices>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-1-qxtest-manual-2/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/>
      <alias name='channel0'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=qxnet0,hostfwd=tcp:127.0.0.1:22222-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=qxnet0,mac=52:54:00:11:22:33,bus=pci.0,addr=0x3'/>
  </qemu:commandline>
</domain>`;
    expect(parseOwnerFromDomainXml(live)).toEqual({ namespace: 'a', name: 'b', uid: 'u-1' });
    expect(parseOwnerFromDomainXml(xml)).toEqual(guest.owner);
  });
});

describe('VNC socket of a live domain', () => {
  const sock = '/var/lib/libvirt/qemu/domain-7-qxtest-console-3bfe5a95/vnc.sock';
  const domain = (devices: string) => `<domain type='qemu' id='7'>\n  <name>qxtest-console</name>\n  <devices>\n${devices}\n  </devices>\n</domain>`;

  it('reads the socket libvirt chose from the live XML', () => {
    // As libvirt 9.0 prints a running domain defined with <graphics type="vnc"><listen type="socket"/></graphics>.
    const live = domain(`    <graphics type='vnc' socket='${sock}'>\n      <listen type='socket' socket='${sock}'/>\n    </graphics>`);
    expect(vncListen(live)).toEqual({ socket: sock });
    // The listen element alone is enough, and a SPICE display before it is skipped.
    expect(
      vncListen(
        domain(`    <graphics type='spice' autoport='yes'/>\n    <graphics type='vnc'>\n      <listen type='socket' socket='${sock}'/>\n    </graphics>`),
      ),
    ).toEqual({
      socket: sock,
    });
  });

  it('is unavailable without VNC graphics, on TCP, or without a path (not running)', () => {
    // A domain Quantix defined before it added the display: a serial console, nothing graphical.
    const old = domain(
      `    <serial type='pty'>\n      <source path='/dev/pts/3'/>\n      <target type='isa-serial' port='0'/>\n    </serial>\n    <console type='pty' tty='/dev/pts/3'/>`,
    );
    expect(vncListen(old)).toEqual({ unavailable: expect.stringMatching(/has no VNC graphics/) });
    expect(vncListen(domain(`    <graphics type='spice' port='5901' autoport='yes' listen='127.0.0.1'/>`))).toEqual({
      unavailable: expect.stringMatching(/no VNC graphics/),
    });
    const tcp = domain(
      `    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>\n      <listen type='address' address='127.0.0.1'/>\n    </graphics>`,
    );
    expect(vncListen(tcp)).toEqual({ unavailable: expect.stringMatching(/listens on TCP/) });
    const inactive = domain(`    <graphics type='vnc'>\n      <listen type='socket'/>\n    </graphics>`);
    expect(vncListen(inactive)).toEqual({ unavailable: expect.stringMatching(/not running/) });
    expect(vncListen('')).toEqual({ unavailable: expect.stringMatching(/no VNC graphics/) });
  });
});

describe('network XML', () => {
  it('builds nat and isolated networks', () => {
    expect(
      buildNetworkXml({
        name: 'qx-nat',
        mode: 'nat',
        bridgeName: 'qxbr0',
        ipv4: { address: '192.168.150.1', prefix: 24, dhcpStart: '192.168.150.100', dhcpEnd: '192.168.150.199' },
      }),
    ).toBe(
      [
        '<network>',
        '  <name>qx-nat</name>',
        '  <forward mode="nat"/>',
        '  <bridge name="qxbr0" stp="on" delay="0"/>',
        '  <ip address="192.168.150.1" prefix="24">',
        '    <dhcp><range start="192.168.150.100" end="192.168.150.199"/></dhcp>',
        '  </ip>',
        '</network>',
        '',
      ].join('\n'),
    );
    const isolated = buildNetworkXml({ name: 'qx-iso', mode: 'isolated', ipv4: { address: '10.9.0.1', prefix: 16 } }, '11111111-2222-3333-4444-555555555555');
    expect(isolated).toContain('<uuid>11111111-2222-3333-4444-555555555555</uuid>');
    expect(isolated).not.toContain('<forward');
    expect(isolated).toContain('<ip address="10.9.0.1" prefix="16"/>');
  });

  it('reads mode, bridge and IPv4 back from libvirt network XML', () => {
    // libvirt's default network as `virsh net-dumpxml` prints it: netmask form, nested <nat>, an IPv6 <ip>.
    const libvirtOut = `<network connections='1'>
  <name>default</name>
  <uuid>9a05da11-e96b-47f3-8253-a3a482e445f5</uuid>
  <forward mode='nat'>
    <nat>
      <port start='1024' end='65535'/>
    </nat>
  </forward>
  <bridge name='virbr0' stp='on' delay='0'/>
  <mac address='52:54:00:0a:cd:21'/>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'>
        <lease expiry='1' unit='hours'/>
      </range>
    </dhcp>
  </ip>
</network>`;
    expect(parseNetworkXml(libvirtOut)).toEqual({
      uuid: '9a05da11-e96b-47f3-8253-a3a482e445f5',
      mode: 'nat',
      bridgeName: 'virbr0',
      ipv4: { address: '192.168.122.1', prefix: 24, dhcpStart: '192.168.122.2', dhcpEnd: '192.168.122.254' },
    });
    expect(parseNetworkXml(`<network><name>i</name><bridge name='virbr3'/><ip address='10.0.0.1' prefix='8'/></network>`)).toEqual({
      mode: 'isolated',
      bridgeName: 'virbr3',
      ipv4: { address: '10.0.0.1', prefix: 8 },
    });
    // <forward/> without a mode is nat; route/open are reported as they are.
    expect(parseNetworkXml('<network><name>n</name><forward/></network>').mode).toBe('nat');
    expect(parseNetworkXml("<network><name>n</name><forward mode='route'/></network>").mode).toBe('route');
  });
});

describe('pool and volume XML', () => {
  it('builds dir and netfs pools and parses libvirt pool XML', () => {
    expect(buildPoolXml({ name: 'p1', type: 'dir', targetPath: '/srv/p1' })).toMatch(
      /<pool type="dir">\s*<name>p1<\/name>\s*<target>\s*<path>\/srv\/p1<\/path>/,
    );
    const nfs = buildPoolXml(
      { name: 'n1', type: 'nfs', targetPath: '/mnt/n1', source: { host: 'nas.local', dir: '/export/vms' } },
      '11111111-2222-3333-4444-555555555555',
    );
    expect(nfs).toContain('<pool type="netfs">');
    expect(nfs).toContain('<uuid>11111111-2222-3333-4444-555555555555</uuid>');
    expect(nfs).toContain('<host name="nas.local"/>');
    expect(nfs).toContain('<dir path="/export/vms"/>');
    expect(nfs).toContain('<format type="nfs"/>');
    const libvirtOut = `<pool type='netfs'>
  <name>n1</name>
  <uuid>0ebf04d2-5700-4d90-9769-a0f30e89b78a</uuid>
  <capacity unit='bytes'>0</capacity>
  <source>
    <host name='nas.local'/>
    <dir path='/export/vms'/>
    <format type='nfs'/>
  </source>
  <target>
    <path>/mnt/n1</path>
    <permissions><mode>0755</mode></permissions>
  </target>
</pool>`;
    expect(parsePoolXml(libvirtOut)).toEqual({
      type: 'netfs',
      uuid: '0ebf04d2-5700-4d90-9769-a0f30e89b78a',
      targetPath: '/mnt/n1',
      source: { host: 'nas.local', dir: '/export/vms' },
    });
  });

  it('builds qcow2 volumes, optionally backed by a base image', () => {
    const plain = buildVolumeXml({ name: 'd.qcow2', capacityBytes: 1073741824 });
    expect(plain).toContain('<capacity unit="bytes">1073741824</capacity>');
    expect(plain).toContain('<format type="qcow2"/>');
    expect(plain).not.toContain('backingStore');
    const backed = buildVolumeXml({ name: 'd.qcow2', capacityBytes: 1, backingPath: '/img/base.raw', backingFormat: 'raw' });
    expect(backed).toMatch(/<backingStore>\s*<path>\/img\/base.raw<\/path>\s*<format type="raw"\/>/);
  });

  it('reads the host CPU model from capabilities and round-trips escapes', () => {
    expect(hostCpuModelFromCapabilities('<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch><model>EPYC-Rome</model></cpu></host></capabilities>')).toBe(
      'EPYC-Rome',
    );
    const s = `a<b>&"c'`;
    expect(xmlUnescape(xmlEscape(s))).toBe(s);
  });
});
