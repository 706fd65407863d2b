/**
 * Pure view logic of an Image: its source as shown (URLs without credentials or query),
 * per-node import progress, the list's one-cell summary, failures and checksums.
 */
import type { Image, ImageNodeStatus } from '../../../api-types/generated/types.js';
import { formatBytesHuman } from '../../../api-types/quantity.js';
import { redactUrl } from '../../../api-types/url-redaction.js';

export { redactUrl };

/** The source in one line: the redacted URL, or `pool:path`. */
export function imageSourceText(img: Image): string {
  const src = img.spec.source;
  if (src?.url) return redactUrl(src.url);
  if (src?.pool || src?.path) return `${src.pool ?? '?'}:${src.path ?? '?'}`;
  return '—';
}

export interface ImportProgress {
  /** 0-100, or undefined while the total is unknown (an indeterminate bar). */
  percent: number | undefined;
  step: string;
  /** `Downloading 40% · 400Mi / 1Gi`, `Downloading · 12Mi` without a total. */
  text: string;
}

const clampPercent = (n: number) => Math.max(0, Math.min(100, Math.floor(n)));

/**
 * The progress of one node's import: the reported percent, else computed from the bytes
 * when the total is known; undefined when the node is not importing.
 */
export function progressOf(n: ImageNodeStatus | undefined): ImportProgress | undefined {
  if (n?.phase !== 'Importing') return undefined;
  const p = n.progress ?? {};
  const step = p.step || 'Importing';
  let percent: number | undefined;
  if (typeof p.percent === 'number' && Number.isFinite(p.percent)) percent = clampPercent(p.percent);
  else if (p.bytesTotal && p.bytesTotal > 0 && p.bytesDone !== undefined) percent = clampPercent((p.bytesDone / p.bytesTotal) * 100);
  const parts = [percent === undefined ? step : `${step} ${percent}%`];
  if (p.bytesDone !== undefined && p.bytesTotal) parts.push(`${formatBytesHuman(p.bytesDone)} / ${formatBytesHuman(p.bytesTotal)}`);
  else if (p.bytesDone !== undefined) parts.push(formatBytesHuman(p.bytesDone));
  return { percent, step, text: parts.join(' · ') };
}

/** `ChecksumMismatch: expected …, got …`; the message alone without a reason. */
export function failureText(n: ImageNodeStatus | undefined): string | undefined {
  if (!n || (n.phase !== 'Failed' && !n.reason)) return undefined;
  if (n.reason && n.message) return `${n.reason}: ${n.message}`;
  return n.reason ?? n.message ?? 'Failed';
}

export interface ImageNodeRow {
  node: string;
  /** In spec.nodeNames (imported ahead of time); otherwise imported because a VM there needs it. */
  wanted: boolean;
  status: ImageNodeStatus | undefined;
}

/** Every node the image is wanted on or reported by, sorted by name. */
export function imageNodeRows(img: Image): ImageNodeRow[] {
  const wanted = new Set(img.spec.nodeNames ?? []);
  const reported = img.status?.nodes ?? {};
  return [...new Set([...wanted, ...Object.keys(reported)])].sort().map((node) => ({ node, wanted: wanted.has(node), status: reported[node] }));
}

export type ImageSummary =
  | { kind: 'importing'; progress: ImportProgress; node: string; importing: number }
  | { kind: 'failed'; text: string; node: string }
  | { kind: 'ready'; ready: number; total: number }
  | { kind: 'none' };

/**
 * The list's progress cell: the least advanced import while any node imports (as
 * `kubectl get images` prints it), else the first failure, else Ready nodes of all.
 */
export function imageSummary(img: Image): ImageSummary {
  const rows = imageNodeRows(img).filter((r) => r.status);
  const importing = rows
    .map((r) => ({ node: r.node, progress: progressOf(r.status) }))
    .filter((r): r is { node: string; progress: ImportProgress } => r.progress !== undefined);
  if (importing.length > 0) {
    const slowest = importing.reduce((a, b) => ((b.progress.percent ?? -1) < (a.progress.percent ?? -1) ? b : a));
    return { kind: 'importing', progress: slowest.progress, node: slowest.node, importing: importing.length };
  }
  const failed = rows.find((r) => r.status?.phase === 'Failed');
  if (failed) return { kind: 'failed', text: failureText(failed.status) ?? 'Failed', node: failed.node };
  if (rows.length === 0) return { kind: 'none' };
  return { kind: 'ready', ready: rows.filter((r) => r.status?.phase === 'Ready').length, total: rows.length };
}

export type ChecksumState = 'verified' | 'mismatch' | 'unchecked' | 'pending' | 'none';

export interface Checksum {
  state: ChecksumState;
  /** The hash to show (the imported one, else the expected one). */
  sha256?: string;
  text: string;
}

/**
 * The checksum as one statement, for the image (`n` omitted: any node verified it) or one
 * node: verified against spec.source.sha256, refused as a mismatch, imported without an
 * expected value to check, or expected and not imported yet.
 */
export function checksumOf(img: Image, n?: ImageNodeStatus): Checksum {
  const expected = img.spec.source?.sha256;
  const nodes = n ? [n] : Object.values(img.status?.nodes ?? {});
  if (nodes.some((x) => x.reason === 'ChecksumMismatch')) return { state: 'mismatch', sha256: expected, text: 'checksum mismatch: the download was refused' };
  const verified = nodes.find((x) => x.verified);
  if (verified) return { state: 'verified', sha256: verified.sha256 ?? expected, text: 'verified against spec.source.sha256' };
  const imported = n ? n.sha256 : (img.status?.sha256 ?? nodes.find((x) => x.sha256)?.sha256);
  if (imported && !expected) return { state: 'unchecked', sha256: imported, text: 'not checked: no expected sha256 was given' };
  if (expected) return { state: 'pending', sha256: expected, text: 'expected; not verified yet' };
  return { state: 'none', text: 'no checksum given' };
}
