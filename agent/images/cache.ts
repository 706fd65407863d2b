/**
 * The node's image cache: imports the Images this node needs (a disk of a VM bound here
 * names it, or the Image's spec.nodeNames names this node) into a hidden directory of a
 * storage pool, reports each import's phase and progress (ReportImages), and removes the
 * cached copy once the Image is deleted (the image-in-use finalizer keeps it while any VM
 * uses it). Imports run in the background, at most MAX_CONCURRENT at a time; the work
 * queue only starts them and looks again.
 *
 * A cached copy is `<pool>/.quantix-images/<image>-<uid8>.qcow2`, with a `.json` sidecar
 * written after it (what was verified): a copy without its sidecar is from a cut-short run
 * and is imported again. An agent restart in the middle of a download resumes it (the
 * importer keeps the partial file and resumes with a range request).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Image, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import type { ImageNodeReport } from '../../api-types/proto/types.js';
import type { Init } from '../../api-types/proto/types.js';
import { redactUrl } from '../../api-types/url-redaction.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { HypervisorDriver } from '../hypervisor/driver.js';
import { isHypervisorError } from '../hypervisor/errors.js';
import { ImageImportError, isImageImportError } from './errors.js';
import { cleanupImport, importImage, type ImportImageResult } from './import.js';
import type { ImportProgress } from './progress.js';

export const CACHE_DIR = '.quantix-images';
export const MAX_CONCURRENT = 2;
/** Progress goes to the Image's status at most this often (each report is an etcd write). */
const PROGRESS_REPORT_MS = 2_000;
const RETRY_BASE_MS = 10_000;
const RETRY_MAX_MS = 5 * 60_000;

export type ImagePhase = 'Pending' | 'Importing' | 'Ready' | 'Failed';

/** What a VM's disk can learn about its image on this node. */
export type ImageAvailability =
  | { state: 'ready'; path: string; virtualSizeBytes: number; pool: string }
  | { state: 'waiting'; message: string }
  | { state: 'failed'; message: string };

interface Sidecar {
  uid: string;
  sha256: string;
  verified: boolean;
  virtualSizeBytes: number;
  fileBytes: number;
  sourceFormat: string;
}

interface ImageState {
  uid: string;
  phase: ImagePhase;
  pool: string;
  dir: string;
  fileName: string;
  progress?: ImportProgress;
  result?: Sidecar;
  error?: { reason: string; message: string };
  failures: number;
  nextTryAt: number;
  abort?: AbortController;
  /** What was last reported successfully (JSON), so an unchanged state is not sent again. */
  lastSent?: string;
  lastProgressSentAt: number;
  /** The report being sent (reports of one image go in order). */
  sending?: Promise<void>;
}

export interface DesiredView {
  images: ReadonlyMap<string, Image>;
  vms: ReadonlyMap<string, VirtualMachine>;
  pools: ReadonlyMap<string, StoragePool>;
}

export interface ImageCacheDeps {
  driver: HypervisorDriver;
  desired: DesiredView;
  report: (req: Init<{ images: ImageNodeReport[] }>) => Promise<unknown>;
  nodeName: () => string;
  /** Look at this image again after `delayMs` (an import finished or failed). */
  requeue: (name: string, delayMs?: number) => void;
  /** An image became ready (or failed) here: VMs waiting for it go on. */
  onSettled: (name: string) => void;
  now: () => number;
  log: Logger;
}

function retryDelay(failures: number): number {
  return Math.min(RETRY_BASE_MS * 2 ** Math.max(0, failures - 1), RETRY_MAX_MS);
}

export function cachedFileName(image: Image): string {
  return `${image.metadata.name}-${image.metadata.uid!.slice(0, 8)}.qcow2`;
}

/** The pool a node caches an image in: spec.storagePool, else the pool of the first disk here that needs it. */
export function cachePoolFor(image: Image, users: readonly VirtualMachine[]): string | undefined {
  if (image.spec.storagePool) return image.spec.storagePool;
  for (const vm of users) for (const d of vm.spec.disks ?? []) if (d.image === image.metadata.name) return d.storagePool;
  return undefined;
}

export class ImageCache {
  readonly #states = new Map<string, ImageState>();

  constructor(private readonly deps: ImageCacheDeps) {}

