/**
 * Simulated disk snapshots: the snapshot names each disk file holds, in memory. A running
 * domain's file systems count as frozen when its guest agent answers (as libvirt's fsfreeze
 * needs it); revert refuses a running domain, as qemu-img's image lock does on a real host.
 */
import type { DiskSnapshotOutcome, DiskSnapshotTarget } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { normalizeUuid } from '../validate.js';
import type { SimHost } from './host.js';

/** The allocation the sim reports for a disk file at snapshot time. */
export const SIM_SNAPSHOT_DISK_BYTES = 64 * 1024 * 1024;

export class SimSnapshots {
  /** Disk file path → snapshot names. */
  readonly #byPath = new Map<string, Set<string>>();

  constructor(private readonly host: SimHost) {}

  /** The snapshots a disk file holds (tests). */
  namesOf(path: string): string[] {
    return [...(this.#byPath.get(path) ?? [])];
  }

  #domain(uuid: string) {
    return this.host.domains.get(normalizeUuid(uuid));
  }

  async snapshotDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<DiskSnapshotOutcome> {
    await this.host.enter('snapshotDisks', uuid);
    for (const d of disks) {
      if (this.#byPath.get(d.path)?.has(name)) {
        throw new HypervisorError('SnapshotExists', `disk ${d.disk} (${d.path}) already has a snapshot named ${name}`, {
          operation: 'snapshotDisks',
          target: d.path,
        });
      }
    }
    const dom = this.#domain(uuid);
    const running = dom?.state === 'Running' || dom?.state === 'Paused';
    const agent = Boolean(dom && dom.state === 'Running' && (dom.live ?? dom.config).guestAgent && dom.agentResponding);
    for (const d of disks) {
      const set = this.#byPath.get(d.path) ?? new Set<string>();
      set.add(name);
      this.#byPath.set(d.path, set);
    }
    return {
      running,
      frozen: !running || agent,
      ...(running && !agent ? { freezeMessage: 'Guest agent is not responding: QEMU guest agent is not connected' } : {}),
      disks: disks.map((d) => ({ disk: d.disk, path: d.path, sizeBytes: SIM_SNAPSHOT_DISK_BYTES })),
    };
  }

  async revertDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    await this.host.enter('revertDisks', uuid);
    const dom = this.#domain(uuid);
    if (dom && dom.state !== 'Shutoff' && dom.state !== 'Crashed') {
      throw new HypervisorError('InvalidState', 'the domain is running: stop it before reverting its disks', { operation: 'revertDisks', target: dom.uuid });
    }
    for (const d of disks) {
      if (!this.#byPath.get(d.path)?.has(name)) {
        throw new HypervisorError('SnapshotNotFound', `disk ${d.disk} (${d.path}) has no snapshot named ${name}`, { operation: 'revertDisks', target: d.path });
      }
    }
  }

  async deleteDiskSnapshots(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    await this.host.enter('deleteDiskSnapshots', uuid);
    for (const d of disks) this.#byPath.get(d.path)?.delete(name);
  }
}
