/**
 * Conditions (metav1.Condition / NodeCondition) as the controllers and the node gateway set
 * them: a condition's `lastTransitionTime` moves only when its status changes, so re-setting
 * the same condition changes nothing and writes nothing. Browser-safe.
 */

export interface ConditionLike {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export function getCondition<C extends ConditionLike>(conditions: readonly C[] | undefined, type: string): C | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * Returns `conditions` with `desired` set in full (others kept, order kept, new ones appended).
 * `now` becomes lastTransitionTime only when the status changes (or the condition is new).
 */
export function setCondition<C extends ConditionLike>(conditions: readonly C[] | undefined, desired: Omit<C, 'lastTransitionTime'>, now: string): C[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === desired.type);
  const old = i >= 0 ? list[i] : undefined;
  const next = {
    ...desired,
    lastTransitionTime: old && old.status === desired.status && old.lastTransitionTime ? old.lastTransitionTime : now,
  } as C;
  for (const k of Object.keys(next) as (keyof C)[]) if (next[k] === undefined) delete next[k];
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Drops the condition of `type` (returns the same content when absent). */
export function removeCondition<C extends ConditionLike>(conditions: readonly C[] | undefined, type: string): C[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
