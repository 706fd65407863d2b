import type { DomainSpec } from '../driver.js';
import {
  buildDomainXml,
  buildPoolXml,
  buildVolumeXml,
  hostCpuModelFromCapabilities,
  parseOwner,
  parseOwnerFromDomainXml,
  parsePoolXml,
  QUANTIX_METADATA_NS,
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

  it('renders user, network and bridge interfaces', () => {
    expect(xml).toContain('<interface type="user">');
    expect(xml).toMatch(/<interface type="network">\s*<source network="default"\/>\s*<mac address="52:54:00:aa:bb:cc"\/>\s*<model type="e1000"\/>/);
    expect(xml).toMatch(/<interface type="bridge">\s*<source bridge="br0"\/>\s*<model type="virtio"\/>/);
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
