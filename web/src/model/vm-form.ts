/**
 * The create form's state and its translation to a VirtualMachine, plus the mapping of the
 * server's field paths back to form inputs (so a 422 lands next to the right input).
 */
import type { RunStrategy, VirtualMachine } from '../../../api-types/generated/types.js';
import { tryParseBytes } from '../../../api-types/quantity.js';

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
}

export const emptyForm = (): VmForm => ({
  namespace: 'default',
  name: '',
  cpu: '1',
  memory: '1Gi',
  runStrategy: 'Always',
  nodeName: '',
  disks: [{ name: 'root', storagePool: '', size: '10Gi' }],
});

export function vmFromForm(f: VmForm): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: f.name.trim(), namespace: f.namespace.trim() || 'default' },
    spec: {
      runStrategy: f.runStrategy,
      cpu: Number(f.cpu),
      memory: f.memory.trim(),
      disks: f.disks.map((d, i) => ({ name: d.name.trim(), storagePool: d.storagePool, size: d.size.trim(), ...(i === 0 ? { bootOrder: 1 } : {}) })),
      ...(f.nodeName ? { nodeName: f.nodeName } : {}),
    },
  };
}

/** Form input ids by server field path: `spec.disks[1].size` → `disks.1.size`. */
export function inputForField(field: string): string {
  const disk = /^spec\.disks\[(\d+)\](?:\.(name|storagePool|size))?/.exec(field);
  if (disk) return `disks.${disk[1]}.${disk[2] ?? 'name'}`;
  if (field === 'metadata.name' || field === 'metadata.generateName') return 'name';
  if (field === 'metadata.namespace') return 'namespace';
  const spec = /^spec\.(cpu|memory|runStrategy|nodeName)/.exec(field);
  if (spec) return spec[1]!;
  if (field === 'spec.disks') return 'disks';
  return 'form';
}

/** Checks the server would also make, done early so the user sees them while typing. */
export function localErrors(f: VmForm): Record<string, string> {
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
  return out;
}
