import type { Node } from '../../../api-types/generated/types.js';

export type Readiness = 'Ready' | 'NotReady' | 'Unknown';

/** The Ready condition as one word: Unknown when the node stopped heartbeating (or never reported). */
export function readinessOf(node: Node): Readiness {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready || ready.status === 'Unknown') return 'Unknown';
  return ready.status === 'True' ? 'Ready' : 'NotReady';
}
