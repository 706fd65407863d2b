/**
 * libvirt XML: builders for domain, pool and volume definitions, and the few small
 * read-outs the driver needs from XML that libvirt itself generated (pool target/source,
 * Quantix metadata, host CPU model). libvirt's output is regular, so a handful of careful
 * regular expressions is enough; nothing here parses arbitrary XML.
 */
import type {
  DiskBus,
  DiskSpec,
  DomainOwner,
  DomainSpec,
  DomainType,
  NetworkDefSpec,
  NetworkIpv4,
  NetworkSpec,
  NicModel,
  PoolSpec,
  VolumeSpec,
} from '../driver.js';
import { netmaskToPrefix } from '../ipv4.js';
import { nicMac } from '../nics.js';

/** Namespace of the Quantix metadata element inside <metadata>. */
export const QUANTIX_METADATA_NS = 'https://quantix.io/xmlns/libvirt/domain/v1';
export const QUANTIX_METADATA_PREFIX = 'quantix';

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function xmlUnescape(s: string): string {
  return s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d: string) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** Namespace of libvirt's QEMU extensions (<qemu:commandline>). */
export const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';

/** The virtio-serial port name the QEMU guest agent listens on. */
export const GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0';

const DISK_PREFIX: Record<DiskBus, string> = { virtio: 'vd', sata: 'sd', scsi: 'sd', ide: 'hd' };

/** A disk's bus: as given, else virtio, or sata for a CD-ROM (virtio cannot carry one). */
export function diskBus(d: DiskSpec): DiskBus {
  return d.bus ?? (d.device === 'cdrom' ? 'sata' : 'virtio');
}

/** vda, vdb, ... per bus prefix, in spec order. */
function diskTargets(spec: DomainSpec): string[] {
  const used = new Map<string, number>();
  return spec.disks.map((d) => {
    const prefix = DISK_PREFIX[diskBus(d)];
    const n = used.get(prefix) ?? 0;
    used.set(prefix, n + 1);
    return prefix + String.fromCharCode(97 + n);
  });
}

/** QEMU's device for a NIC model (used where the NIC is passed on QEMU's command line). */
const QEMU_NIC_DEVICE: Record<NicModel, string> = { virtio: 'virtio-net-pci', e1000: 'e1000', rtl8139: 'rtl8139' };

/** The first and last slot of bus 0 the driver assigns (see validate.ts MAX_PCI_DEVICES). */
const FIRST_SLOT = 0x03;
const LAST_SLOT = 0x1f;
/** The video device, below FIRST_SLOT so it never moves a NIC or disk. */
export const VIDEO_SLOT = 0x02;

/**
 * Where every PCI device of the domain goes: bus 0 (pci.0) of the i440fx "pc" machine, one slot
 * each from 0x03 in a fixed order — NICs in spec order, then the SATA, SCSI and virtio-serial
 * controllers, virtio disks in spec order, the balloon last.
 *
 * Why the driver places devices itself instead of letting libvirt do it: a user NIC with port
 * forwards is passed on QEMU's command line (<qemu:commandline>), which libvirt's allocator does
 * not see, so libvirt would put its own devices on the same slot (slot 2 collides with the
 * balloon). With every device addressed here, libvirt allocates nothing on bus 0 beyond the
 * machine's built-ins (host bridge at 0, PIIX3 with IDE and USB at 1); slot 2 holds the VGA
 * device of the VNC display (VIDEO_SLOT, where the PC's VGA traditionally sits). NICs come
 * first so the guest sees them in spec order (enp0s3, enp0s4, ...).
 * On q35 the same scheme would need a pcie-root-port per device; Quantix uses pc.
 */
export interface PciLayout {
  nics: number[];
  disks: (number | undefined)[];
  sata?: number;
  scsi?: number;
  virtioSerial?: number;
  balloon: number;
}

export function pciLayout(spec: DomainSpec): PciLayout {
  let next = FIRST_SLOT;
  const take = (): number => {
    if (next > LAST_SLOT) throw new Error(`more PCI devices than slots 0x03..0x1f (validateDomainSpec refuses such specs)`);
    return next++;
  };
  const nics = spec.networks.map(() => take());
  const layout: PciLayout = { nics, disks: [], balloon: 0 };
  if (spec.disks.some((d) => diskBus(d) === 'sata')) layout.sata = take();
  if (spec.disks.some((d) => diskBus(d) === 'scsi')) layout.scsi = take();
  if (spec.guestAgent !== false) layout.virtioSerial = take();
  layout.disks = spec.disks.map((d) => (diskBus(d) === 'virtio' ? take() : undefined));
  layout.balloon = take();
  return layout;
}

