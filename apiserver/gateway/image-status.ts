/**
 * Image status.nodes.<node> from agent reports (pure). The image controller aggregates the
 * entries into the phase and records the import Events; the gateway only writes its node's
 * entry, and only for the Image the agent looked at (same uid).
 */
import type { Image, ImageNodePhase, ImageNodeStatus, ImageStatus } from '../../api-types/generated/types.js';
import type { ImageNodeReport } from '../../api-types/proto/types.js';
import { IMAGE_NODE_PHASES } from '../../api-types/schema/image.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { NO_CHANGE } from './writes.js';

const PHASES: ReadonlySet<string> = new Set(IMAGE_NODE_PHASES);

export function imageNodeEntry(report: ImageNodeReport, now: Date): ImageNodeStatus {
  if (!PHASES.has(report.phase)) throw errors.badRequest(`image ${report.name}: phase "${report.phase}" is not one of ${IMAGE_NODE_PHASES.join(', ')}`);
  const n = (v: number) => Math.max(0, Math.floor(v));
  const entry: ImageNodeStatus = { phase: report.phase as ImageNodePhase };
  if (report.phase === 'Importing') {
    entry.progress = { step: report.step || 'Downloading', bytesDone: n(report.bytesDone) };
    if (report.bytesTotal > 0) {
      entry.progress.bytesTotal = n(report.bytesTotal);
      entry.progress.percent = Math.min(100, n(report.percent));
    }
  }
  if (report.pool) entry.pool = report.pool;
  if (report.path) entry.path = report.path;
  if (report.virtualSizeBytes > 0) entry.virtualSizeBytes = n(report.virtualSizeBytes);
  if (report.fileBytes > 0) entry.fileBytes = n(report.fileBytes);
  if (report.sourceFormat) entry.sourceFormat = report.sourceFormat;
  if (report.sha256) entry.sha256 = report.sha256;
  if (report.phase === 'Ready') entry.verified = report.verified;
  if (report.message) entry.message = report.message;
  if (report.reason) entry.reason = report.reason;
  entry.lastUpdated = isoSeconds(now);
  return entry;
}

function significant(e: ImageNodeStatus | undefined): string {
  if (!e) return '';
  const { lastUpdated: _t, ...rest } = e;
  return JSON.stringify(rest);
}

/** The image status with this node's entry replaced (or removed), or NO_CHANGE. */
export function imageStatusWithReport(image: Image, node: string, report: ImageNodeReport, now: Date): ImageStatus | typeof NO_CHANGE {
  const status: ImageStatus = structuredClone(image.status ?? {});
  const old = status.nodes?.[node];
  if (report.removed) {
    if (!old) return NO_CHANGE;
    const nodes = { ...(status.nodes ?? {}) };
    delete nodes[node];
    status.nodes = nodes;
    return status;
  }
  const entry = imageNodeEntry(report, now);
  if (old && significant(old) === significant(entry)) return NO_CHANGE;
  status.nodes = { ...(status.nodes ?? {}), [node]: entry };
  return status;
}
