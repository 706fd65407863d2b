/**
 * The image controller's reconcile as a pure function: an Image, its per-node reports
 * (status.nodes, written by the node gateway) and the VMs whose disks name it → aggregate
 * phase, size and checksum, usedBy, Ready and InUse conditions; reports of deleted nodes dropped. Apart: the image-in-use
 * finalizer (planImageFinalizer) and the import Events from a report change (importEvents).
 *
 *   phase — Failed: a node failed to import it; Ready: some node has it and none failed;
 *           Importing: some node is importing; Pending: otherwise.
 */
import { IMAGE_IN_USE_FINALIZER } from '../../api-types/finalizers.js';
import type { Image, ImageNodeStatus, ImagePhase, ImageStatus } from '../../api-types/generated/types.js';
import { redactUrl } from '../../api-types/url-redaction.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import type { EventSpec } from '../runtime/events.js';

export interface ImagePlan {
  status: ImageStatus;
  events: EventSpec[];
}

/** At most this many VM names in a message (the count says the rest). */
const NAMES_SHOWN = 10;

export function namesList(names: readonly string[]): string {
  const shown = names.slice(0, NAMES_SHOWN).join(', ');
  return names.length > NAMES_SHOWN ? `${shown} and ${names.length - NAMES_SHOWN} more` : shown;
}

export function aggregatePhase(nodes: readonly ImageNodeStatus[]): ImagePhase {
  if (nodes.some((n) => n.phase === 'Failed')) return 'Failed';
  if (nodes.some((n) => n.phase === 'Ready')) return 'Ready';
  if (nodes.some((n) => n.phase === 'Importing')) return 'Importing';
  return 'Pending';
}

/**
 * `existingNodes`: the cluster's nodes. A report of a node that no longer exists (deleted, its
 * cached copy gone with it) is dropped, so the image is not Ready or Failed on its account.
 * Undefined: keep every report.
 */
export function planImage(image: Image, usedBy: readonly string[], nowMs: number, existingNodes?: ReadonlySet<string>): ImagePlan {
  const now = isoSeconds(new Date(nowMs));
  const status: ImageStatus = structuredClone(image.status ?? {});
  const events: EventSpec[] = [];
  if (existingNodes && status.nodes) {
    for (const node of Object.keys(status.nodes)) if (!existingNodes.has(node)) delete status.nodes[node];
  }
  const nodes = Object.entries(status.nodes ?? {});
  const phase = aggregatePhase(nodes.map(([, n]) => n));
  status.phase = phase;
  const ready = nodes.find(([, n]) => n.phase === 'Ready' && n.virtualSizeBytes !== undefined)?.[1];
  if (ready?.virtualSizeBytes !== undefined) status.virtualSizeBytes = ready.virtualSizeBytes;
  if (ready?.sha256) status.sha256 = ready.sha256;
  const sortedUsers = [...usedBy].sort();
  if (sortedUsers.length > 0) status.usedBy = sortedUsers;
  else delete status.usedBy;

  const failed = nodes.filter(([, n]) => n.phase === 'Failed').map(([name, n]) => `${name}: ${n.reason ? `${n.reason}: ` : ''}${n.message ?? 'failed'}`);
  const readyOn = nodes.filter(([, n]) => n.phase === 'Ready').map(([name]) => name);
  // No percent: the condition would be rewritten at every step (status.nodes has the progress).
  const importing = nodes.filter(([, n]) => n.phase === 'Importing').map(([name]) => name);
  const message =
    phase === 'Failed'
      ? `import failed on ${failed.join('; ')}`
      : phase === 'Ready'
        ? `ready on ${readyOn.join(', ')}`
        : phase === 'Importing'
          ? `importing on ${importing.join(', ')}`
          : 'no node has imported it yet: nodes import it when a VM there needs it (or when spec.nodeNames names them)';
  status.conditions = setCondition(status.conditions, { type: 'Ready', status: phase === 'Ready' ? 'True' : 'False', reason: phase, message }, now);
  if (image.metadata.deletionTimestamp && sortedUsers.length > 0) {
    const m = `deletion waits until no VM uses the image; used by ${namesList(sortedUsers)}`;
    status.conditions = setCondition(status.conditions, { type: 'InUse', status: 'True', reason: 'DeletionBlocked', message: m }, now);
    const before = image.status?.conditions?.find((c) => c.type === 'InUse');
    if (before?.reason !== 'DeletionBlocked' || before.message !== m) events.push({ type: 'Warning', reason: 'DeletionBlocked', message: m });
  } else {
    status.conditions = setCondition(
      status.conditions,
      sortedUsers.length > 0
        ? { type: 'InUse', status: 'True', reason: 'UsedByVMs', message: `used by ${namesList(sortedUsers)}` }
        : { type: 'InUse', status: 'False', reason: 'Unused', message: 'no VM uses the image' },
      now,
    );
  }
  status.observedGeneration = image.metadata.generation ?? status.observedGeneration;
  return { status, events };
}

/** The image-in-use finalizer list to write, or undefined when it is right (as planPoolFinalizer). */
export function planImageFinalizer(image: Image, usedBy: readonly string[]): string[] | undefined {
  const finalizers = image.metadata.finalizers ?? [];
  const has = finalizers.includes(IMAGE_IN_USE_FINALIZER);
  if (usedBy.length > 0 && !has && !image.metadata.deletionTimestamp) return [...finalizers, IMAGE_IN_USE_FINALIZER];
  if (usedBy.length === 0 && has) return finalizers.filter((f) => f !== IMAGE_IN_USE_FINALIZER);
  return undefined;
}

function sourceText(image: Image): string {
  const src = image.spec?.source;
  if (src?.url) return redactUrl(src.url);
  return `${src?.pool ?? ''}:${src?.path ?? ''}`;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Events for the per-node phase changes between two versions of an Image (import started, finished, failed). */
export function importEvents(old: Image | undefined, image: Image): EventSpec[] {
  const events: EventSpec[] = [];
  const before = old?.status?.nodes ?? {};
  for (const [node, n] of Object.entries(image.status?.nodes ?? {})) {
    const was = before[node]?.phase;
    if (was === n.phase) continue;
    const src = sourceText(image);
    if (n.phase === 'Importing') events.push({ type: 'Normal', reason: 'ImportStarted', message: `node ${node}: importing ${src} into pool ${n.pool ?? '?'}` });
    else if (n.phase === 'Ready')
      events.push({
        type: 'Normal',
        reason: 'ImportSucceeded',
        message: `node ${node}: imported ${src} (${n.sourceFormat ?? '?'}, virtual size ${mib(n.virtualSizeBytes)}${n.verified ? ', sha256 verified' : ''}) to ${n.path ?? '?'}`,
      });
    else if (n.phase === 'Failed')
      events.push({ type: 'Warning', reason: 'ImportFailed', message: `node ${node}: ${n.reason ? `${n.reason}: ` : ''}${n.message ?? 'import failed'}` });
  }
  return events;
}