function slotHex(slot: number): string {
  return `0x${slot.toString(16).padStart(2, '0')}`;
}

function pciAddress(slot: number): string {
  return `<address type="pci" domain="0x0000" bus="0x00" slot="${slotHex(slot)}" function="0x0"/>`;
}

/** A user NIC with port forwards: QEMU's own -netdev user + -device, outside libvirt's device model. */
function isCommandLineNic(n: NetworkSpec): n is Extract<NetworkSpec, { type: 'user' }> {
  return n.type === 'user' && (n.portForwards?.length ?? 0) > 0;
}

/**
 * The QEMU arguments of a user NIC with port forwards, e.g.
 * `-netdev user,id=qxnet0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,id=qxnic0,netdev=qxnet0,mac=..,bus=pci.0,addr=0x03`.
 * Values are IPv4 literals, ports and MACs (validated), so no QEMU comma escaping is needed.
 */
export function userNicArgs(n: Extract<NetworkSpec, { type: 'user' }>, index: number, mac: string, slot: number): string[] {
  const netdev = [`user`, `id=qxnet${index}`, ...(n.portForwards ?? []).map((f) => `hostfwd=${f.protocol}:${f.hostAddress}:${f.hostPort}-:${f.guestPort}`)];
  const device = [QEMU_NIC_DEVICE[n.model ?? 'virtio'], `id=qxnic${index}`, `netdev=qxnet${index}`, `mac=${mac}`, `bus=pci.0`, `addr=${slotHex(slot)}`];
  return ['-netdev', netdev.join(','), '-device', device.join(',')];
}

export function ownerElement(owner: DomainOwner): string {
  const uid = owner.uid !== undefined ? ` uid="${xmlEscape(owner.uid)}"` : '';
  return (
    `<${QUANTIX_METADATA_PREFIX}:vm xmlns:${QUANTIX_METADATA_PREFIX}="${QUANTIX_METADATA_NS}"` +
    ` namespace="${xmlEscape(owner.namespace)}" name="${xmlEscape(owner.name)}"${uid}/>`
  );
}

