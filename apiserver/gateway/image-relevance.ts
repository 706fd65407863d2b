/**
 * Which Images a node's agent is sent (pure). An Image's source URL may carry credentials
 * (userinfo turned into Basic auth by the agent), so a node sees only the Images it has to
 * act on — least privilege, and 1,000 agents do not each receive every Image:
 *
 * - the Image names the node in spec.nodeNames (import ahead of time);
 * - a VM bound to the node has a disk from it;
 * - the node has an entry in its status.nodes (a copy here, or an import under way): the
 *   agent keeps a finished copy until the Image is deleted, and takes a stale entry out.
 *
 * An Image that stops being relevant is sent as DELETED, which an agent treats like a deleted
 * Image (an agent only drops a copy no VM of its own still reads).
 */
import type { Image, VirtualMachine } from '../../api-types/generated/types.js';

/** The distinct Image names a VM's disks are made from. */
export function imagesOfVm(vm: VirtualMachine): string[] {
  const names = new Set<string>();
  for (const disk of vm.spec?.disks ?? []) if (disk.image) names.add(disk.image);
  return [...names];
}

export function imageRelevantTo(image: Image, node: string, usedByVmHere: boolean): boolean {
  return usedByVmHere || (image.spec?.nodeNames ?? []).includes(node) || Object.hasOwn(image.status?.nodes ?? {}, node);
}

/** The Images used by the VMs bound to one node, counted per VM. */
export class NodeImageUse {
  readonly #byVm = new Map<string, string[]>();
  readonly #users = new Map<string, number>();

  /** Records the Images a VM bound here uses; returns those no other VM here used before. */
  setVm(key: string, images: readonly string[]): string[] {
    const before = this.#byVm.get(key) ?? [];
    for (const name of before) this.#release(name);
    const added: string[] = [];
    for (const name of images) {
      const n = this.#users.get(name) ?? 0;
      if (n === 0) added.push(name);
      this.#users.set(name, n + 1);
    }
    if (images.length > 0) this.#byVm.set(key, [...images]);
    else this.#byVm.delete(key);
    // Names that were used before and still are are not new.
    return added.filter((name) => !before.includes(name));
  }

  deleteVm(key: string): void {
    for (const name of this.#byVm.get(key) ?? []) this.#release(name);
    this.#byVm.delete(key);
  }

  uses(image: string): boolean {
    return (this.#users.get(image) ?? 0) > 0;
  }

  #release(name: string): void {
    const n = (this.#users.get(name) ?? 0) - 1;
    if (n > 0) this.#users.set(name, n);
    else this.#users.delete(name);
  }
}
