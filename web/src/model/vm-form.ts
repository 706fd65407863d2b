/**
 * The create form's state and its translation to a VirtualMachine, plus the mapping of the
 * server's field paths back to form inputs (so a 422 lands next to the right input).
 */
import type { Image, RunStrategy, VirtualMachine, VirtualMachineNetwork } from '../../../api-types/generated/types.js';
import { formatBytesHuman, tryParseBytes } from '../../../api-types/quantity.js';

export interface DiskRow {
  name: string;
  storagePool: string;
  size: string;
}

export interface VmForm {
  namespace: string;
  name: string;
  cpu: string;
  memory: string;
  runStrategy: RunStrategy;
  nodeName: string;
  disks: DiskRow[];
  /** Image the boot disk (the first) starts from; '' for an empty disk. */
  image: string;
  /** SSH public keys for cloud-init, one per line. */
  sshKeys: string;
  /** 'user': one QEMU user-mode NIC; 'none': no NIC. */
  network: 'none' | 'user';
  /** Host port forwarded to the guest's port 22 (user networking); '' for none. */
  sshHostPort: string;
}

export const emptyForm = (): VmForm => ({
  namespace: 'default',
  name: '',
  cpu: '1',
  memory: '1Gi',
  runStrategy: 'Always',
  nodeName: '',
  disks: [{ name: 'root', storagePool: '', size: '10Gi' }],
  image: '',
  sshKeys: '',
  network: 'none',
  sshHostPort: '',
});

/** The key lines of the SSH keys box (blank lines and # comments dropped). */
export function sshKeyLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** An OpenSSH public key line: type, base64 body, optional comment. */
const SSH_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;

function networksOf(f: VmForm): VirtualMachineNetwork[] | undefined {
  if (f.network === 'none') return undefined;
  const port = f.sshHostPort.trim();
  return [{ name: 'default', type: 'user', ...(port ? { portForwards: [{ guestPort: 22, hostPort: Number(port) }] } : {}) }];
}

export function vmFromForm(f: VmForm): VirtualMachine {
  const keys = sshKeyLines(f.sshKeys);
  const networks = networksOf(f);
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: f.name.trim(), namespace: f.namespace.trim() || 'default' },
    spec: {
      runStrategy: f.runStrategy,
      cpu: Number(f.cpu),
      memory: f.memory.trim(),
      disks: f.disks.map((d, i) => ({
        name: d.name.trim(),
        storagePool: d.storagePool,
        size: d.size.trim(),
        ...(i === 0 ? { bootOrder: 1 } : {}),
        ...(i === 0 && f.image ? { image: f.image } : {}),
      })),
      ...(networks ? { networks } : {}),
      ...(keys.length ? { cloudInit: { sshAuthorizedKeys: keys } } : {}),
      ...(f.nodeName ? { nodeName: f.nodeName } : {}),
    },
  };
}

/** Form input ids by server field path: `spec.disks[1].size` → `disks.1.size`. */
export function inputForField(field: string): string {
  if (/^spec\.disks\[0\]\.(image|imageClone)\b/.test(field)) return 'image';
  const disk = /^spec\.disks\[(\d+)\](?:\.(name|storagePool|size))?/.exec(field);
  if (disk) return `disks.${disk[1]}.${disk[2] ?? 'name'}`;
  if (field.startsWith('spec.cloudInit')) return 'sshKeys';
  if (/^spec\.networks\[0\]\.portForwards\b/.test(field)) return 'sshHostPort';
  if (field.startsWith('spec.networks')) return 'network';
  if (field === 'metadata.name' || field === 'metadata.generateName') return 'name';
  if (field === 'metadata.namespace') return 'namespace';
  const spec = /^spec\.(cpu|memory|runStrategy|nodeName)/.exec(field);
  if (spec) return spec[1]!;
  if (field === 'spec.disks') return 'disks';
  return 'form';
}

/**
 * Checks the server would also make, done early so the user sees them while typing; with
 * the images, also that the boot disk is at least as large as its image.
 */
export function localErrors(f: VmForm, images: readonly Image[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  if (!f.name.trim()) out.name = 'Required';
  const cpu = Number(f.cpu);
  if (!Number.isInteger(cpu) || cpu < 1) out.cpu = 'A whole number of cores, at least 1';
  const mem = tryParseBytes(f.memory.trim());
  if ('error' in mem) out.memory = `Invalid quantity: ${mem.error}`;
  f.disks.forEach((d, i) => {
    if (!d.storagePool) out[`disks.${i}.storagePool`] = 'Choose a Ready pool';
    const size = tryParseBytes(d.size.trim());
    if ('error' in size) out[`disks.${i}.size`] = `Invalid quantity: ${size.error}`;
  });
  const image = f.image ? images.find((i) => i.metadata.name === f.image) : undefined;
  const boot = tryParseBytes(f.disks[0]?.size.trim() ?? '');
  const needs = image?.status?.virtualSizeBytes;
  if (needs !== undefined && 'bytes' in boot && boot.bytes < needs) out['disks.0.size'] = `At least ${formatBytesHuman(needs)}: the image's virtual size`;
  if (image?.status?.phase === 'Failed') out.image = `Image ${f.image} failed to import; see the Images page`;
  const bad = sshKeyLines(f.sshKeys).find((k) => !SSH_KEY.test(k));
  if (bad) out.sshKeys = `Not an OpenSSH public key line: ${bad.length > 40 ? `${bad.slice(0, 40)}…` : bad}`;
  if (f.network === 'user' && f.sshHostPort.trim()) {
    const port = Number(f.sshHostPort.trim());
    if (!Number.isInteger(port) || port < 1 || port > 65535) out.sshHostPort = 'A port number, 1 to 65535';
  }
  return out;
}
