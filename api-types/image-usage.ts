/**
 * Which VMs use an Image, and the disk-size rule against it: one definition for the
 * apiserver's admission, the image controller and the agent.
 */
import { fieldError, type FieldError } from './field-errors.js';
import type { Image, VirtualMachine, VirtualMachineDisk } from './generated/types.js';
import { formatBytesHuman, tryParseBytes } from './quantity.js';

/** The Image names a VM's disks start from. */
export function imagesOf(vm: VirtualMachine | undefined): string[] {
  if (!vm) return [];
  return [...new Set((vm.spec?.disks ?? []).map((d) => d.image).filter((n): n is string => typeof n === 'string' && n !== ''))];
}

/** Why a disk is too small for its image, or undefined when it fits (or the size is not known yet). */
export function diskTooSmallMessage(disk: Pick<VirtualMachineDisk, 'size' | 'image'>, virtualSizeBytes: number | undefined): string | undefined {
  if (virtualSizeBytes === undefined || typeof disk.size !== 'string') return undefined;
  const r = tryParseBytes(disk.size);
  if (!('bytes' in r) || r.bytes >= virtualSizeBytes) return undefined;
  return `must be at least the virtual size of Image "${disk.image}" (${formatBytesHuman(virtualSizeBytes)}, ${virtualSizeBytes} bytes)`;
}

/**
 * Disks smaller than their Image's known virtual size. On update only disks whose size or
 * image changed are checked: a VM admitted before the image was measured is not made
 * unwritable by it (the agent reports it instead).
 */
export function diskImageSizeErrors(vm: VirtualMachine, old: VirtualMachine | undefined, imageNamed: (name: string) => Image | undefined): FieldError[] {
  const disks = vm.spec?.disks;
  if (!Array.isArray(disks)) return [];
  const errs: FieldError[] = [];
  disks.forEach((d, i) => {
    if (!d || typeof d.image !== 'string') return;
    const before = old?.spec?.disks?.find((o) => o.name === d.name);
    if (before && before.size === d.size && before.image === d.image) return;
    const msg = diskTooSmallMessage(d, imageNamed(d.image)?.status?.virtualSizeBytes);
    if (msg) errs.push(fieldError.invalid(`spec.disks[${i}].size`, d.size, msg));
  });
  return errs;
}
