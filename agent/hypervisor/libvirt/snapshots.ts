/**
 * Disk snapshots as internal qcow2 snapshots, one per disk file, all of the same name.
 *
 * Why internal qcow2 snapshots: the disks are qcow2 overlays on the node's cached image
 * (agent/images); an internal snapshot lives inside the overlay file itself, so there is no
 * chain of extra files to track, move or merge, deleting the VM's volumes deletes its
 * snapshots, and the shared cached image is never written (it is the overlay's read-only
 * backing file).
 *
 * - Domain not running: `qemu-img snapshot -c/-a/-d` on each file. qemu-img takes the
 *   image lock, so a file some QEMU still has open is refused instead of corrupted.
 * - Domain running: libvirt has no disk-only internal snapshots of a running domain (it
 *   wants external ones, or a full checkpoint with memory), so the snapshot goes to QEMU
 *   itself through libvirt's monitor passthrough (libvirt-qemu's virDomainQemuMonitorCommand,
 *   which marks the domain tainted "custom-monitor"): QMP `blockdev-snapshot-internal-sync`
 *   per disk node. Around it the guest file systems are frozen through the guest agent
 *   (virDomainFSFreeze) and always thawed (virDomainFSThaw), also when the snapshot fails;
 *   without an answering agent the snapshot is still taken and called crash-consistent.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { DiskSnapshotOutcome, DiskSnapshotTarget } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { normalizeUuid, uuidToBytes } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import { Procs, QemuProcs, type RemoteDomain } from './protocol.js';

/** libvirt domain states in which a QEMU process holds the disks (virDomainState). */
const STATE_SHUTOFF = 5;
const STATE_CRASHED = 6;

/** How long the freeze (and the thaw) may take: the guest flushes its caches. */
const FREEZE_TIMEOUT_MS = 30_000;
const QEMU_IMG_TIMEOUT_MS = 120_000;

export interface SnapshotDeps {
  conn: LibvirtConnection;
  /** The qemu-img binary (tests may point elsewhere). */
  qemuImg?: string;
}

function qemuImg(bin: string, args: string[], operation: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: QEMU_IMG_TIMEOUT_MS, killSignal: 'SIGKILL' });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (err = (err + t).slice(-4096)));
    child.on('error', (e) => reject(new HypervisorError('OperationFailed', `qemu-img: ${e.message}`, { operation, target })));
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      const line = err.trim().split('\n').filter(Boolean).pop() ?? `qemu-img exited with ${code}`;
      // The image lock: a QEMU still has the file open.
      const reason = /lock/i.test(line) ? 'InvalidState' : 'OperationFailed';
      reject(new HypervisorError(reason, `qemu-img ${args[0]} ${args.slice(1, -1).join(' ')}: ${line}`, { operation, target }));
    });
  });
}

async function allocatedBytes(path: string): Promise<number> {
  try {
    const s = await stat(path);
    return s.blocks * 512;
  } catch {
    return 0;
  }
}

export class LibvirtSnapshots {
  readonly #conn: LibvirtConnection;
  readonly #qemuImg: string;

  constructor(deps: SnapshotDeps) {
    this.#conn = deps.conn;
    this.#qemuImg = deps.qemuImg ?? 'qemu-img';
  }

