/**
 * Resuming an interrupted download (pure): what to ask the server, and what its answer means.
 *
 * An import downloads into `.<destName>.part`; the sidecar `.<destName>.part.json` (a
 * `PartState`) records which source the bytes came from and the server's validators. After
 * a restart the download continues with `Range: bytes=N-` only when
 * - the sidecar names the same source (a hash of the whole URL, credentials included, so no
 *   credential is written to disk) and the same expected checksum, and
 * - something guards against mixing two versions of the file: a strong ETag or a
 *   Last-Modified date, sent as `If-Range` (a server whose file changed answers 200 with the
 *   whole new file), or, failing both, the expected SHA-256 (a mixed file fails the check and
 *   the next import starts over).
 * Otherwise it starts from 0. The answer is used only when it is exactly what was asked for:
 * 206 with a Content-Range starting at N, or 416 with `bytes *∕N` (the .part was already
 * whole); 200 means start over with this body; any other 206/416 means ask again without Range.
 */
import { createHash } from 'node:crypto';

export interface PartState {
  version: 1;
  /** SHA-256 of the source URL as given (see `sourceKey`). */
  source: string;
  /** The expected SHA-256 when the import declared one. */
  expectedSha256?: string;
  etag?: string;
  lastModified?: string;
  /** The whole file's length, when the server said it. */
  totalBytes?: number;
  /** The .part holds the whole file (the body ended at totalBytes, or without a length at the end of the stream). */
  complete?: boolean;
  /** Written just before the converted image is linked under its final name (see import.ts). */
  imported?: ImportedRecord;
}

/** What a finished import produced: lets a restart that finds the final file finish the clean-up instead of refusing it. */
export interface ImportedRecord {
  /** Inode of the converted file: the final name is a hard link to it. */
  ino: number;
  sha256: string;
  sourceFormat: 'qcow2' | 'raw';
  sizeBytes: number;
  fileBytes: number;
}

/** The key that ties a .part to its source: a hash, so credentials in a URL are never written to disk. */
export function sourceKey(source: string): string {
  return createHash('sha256').update(source).digest('hex');
}

/** Reads a sidecar's text; anything unexpected means "no usable state". */
export function parsePartState(text: string | undefined): PartState | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<PartState>;
    if (value?.version !== 1 || typeof value.source !== 'string') return undefined;
    return value as PartState;
  } catch {
    return undefined;
  }
}

/** A weak ETag (`W/"…"`) must not be used in If-Range (RFC 9110 13.1.5). */
export function isStrongEtag(etag: string | undefined): etag is string {
  return etag !== undefined && etag !== '' && !etag.startsWith('W/');
}

export type ResumePlan =
  /** Start from byte 0 (discarding any .part); `reason` says why when a .part was there. */
  | { offset: 0; reason?: string }
  /** Continue at `offset`; send `If-Range: ifRange` when set. `complete`: nothing left to fetch. */
  | { offset: number; ifRange?: string; complete?: boolean };

export function planResume(partBytes: number | undefined, state: PartState | undefined, want: { source: string; expectedSha256?: string }): ResumePlan {
  if (!partBytes) return { offset: 0 };
  if (!state) return { offset: 0, reason: 'no record of where the partial download came from' };
  if (state.source !== want.source) return { offset: 0, reason: 'the partial download came from another URL' };
  if ((state.expectedSha256 ?? '') !== (want.expectedSha256 ?? '')) return { offset: 0, reason: 'the partial download was for another checksum' };
  if (state.totalBytes !== undefined && partBytes > state.totalBytes) return { offset: 0, reason: 'the partial download is longer than the file' };
  if (state.complete && (state.totalBytes === undefined || partBytes === state.totalBytes)) return { offset: partBytes, complete: true };
  const ifRange = isStrongEtag(state.etag) ? state.etag : state.lastModified;
  if (ifRange) return { offset: partBytes, ifRange };
  if (want.expectedSha256) return { offset: partBytes };
  return { offset: 0, reason: 'the server gave no ETag or Last-Modified and no checksum is declared, so a resumed file could mix two versions' };
}

/** The request headers for a plan. */
export function rangeHeaders(plan: ResumePlan): Record<string, string> {
  if (plan.offset === 0) return {};
  const headers: Record<string, string> = { range: `bytes=${plan.offset}-` };
  if ('ifRange' in plan && plan.ifRange) headers['if-range'] = plan.ifRange;
  return headers;
}

export type ContentRange = { start: number; end: number; total?: number } | { unsatisfied: true; total: number };

/** `bytes 100-199/1000`, `bytes 100-199/*`, `bytes *∕1000`. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (!value) return undefined;
  const unsatisfied = /^bytes \*\/(\d+)$/i.exec(value.trim());
  if (unsatisfied) return { unsatisfied: true, total: Number(unsatisfied[1]) };
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

export type ResponseDecision =
  /** Append the body to the .part (a 206 for exactly the asked range). */
  | { action: 'append'; totalBytes?: number }
  /** Write the body from byte 0 (a 200: the server ignored Range, or If-Range did not match). */
  | { action: 'fromZero'; totalBytes?: number }
  /** The .part already holds the whole file (416 `bytes *∕N` for N = the .part's length). */
  | { action: 'complete' }
  /** The answer is not the asked range: ask again without Range. */
  | { action: 'retryWithoutRange'; reason: string }
  /** An HTTP error (or an unexpected status). */
  | { action: 'httpError' };

export function decideResponse(offset: number, status: number, headers: { contentRange?: string; contentLength?: string }): ResponseDecision {
  const length = headers.contentLength !== undefined && /^\d+$/.test(headers.contentLength) ? Number(headers.contentLength) : undefined;
  if (status === 200) return { action: 'fromZero', totalBytes: length };
  if (status === 206) {
    const range = parseContentRange(headers.contentRange);
    if (!range || 'unsatisfied' in range) return { action: 'retryWithoutRange', reason: `206 with an unusable Content-Range "${headers.contentRange ?? ''}"` };
    if (range.start !== offset) return { action: 'retryWithoutRange', reason: `206 for bytes ${range.start}- instead of ${offset}-` };
    // An open-ended request must get the rest of the file, not a part of it.
    if (range.total !== undefined && range.end + 1 !== range.total) {
      return { action: 'retryWithoutRange', reason: `206 for bytes ${range.start}-${range.end} of ${range.total}, not the rest of the file` };
    }
    return offset === 0 ? { action: 'fromZero', totalBytes: range.total } : { action: 'append', totalBytes: range.total };
  }
  if (status === 416 && offset > 0) {
    const range = parseContentRange(headers.contentRange);
    if (range && 'unsatisfied' in range && range.total === offset) return { action: 'complete' };
    return { action: 'retryWithoutRange', reason: `416 for bytes=${offset}-` };
  }
  return { action: 'httpError' };
}