  /** Imports running on this node and how far they got (metrics). */
  imports(): { image: string; phase: string; bytesDone: number; bytesTotal?: number }[] {
    const out: { image: string; phase: string; bytesDone: number; bytesTotal?: number }[] = [];
    for (const [image, st] of this.#states) {
      if (st.phase !== 'Importing' || !st.progress) continue;
      out.push({
        image,
        phase: st.progress.phase,
        bytesDone: st.progress.bytesDone,
        ...(st.progress.bytesTotal !== undefined ? { bytesTotal: st.progress.bytesTotal } : {}),
      });
    }
    return out;
  }

  known(): Iterable<string> {
    return [...this.#states.keys()];
  }

  /** VMs bound here (not being deleted) with a disk from this image. */
  #users(name: string): VirtualMachine[] {
    return [...this.deps.desired.vms.values()].filter((vm) => !vm.metadata.deletionTimestamp && (vm.spec.disks ?? []).some((d) => d.image === name));
  }

  availability(name: string): ImageAvailability {
    const node = this.deps.nodeName();
    const image = this.deps.desired.images.get(name);
    if (!image) return { state: 'failed', message: `Image "${name}" does not exist` };
    if (image.metadata.deletionTimestamp && !this.#states.get(name)?.result) return { state: 'failed', message: `Image "${name}" is being deleted` };
    const st = this.#states.get(name);
    if (!st || st.uid !== image.metadata.uid) return { state: 'waiting', message: `Image "${name}" is not imported on node ${node} yet` };
    switch (st.phase) {
      case 'Ready':
        return { state: 'ready', path: path.join(st.dir, st.fileName), virtualSizeBytes: st.result!.virtualSizeBytes, pool: st.pool };
      case 'Failed':
        return { state: 'failed', message: `Image "${name}" failed to import on node ${node}: ${st.error?.reason}: ${st.error?.message}` };
      case 'Importing':
        // No percent: every change of this message is a write of each waiting VM's status.
        return { state: 'waiting', message: `waiting for Image "${name}": importing on node ${node} (progress in the Image's status)` };
      default:
        return { state: 'waiting', message: `waiting for Image "${name}" on node ${node}: ${st.error?.message ?? 'import pending'}` };
    }
  }

  async sync(name: string): Promise<number | undefined> {
    const image = this.deps.desired.images.get(name);
    const st = this.#states.get(name);
    if (!image || (st && st.uid !== image.metadata.uid)) {
      // Deleted (or deleted and re-created): abandon the import, remove the cached copy —
      // unless a VM here still has a disk from it (overlays read it; the image-in-use
      // finalizer normally prevents this, but not if the Image went before it was added).
      if (st && this.#referencedHere(name)) {
        if (!image) return 30_000;
      } else if (st) await this.#remove(name, st);
      if (!image) return undefined;
    }
    const users = this.#users(name);
    const wanted = users.length > 0 || (image.spec.nodeNames ?? []).includes(this.deps.nodeName());
    const current = this.#states.get(name);
    if (!wanted && !current) return undefined;
    if (current?.phase === 'Ready' || current?.phase === 'Importing') return this.#sendState(name, current);
    if (!wanted && current) {
      // Nobody here needs it any more and there is no complete copy: stop trying, and take
      // this node's (Pending or Failed) entry out of the Image's status.
      await this.#remove(name, current);
      await this.#send(name, { ...this.#entry(name, current), removed: true });
      return undefined;
    }

    const poolName = current?.pool ?? cachePoolFor(image, users);
    if (!poolName) return undefined;
    const pool = await this.#poolDir(poolName);
    const state: ImageState = current ?? {
      uid: image.metadata.uid!,
      phase: 'Pending',
      pool: poolName,
      dir: '',
      fileName: cachedFileName(image),
      failures: 0,
      nextTryAt: 0,
      lastProgressSentAt: 0,
    };
    this.#states.set(name, state);
    if ('waiting' in pool) {
      state.phase = 'Pending';
      state.error = { reason: 'PoolNotReady', message: pool.waiting };
      await this.#sendState(name, state);
      return 5_000;
    }
    state.dir = path.join(pool.dir, CACHE_DIR);

    // A complete copy from before (an agent restart): ready without importing again.
    const done = await this.#readSidecar(state);
    if (done) {
      state.phase = 'Ready';
      state.result = done;
      state.error = undefined;
      this.deps.onSettled(name);
      return this.#sendState(name, state);
    }
    const now = this.deps.now();
    if (state.phase === 'Failed' && state.nextTryAt > now) return state.nextTryAt - now;
    if (this.#running() >= MAX_CONCURRENT) {
      state.phase = 'Pending';
      state.error = { reason: 'Queued', message: `waiting for other imports on node ${this.deps.nodeName()} to finish` };
      await this.#sendState(name, state);
      return 2_000;
    }
    this.#start(name, image, state);
    return undefined;
  }

  #running(): number {
    return [...this.#states.values()].filter((s) => s.phase === 'Importing').length;
  }

  async #poolDir(pool: string): Promise<{ dir: string } | { waiting: string }> {
    const node = this.deps.nodeName();
    if (!this.deps.desired.pools.has(pool)) return { waiting: `storage pool ${pool} is not assigned to node ${node}` };
    try {
      const info = await this.deps.driver.getPool(pool);
      if (info.state !== 'Running' && info.state !== 'Degraded') return { waiting: `storage pool ${pool} is not running on node ${node} (${info.state})` };
      return { dir: info.targetPath };
    } catch (err) {
      if (isHypervisorError(err, 'PoolNotFound')) return { waiting: `storage pool ${pool} is not defined on node ${node} yet` };
      throw err;
    }
  }