  /** The domain and whether a QEMU process runs it; no domain counts as not running. */
  async #domain(uuid: string, operation: string): Promise<{ dom?: RemoteDomain; running: boolean }> {
    const u = normalizeUuid(uuid);
    let dom: RemoteDomain;
    try {
      dom = await this.#conn.call(Procs.domainLookupByUuid, { uuid: uuidToBytes(u) }, { operation, target: u });
    } catch (err) {
      if (err instanceof HypervisorError && err.reason === 'DomainNotFound') return { running: false };
      throw err;
    }
    const { state } = await this.#conn.call(Procs.domainGetState, { dom, flags: 0 }, { operation, target: u });
    return { dom, running: state !== STATE_SHUTOFF && state !== STATE_CRASHED };
  }

  async #qmp(dom: RemoteDomain, command: string, args: Record<string, unknown>, operation: string): Promise<unknown> {
    const answer = await this.#conn.call(
      QemuProcs.domainMonitorCommand,
      { dom, cmd: JSON.stringify({ execute: command, arguments: args }), flags: 0 },
      { operation },
    );
    const parsed = JSON.parse(answer) as { return?: unknown; error?: { class?: string; desc?: string } };
    if (parsed.error) {
      const desc = parsed.error.desc ?? 'QMP error';
      const reason = /already exists/i.test(desc) ? 'SnapshotExists' : /not found|can't find|cannot find/i.test(desc) ? 'SnapshotNotFound' : 'OperationFailed';
      throw new HypervisorError(reason, `${command}: ${desc}`, { operation });
    }
    return parsed.return;
  }

  /** QEMU's block node name of each disk file (query-block: the top node of the device's chain). */
  async #nodeNames(dom: RemoteDomain, disks: readonly DiskSnapshotTarget[], operation: string): Promise<Map<string, string>> {
    const blocks = (await this.#qmp(dom, 'query-block', {}, operation)) as {
      inserted?: { file?: string; 'node-name'?: string; image?: { filename?: string } };
    }[];
    const out = new Map<string, string>();
    for (const d of disks) {
      const b = blocks.find((x) => x.inserted && (x.inserted.file === d.path || x.inserted.image?.filename === d.path));
      const node = b?.inserted?.['node-name'];
      if (!node) throw new HypervisorError('VolumeNotFound', `disk ${d.disk}: ${d.path} is not open in the running domain`, { operation, target: d.path });
      out.set(d.disk, node);
    }
    return out;
  }

  async #snapshotNames(path: string, operation: string): Promise<string[]> {
    const info = JSON.parse(await qemuImg(this.#qemuImg, ['info', '--output=json', path], operation, path)) as { snapshots?: { name: string }[] };
    return (info.snapshots ?? []).map((s) => s.name);
  }

  async snapshotDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<DiskSnapshotOutcome> {
    const operation = 'snapshotDisks';
    const { dom, running } = await this.#domain(uuid, operation);
    if (!running || !dom) {
      for (const d of disks) {
        if ((await this.#snapshotNames(d.path, operation)).includes(name)) {
          throw new HypervisorError('SnapshotExists', `disk ${d.disk} (${d.path}) already has a snapshot named ${name}`, { operation, target: d.path });
        }
      }
      const done: DiskSnapshotTarget[] = [];
      try {
        for (const d of disks) {
          await qemuImg(this.#qemuImg, ['snapshot', '-c', name, d.path], operation, d.path);
          done.push(d);
        }
      } catch (err) {
        // All disks or none: a half-taken snapshot could not be restored consistently.
        for (const d of done) await qemuImg(this.#qemuImg, ['snapshot', '-d', name, d.path], operation, d.path).catch(() => undefined);
        throw err;
      }
      return { running: false, frozen: true, disks: await Promise.all(disks.map(async (d) => ({ ...d, sizeBytes: await allocatedBytes(d.path) }))) };
    }

    const nodes = await this.#nodeNames(dom, disks, operation);
    let frozen = false;
    let freezeMessage: string | undefined;
    try {
      await this.#conn.call(Procs.domainFsFreeze, { dom, mountpoints: [], flags: 0 }, { operation, timeoutMs: FREEZE_TIMEOUT_MS });
      frozen = true;
    } catch (err) {
      if (err instanceof HypervisorError && (err.reason === 'HypervisorUnavailable' || err.reason === 'DomainNotFound')) throw err;
      freezeMessage = err instanceof Error ? err.message : String(err);
    }
    const done: string[] = [];
    try {
      for (const d of disks) {
        await this.#qmp(dom, 'blockdev-snapshot-internal-sync', { device: nodes.get(d.disk), name }, operation);
        done.push(nodes.get(d.disk)!);
      }
    } catch (err) {
      for (const node of done) await this.#qmp(dom, 'blockdev-snapshot-delete-internal-sync', { device: node, name }, operation).catch(() => undefined);
      throw err;
    } finally {
      if (frozen) await this.#thaw(dom, operation);
    }
    return {
      running: true,
      frozen,
      ...(freezeMessage !== undefined ? { freezeMessage } : {}),
      disks: await Promise.all(disks.map(async (d) => ({ ...d, sizeBytes: await allocatedBytes(d.path) }))),
    };
  }

  /** Thaws, once more if the first try fails: a guest left frozen is a hung guest. */
  async #thaw(dom: RemoteDomain, operation: string): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.#conn.call(Procs.domainFsThaw, { dom, mountpoints: [], flags: 0 }, { operation, timeoutMs: FREEZE_TIMEOUT_MS });
        return;
      } catch (err) {
        if (attempt === 1) throw err;
      }
    }
  }

  async revertDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    const operation = 'revertDisks';
    const { running } = await this.#domain(uuid, operation);
    if (running) throw new HypervisorError('InvalidState', 'the domain is running: stop it before reverting its disks', { operation, target: uuid });
    for (const d of disks) {
      if (!(await this.#snapshotNames(d.path, operation)).includes(name)) {
        throw new HypervisorError('SnapshotNotFound', `disk ${d.disk} (${d.path}) has no snapshot named ${name}`, { operation, target: d.path });
      }
    }
    for (const d of disks) await qemuImg(this.#qemuImg, ['snapshot', '-a', name, d.path], operation, d.path);
  }

  async deleteDiskSnapshots(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    const operation = 'deleteDiskSnapshots';
    const { dom, running } = await this.#domain(uuid, operation);
    if (running && dom) {
      const nodes = await this.#nodeNames(dom, disks, operation);
      for (const d of disks) {
        try {
          await this.#qmp(dom, 'blockdev-snapshot-delete-internal-sync', { device: nodes.get(d.disk), name }, operation);
        } catch (err) {
          if (!(err instanceof HypervisorError && err.reason === 'SnapshotNotFound')) throw err;
        }
      }
      return;
    }
    for (const d of disks) {
      let names: string[];
      try {
        names = await this.#snapshotNames(d.path, operation);
      } catch (err) {
        // The disk file is gone (the VM's volumes were deleted): so is its snapshot.
        if (
          !(await stat(d.path).then(
            () => true,
            () => false,
          ))
        )
          continue;
        throw err;
      }
      if (names.includes(name)) await qemuImg(this.#qemuImg, ['snapshot', '-d', name, d.path], operation, d.path);
    }
  }
}
