/**
 * libvirt XML: builders for domain, pool and volume definitions, and the few small
 * read-outs the driver needs from XML that libvirt itself generated (pool target/source,
 * Quantix metadata, host CPU model). libvirt's output is regular, so a handful of careful
 * regular expressions is enough; nothing here parses arbitrary XML.
 */
import type { DiskBus, DomainOwner, DomainSpec, DomainType, PoolSpec, VolumeSpec } from '../driver.js';

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

const DISK_PREFIX: Record<DiskBus, string> = { virtio: 'vd', sata: 'sd', scsi: 'sd', ide: 'hd' };

/** vda, vdb, ... per bus prefix, in spec order. */
function diskTargets(spec: DomainSpec): string[] {
  const used = new Map<string, number>();
  return spec.disks.map((d) => {
    const prefix = DISK_PREFIX[d.bus ?? 'virtio'];
    const n = used.get(prefix) ?? 0;
    used.set(prefix, n + 1);
    return prefix + String.fromCharCode(97 + n);
  });
}

export function ownerElement(owner: DomainOwner): string {
  const uid = owner.uid !== undefined ? ` uid="${xmlEscape(owner.uid)}"` : '';
  return (
    `<${QUANTIX_METADATA_PREFIX}:vm xmlns:${QUANTIX_METADATA_PREFIX}="${QUANTIX_METADATA_NS}"` +
    ` namespace="${xmlEscape(owner.namespace)}" name="${xmlEscape(owner.name)}"${uid}/>`
  );
}

export function buildDomainXml(spec: DomainSpec, domainType: DomainType): string {
  const targets = diskTargets(spec);
  const lines: string[] = [];
  lines.push(`<domain type="${domainType}">`);
  lines.push(`  <name>${xmlEscape(spec.name)}</name>`);
  lines.push(`  <uuid>${xmlEscape(spec.uuid.toLowerCase())}</uuid>`);
  lines.push(`  <metadata>`);
  lines.push(`    ${ownerElement(spec.owner)}`);
  lines.push(`  </metadata>`);
  lines.push(`  <memory unit="b">${spec.memoryBytes}</memory>`);
  lines.push(`  <vcpu placement="static">${spec.vcpus}</vcpu>`);
  lines.push(`  <os>`);
  lines.push(`    <type arch="x86_64">hvm</type>`);
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
    lines.push(`      <target dev="${targets[i]}" bus="${d.bus ?? 'virtio'}"/>`);
    if (d.readonly || device === 'cdrom') lines.push(`      <readonly/>`);
    lines.push(`    </disk>`);
  });
  if (spec.disks.some((d) => d.bus === 'scsi')) lines.push(`    <controller type="scsi" model="virtio-scsi"/>`);
  for (const n of spec.networks) {
    lines.push(`    <interface type="${n.type}">`);
    if (n.type === 'network') lines.push(`      <source network="${xmlEscape(n.network)}"/>`);
    if (n.type === 'bridge') lines.push(`      <source bridge="${xmlEscape(n.bridge)}"/>`);
    if (n.mac) lines.push(`      <mac address="${xmlEscape(n.mac.toLowerCase())}"/>`);
    lines.push(`      <model type="${n.model ?? 'virtio'}"/>`);
    lines.push(`    </interface>`);
  }
  lines.push(`    <serial type="pty"><target port="0"/></serial>`);
  lines.push(`    <console type="pty"><target type="serial" port="0"/></console>`);
  lines.push(`    <memballoon model="virtio"/>`);
  lines.push(`  </devices>`);
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

// ---- read-outs -----------------------------------------------------------------------------

/** Attribute value of the first `<tag ...>` in `xml` (the tag may carry a prefix). */
export function attrOf(xml: string, tag: string, attr: string): string | undefined {
  const tagRe = new RegExp(`<${tag}(\\s[^>]*)?/?>`);
  const m = tagRe.exec(xml);
  if (!m?.[1]) return undefined;
  const a = new RegExp(`\\s${attr}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(m[1]);
  if (!a) return undefined;
  return xmlUnescape(a[1] ?? a[2] ?? '');
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
  const get = (name: string): string | undefined => {
    const a = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
    return a ? xmlUnescape(a[1] ?? a[2] ?? '') : undefined;
  };
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