/** The domain XML; `defaultDomainType` applies unless the spec sets `domainType`. */
export function buildDomainXml(spec: DomainSpec, defaultDomainType: DomainType): string {
  const domainType = spec.domainType ?? defaultDomainType;
  const targets = diskTargets(spec);
  const pci = pciLayout(spec);
  const qemuArgs: string[] = [];
  spec.networks.forEach((n, i) => {
    if (isCommandLineNic(n)) qemuArgs.push(...userNicArgs(n, i, nicMac(spec.uuid, i, n.mac), pci.nics[i]!));
  });
  const lines: string[] = [];
  lines.push(qemuArgs.length > 0 ? `<domain type="${domainType}" xmlns:qemu="${QEMU_NS}">` : `<domain type="${domainType}">`);
  lines.push(`  <name>${xmlEscape(spec.name)}</name>`);
  lines.push(`  <uuid>${xmlEscape(spec.uuid.toLowerCase())}</uuid>`);
  lines.push(`  <metadata>`);
  lines.push(`    ${ownerElement(spec.owner)}`);
  lines.push(`  </metadata>`);
  lines.push(`  <memory unit="b">${spec.memoryBytes}</memory>`);
  lines.push(`  <vcpu placement="static">${spec.vcpus}</vcpu>`);
  lines.push(`  <os>`);
  lines.push(`    <type arch="x86_64" machine="pc">hvm</type>`);
  lines.push(`    <boot dev="hd"/>`);
  lines.push(`  </os>`);
  lines.push(`  <features><acpi/><apic/></features>`);
  if (spec.cpuMode && domainType === 'kvm') lines.push(`  <cpu mode="${spec.cpuMode}" check="none"/>`);
  lines.push(`  <on_poweroff>destroy</on_poweroff>`);
  lines.push(`  <on_reboot>restart</on_reboot>`);
  lines.push(`  <on_crash>destroy</on_crash>`);
  lines.push(`  <devices>`);
  spec.disks.forEach((d, i) => {
    const device = d.device ?? 'disk';
    lines.push(`    <disk type="file" device="${device}">`);
    lines.push(`      <driver name="qemu" type="${d.format ?? 'qcow2'}"/>`);
    lines.push(`      <source file="${xmlEscape(d.path)}"/>`);
    lines.push(`      <target dev="${targets[i]}" bus="${diskBus(d)}"/>`);
    if (d.readonly || device === 'cdrom') lines.push(`      <readonly/>`);
    const slot = pci.disks[i];
    if (slot !== undefined) lines.push(`      ${pciAddress(slot)}`);
    lines.push(`    </disk>`);
  });
  if (pci.sata !== undefined) lines.push(`    <controller type="sata" index="0">${pciAddress(pci.sata)}</controller>`);
  if (pci.scsi !== undefined) lines.push(`    <controller type="scsi" index="0" model="virtio-scsi">${pciAddress(pci.scsi)}</controller>`);
  if (pci.virtioSerial !== undefined) lines.push(`    <controller type="virtio-serial" index="0">${pciAddress(pci.virtioSerial)}</controller>`);
  spec.networks.forEach((n, i) => {
    if (isCommandLineNic(n)) return;
    lines.push(`    <interface type="${n.type}">`);
    if (n.type === 'network') lines.push(`      <source network="${xmlEscape(n.network)}"/>`);
    if (n.type === 'bridge') lines.push(`      <source bridge="${xmlEscape(n.bridge)}"/>`);
    lines.push(`      <mac address="${xmlEscape(nicMac(spec.uuid, i, n.mac))}"/>`);
    lines.push(`      <model type="${n.model ?? 'virtio'}"/>`);
    lines.push(`      ${pciAddress(pci.nics[i]!)}`);
    lines.push(`    </interface>`);
  });
  lines.push(`    <serial type="pty"><target port="0"/></serial>`);
  lines.push(`    <console type="pty"><target type="serial" port="0"/></console>`);
  if (spec.guestAgent !== false) lines.push(`    <channel type="unix"><target type="virtio" name="${GUEST_AGENT_CHANNEL}"/></channel>`);
  // The display: VNC on a unix socket only (libvirt puts it in the domain's private directory;
  // openConsole reads the path from the live XML), never a TCP port. The USB tablet gives VNC
  // clients an absolute pointer (on the PIIX3's built-in USB controller, no PCI slot of its own).
  lines.push(`    <input type="tablet" bus="usb"/>`);
  lines.push(`    <graphics type="vnc"><listen type="socket"/></graphics>`);
  lines.push(`    <video><model type="vga" heads="1" primary="yes"/>${pciAddress(VIDEO_SLOT)}</video>`);
  lines.push(`    <memballoon model="virtio">${pciAddress(pci.balloon)}</memballoon>`);
  lines.push(`  </devices>`);
  if (qemuArgs.length > 0) {
    lines.push(`  <qemu:commandline>`);
    for (const a of qemuArgs) lines.push(`    <qemu:arg value="${xmlEscape(a)}"/>`);
    lines.push(`  </qemu:commandline>`);
  }
  lines.push(`</domain>`);
  return lines.join('\n') + '\n';
}

export function buildPoolXml(spec: PoolSpec, uuid?: string): string {
  const lines: string[] = [];
  lines.push(`<pool type="${spec.type === 'nfs' ? 'netfs' : 'dir'}">`);
  lines.push(`  <name>${xmlEscape(spec.name)}</name>`);
  if (uuid) lines.push(`  <uuid>${xmlEscape(uuid)}</uuid>`);
  if (spec.type === 'nfs') {
    lines.push(`  <source>`);
    lines.push(`    <host name="${xmlEscape(spec.source.host)}"/>`);
    lines.push(`    <dir path="${xmlEscape(spec.source.dir)}"/>`);
    lines.push(`    <format type="nfs"/>`);
    lines.push(`  </source>`);
  }
  lines.push(`  <target>`);
  lines.push(`    <path>${xmlEscape(spec.targetPath)}</path>`);
  lines.push(`  </target>`);
  lines.push(`</pool>`);
  return lines.join('\n') + '\n';
}

export function buildVolumeXml(spec: VolumeSpec): string {
  const lines: string[] = [];
  lines.push(`<volume type="file">`);
  lines.push(`  <name>${xmlEscape(spec.name)}</name>`);
  lines.push(`  <capacity unit="bytes">${spec.capacityBytes}</capacity>`);
  lines.push(`  <target>`);
  lines.push(`    <format type="${spec.format ?? 'qcow2'}"/>`);
  lines.push(`  </target>`);
  if (spec.backingPath) {
    lines.push(`  <backingStore>`);
    lines.push(`    <path>${xmlEscape(spec.backingPath)}</path>`);
    lines.push(`    <format type="${spec.backingFormat ?? 'qcow2'}"/>`);
    lines.push(`  </backingStore>`);
  }
  lines.push(`</volume>`);
  return lines.join('\n') + '\n';
}