  async #readSidecar(state: ImageState): Promise<Sidecar | undefined> {
    const file = path.join(state.dir, state.fileName);
    if (!existsSync(file)) return undefined;
    try {
      const side = JSON.parse(await readFile(`${file}.json`, 'utf8')) as Sidecar;
      if (side.uid === state.uid) return side;
    } catch {
      // No sidecar: the run that wrote the copy was cut short before recording it.
    }
    await rm(file, { force: true });
    return undefined;
  }

  #start(name: string, image: Image, state: ImageState): void {
    const abort = new AbortController();
    state.phase = 'Importing';
    state.abort = abort;
    state.error = undefined;
    state.progress = { phase: 'Downloading', bytesDone: 0 };
    const src = image.spec.source;
    const source = src.url ? { url: src.url } : { filePath: '' };
    const where = src.url ? redactUrl(src.url) : `${src.pool}:${src.path}`;
    this.deps.log.info('image import started', { image: name, source: where, pool: state.pool });
    void this.#sendState(name, state);
    const run = async (): Promise<ImportImageResult> => {
      await mkdir(state.dir, { recursive: true });
      if ('filePath' in source) source.filePath = await this.#poolFile(src.pool!, src.path!);
      return importImage({
        source,
        sha256: src.sha256,
        format: image.spec.format,
        destDir: state.dir,
        destName: state.fileName,
        signal: abort.signal,
        onProgress: (p) => {
          state.progress = p;
          const now = this.deps.now();
          if (now - state.lastProgressSentAt >= PROGRESS_REPORT_MS) {
            state.lastProgressSentAt = now;
            void this.#sendState(name, state);
          }
        },
      });
    };
    run()
      .then(async (r) => {
        if (this.#states.get(name) !== state) return; // deleted meanwhile: #remove cleaned up
        const side: Sidecar = {
          uid: state.uid,
          sha256: r.sha256,
          verified: Boolean(src.sha256),
          virtualSizeBytes: r.sizeBytes,
          fileBytes: r.fileBytes,
          sourceFormat: r.sourceFormat,
        };
        const file = path.join(state.dir, state.fileName);
        await writeFile(`${file}.json.tmp`, JSON.stringify(side), { mode: 0o644 });
        await rename(`${file}.json.tmp`, `${file}.json`);
        state.phase = 'Ready';
        state.result = side;
        state.failures = 0;
        state.abort = undefined;
        this.deps.log.info('image import finished', { image: name, path: file, virtualSizeBytes: r.sizeBytes, resumed: r.resumed });
        await this.#sendState(name, state);
        this.deps.onSettled(name);
      })
      // A failure of the import, or of recording it (the sidecar on a full disk): Failed.
      .catch(async (err: unknown) => {
        if (this.#states.get(name) !== state) return;
        state.abort = undefined;
        const reason = isImageImportError(err) ? err.reason : 'ImportFailed';
        const message = err instanceof Error ? err.message : String(err);
        state.failures++;
        // A failure that the same source will give again (a checksum mismatch, a 404, not a
        // disk image) is retried rarely: the file on the server may still be fixed.
        const retryable = isImageImportError(err) ? err.retryable : true;
        const delay = retryable ? retryDelay(state.failures) : RETRY_MAX_MS;
        state.nextTryAt = this.deps.now() + delay;
        state.phase = 'Failed';
        state.error = { reason, message };
        state.progress = undefined;
        this.deps.log.warn('image import failed', { image: name, reason, error: message, retryInMs: delay });
        await this.#sendState(name, state);
        this.deps.onSettled(name);
        this.deps.requeue(name, delay);
      });
  }

  /** Whether a VM bound here (being deleted or not) has a disk from this image. */
  #referencedHere(name: string): boolean {
    return [...this.deps.desired.vms.values()].some((vm) => (vm.spec.disks ?? []).some((d) => d.image === name));
  }

  /** The absolute path of a file inside a pool on this host (refusing paths that leave it). */
  async #poolFile(pool: string, rel: string): Promise<string> {
    const dir = await this.#poolDir(pool);
    if ('waiting' in dir) throw new Error(dir.waiting);
    // Through symlinks too: the file must really be inside the pool, and not in the cache.
    const root = await realpath(dir.dir);
    let resolved: string;
    try {
      resolved = await realpath(path.resolve(dir.dir, rel));
    } catch {
      throw new ImageImportError('SourceNotFound', `spec.source.path ${rel}: no such file in pool ${pool}`, { path: rel });
    }
    const inside = resolved.startsWith(`${root}${path.sep}`);
    if (!inside || resolved.startsWith(`${path.join(root, CACHE_DIR)}${path.sep}`)) {
      throw new ImageImportError('InvalidRequest', `spec.source.path ${rel} is not a file of pool ${pool} (it leaves the pool, or is in its image cache)`, {
        path: rel,
      });
    }
    return resolved;
  }

  async #remove(name: string, st: ImageState): Promise<void> {
    st.abort?.abort();
    this.#states.delete(name);
    if (!st.dir) return;
    const file = path.join(st.dir, st.fileName);
    await rm(file, { force: true });
    await rm(`${file}.json`, { force: true });
    await cleanupImport({ destDir: st.dir, destName: st.fileName }).catch(() => undefined);
    this.deps.log.info('image removed from the node cache', { image: name, path: file });
  }

  #entry(name: string, st: ImageState): ImageNodeReport {
    const p = st.phase === 'Importing' ? st.progress : undefined;
    const r = st.phase === 'Ready' ? st.result : undefined;
    return {
      name,
      uid: st.uid,
      phase: st.phase,
      step: p?.phase ?? '',
      bytesDone: p?.bytesDone ?? 0,
      bytesTotal: p?.bytesTotal ?? 0,
      percent: p?.percent ?? 0,
      pool: st.pool,
      path: r ? path.join(st.dir, st.fileName) : '',
      virtualSizeBytes: r?.virtualSizeBytes ?? 0,
      fileBytes: r?.fileBytes ?? 0,
      sourceFormat: r?.sourceFormat ?? '',
      sha256: r?.sha256 ?? '',
      verified: r?.verified ?? false,
      message: st.error?.message ?? '',
      reason: st.error?.reason ?? '',
      removed: false,
    };
  }

  /**
   * Reports the state when it differs from what was last reported; never throws. Reports of
   * one image go one at a time, in order, so a slow progress report never lands after the
   * final one. A report not applied is sent again on the next sync.
   */
  #sendState(name: string, st: ImageState): Promise<undefined> {
    st.sending = (st.sending ?? Promise.resolve()).then(async () => {
      const entry = this.#entry(name, st);
      const json = JSON.stringify(entry);
      if (json === st.lastSent) return;
      if (await this.#send(name, entry)) st.lastSent = json;
    });
    return st.sending.then(() => undefined);
  }

  async #send(name: string, entry: ImageNodeReport): Promise<boolean> {
    try {
      const ack = (await this.deps.report({ images: [entry] })) as { rejected?: { reason?: string; message?: string }[] } | undefined;
      const refused = ack?.rejected?.[0];
      if (refused) this.deps.log.debug('image report refused; sent again on the next sync', { image: name, reason: refused.reason, error: refused.message });
      return !refused;
    } catch (err) {
      this.deps.log.debug('image report failed; sent again on the next sync', { image: name, error: (err as Error).message });
      return false;
    }
  }
}