export function buildNetworkXml(spec: NetworkDefSpec, uuid?: string): string {
  const lines: string[] = [];
  lines.push(`<network>`);
  lines.push(`  <name>${xmlEscape(spec.name)}</name>`);
  if (uuid) lines.push(`  <uuid>${xmlEscape(uuid)}</uuid>`);
  if (spec.mode === 'nat') lines.push(`  <forward mode="nat"/>`);
  if (spec.bridgeName) lines.push(`  <bridge name="${xmlEscape(spec.bridgeName)}" stp="on" delay="0"/>`);
  const ip = spec.ipv4;
  if (ip) {
    if (ip.dhcpStart && ip.dhcpEnd) {
      lines.push(`  <ip address="${xmlEscape(ip.address)}" prefix="${ip.prefix}">`);
      lines.push(`    <dhcp><range start="${xmlEscape(ip.dhcpStart)}" end="${xmlEscape(ip.dhcpEnd)}"/></dhcp>`);
      lines.push(`  </ip>`);
    } else {
      lines.push(`  <ip address="${xmlEscape(ip.address)}" prefix="${ip.prefix}"/>`);
    }
  }
  lines.push(`</network>`);
  return lines.join('\n') + '\n';
}

// ---- read-outs -----------------------------------------------------------------------------

/** The value of attribute `name` in a tag's attribute text (` a="1" b='2'`), unescaped. */
function attrIn(attrs: string, name: string): string | undefined {
  const a = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return a ? xmlUnescape(a[1] ?? a[2] ?? '') : undefined;
}

/** Attribute value of the first `<tag ...>` in `xml` (the tag may carry a prefix). */
export function attrOf(xml: string, tag: string, attr: string): string | undefined {
  const tagRe = new RegExp(`<${tag}(\\s[^>]*)?/?>`);
  const m = tagRe.exec(xml);
  if (!m?.[1]) return undefined;
  return attrIn(m[1], attr);
}

/** Text content of the first `<tag>text</tag>` in `xml`. */
export function textOf(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml);
  return m ? xmlUnescape(m[1]!.trim()) : undefined;
}

/** The inner XML of the first `<tag>...</tag>` block (no nesting of the same tag). */
export function blockOf(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? m[1] : undefined;
}

/**
 * Parses the Quantix metadata element as returned by virDomainGetMetadata asked for the
 * Quantix namespace URI: `<vm namespace=".." name=".." uid=".."/>` (libvirt strips the
 * prefix and namespace declaration there, the URI of the request is the guarantee).
 */
export function parseOwner(element: string): DomainOwner | null {
  const m = /<(?:[A-Za-z_][\w.-]*:)?vm(\s[^>]*?)?\/?>/.exec(element);
  if (!m?.[1]) return null;
  const attrs = m[1];
  const get = (name: string): string | undefined => attrIn(attrs, name);
  const namespace = get('namespace');
  const name = get('name');
  if (namespace === undefined || name === undefined) return null;
  const uid = get('uid');
  return uid === undefined ? { namespace, name } : { namespace, name, uid };
}

/** The Quantix owner from a full domain XML: the element under <metadata> in the Quantix namespace. */
export function parseOwnerFromDomainXml(xml: string): DomainOwner | null {
  const metadata = blockOf(xml, 'metadata');
  if (!metadata) return null;
  const decl = /<([A-Za-z_][\w.-]*):vm\s[^>]*xmlns:\1\s*=\s*["']([^"']*)["'][^>]*>/.exec(metadata);
  if (!decl || decl[2] !== QUANTIX_METADATA_NS) return null;
  return parseOwner(decl[0]);
}

export interface ParsedPoolXml {
  type: string;
  uuid?: string;
  targetPath: string;
  source?: { host: string; dir: string };
}

export function parsePoolXml(xml: string): ParsedPoolXml {
  const type = attrOf(xml, 'pool', 'type') ?? 'unknown';
  const target = blockOf(xml, 'target') ?? '';
  const targetPath = textOf(target, 'path') ?? '';
  const uuid = textOf(xml, 'uuid');
  const out: ParsedPoolXml = { type, targetPath };
  if (uuid) out.uuid = uuid;
  const source = blockOf(xml, 'source');
  if (source !== undefined) {
    const host = attrOf(source, 'host', 'name');
    const dir = attrOf(source, 'dir', 'path');
    if (host !== undefined && dir !== undefined) out.source = { host, dir };
  }
  return out;
}

/** `<host><cpu>...<model>Skylake</model>` of the capabilities XML. */
export function hostCpuModelFromCapabilities(xml: string): string | undefined {
  const host = blockOf(xml, 'host');
  if (!host) return undefined;
  const cpu = blockOf(host, 'cpu');
  return cpu ? textOf(cpu, 'model') : undefined;
}

export interface ParsedNetworkXml {
  uuid?: string;
  /** The forward mode, or "isolated" when the network does not forward. */
  mode: string;
  bridgeName?: string;
  ipv4?: NetworkIpv4;
}

/** Mode, bridge and the first IPv4 <ip> (prefix or netmask form) of libvirt's network XML. */
export function parseNetworkXml(xml: string): ParsedNetworkXml {
  const out: ParsedNetworkXml = { mode: 'isolated' };
  const uuid = textOf(xml, 'uuid');
  if (uuid) out.uuid = uuid;
  // <forward/> without a mode is nat.
  if (/<forward[\s/>]/.test(xml)) out.mode = attrOf(xml, 'forward', 'mode') ?? 'nat';
  const bridge = attrOf(xml, 'bridge', 'name');
  if (bridge) out.bridgeName = bridge;
  const ipRe = /<ip(\s[^>]*?)?(?:\/>|>([\s\S]*?)<\/ip>)/g;
  for (let m = ipRe.exec(xml); m !== null; m = ipRe.exec(xml)) {
    const attrs = m[1] ?? '';
    const family = attrIn(attrs, 'family');
    const address = attrIn(attrs, 'address');
    if ((family !== undefined && family !== 'ipv4') || address === undefined) continue;
    const prefixAttr = attrIn(attrs, 'prefix');
    const netmask = attrIn(attrs, 'netmask');
    const prefix = prefixAttr !== undefined ? Number(prefixAttr) : netmask !== undefined ? netmaskToPrefix(netmask) : undefined;
    if (prefix === undefined || !Number.isInteger(prefix)) continue;
    const ipv4: NetworkIpv4 = { address, prefix };
    const dhcp = m[2] !== undefined ? blockOf(m[2], 'dhcp') : undefined;
    const start = dhcp !== undefined ? attrOf(dhcp, 'range', 'start') : undefined;
    const end = dhcp !== undefined ? attrOf(dhcp, 'range', 'end') : undefined;
    if (start !== undefined && end !== undefined) {
      ipv4.dhcpStart = start;
      ipv4.dhcpEnd = end;
    }
    out.ipv4 = ipv4;
    break;
  }
  return out;
}

export type VncListen = { socket: string } | { unavailable: string };

/**
 * Where the VNC server of a running domain listens, from its live XML: the unix socket libvirt
 * chose (`<graphics type="vnc" socket="...">`, or its `<listen type="socket" socket="...">`).
 * No VNC graphics (domains defined before Quantix added them), or VNC on TCP (a domain
 * defined outside Quantix), is `unavailable`: the agent never connects to a TCP display.
 */
export function vncListen(xml: string): VncListen {
  const devices = blockOf(xml, 'devices') ?? '';
  const re = /<graphics(\s[^>]*?)?(\/>|>([\s\S]*?)<\/graphics>)/g;
  for (let m = re.exec(devices); m !== null; m = re.exec(devices)) {
    const attrs = m[1] ?? '';
    if (attrIn(attrs, 'type') !== 'vnc') continue;
    const socket = attrIn(attrs, 'socket');
    if (socket) return { socket };
    const inner = m[3] ?? '';
    const listenRe = /<listen(\s[^>]*?)?\/?>/g;
    let socketListen = false;
    for (let l = listenRe.exec(inner); l !== null; l = listenRe.exec(inner)) {
      const la = l[1] ?? '';
      if (attrIn(la, 'type') !== 'socket') continue;
      const ls = attrIn(la, 'socket');
      if (ls) return { socket: ls };
      socketListen = true;
    }
    // The inactive definition names no path: libvirt chooses it at start.
    if (socketListen) return { unavailable: 'libvirt reports no path for the VNC socket (the domain is not running)' };
    return { unavailable: "the domain's VNC display listens on TCP, not on a unix socket; Quantix does not connect to it" };
  }
  return {
    unavailable: 'the domain has no VNC graphics (defined before Quantix added a display: stopping and starting the VM through Quantix redefines it with one)',
  };
}
