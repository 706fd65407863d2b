/**
 * The VM table's filters, kept in the URL (shareable): namespace, phase, node, a label
 * selector (`app=web,tier!=db,env`), and a free-text name search.
 */
import type { VirtualMachine } from '../../../api-types/generated/types.js';

export interface VmFilters {
  namespace: string;
  phase: string;
  node: string;
  labels: string;
  q: string;
}

const KEYS = ['namespace', 'phase', 'node', 'labels', 'q'] as const;

export function filtersFromParams(params: URLSearchParams): VmFilters {
  return {
    namespace: params.get('namespace') ?? '',
    phase: params.get('phase') ?? '',
    node: params.get('node') ?? '',
    labels: params.get('labels') ?? '',
    q: params.get('q') ?? '',
  };
}

/** `params` with the filters set (empty ones removed), other parameters kept. */
export function paramsWithFilters(params: URLSearchParams, filters: Partial<VmFilters>): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const key of KEYS) {
    if (!(key in filters)) continue;
    const value = filters[key];
    if (value) next.set(key, value);
    else next.delete(key);
  }
  return next;
}

export type LabelRequirement = { key: string; op: '=' | '!=' | 'exists' | '!exists'; value?: string };

/** Parses an equality-based label selector; throws on a malformed term. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  for (const raw of text.split(',')) {
    const term = raw.trim();
    if (!term) continue;
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(term);
    if (m) {
      out.push({ key: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]! });
      continue;
    }
    const bare = /^(!?)([^=!\s]+)$/.exec(term);
    if (!bare) throw new Error(`invalid label selector term "${term}"`);
    out.push({ key: bare[2]!, op: bare[1] ? '!exists' : 'exists' });
  }
  return out;
}

export function matchesLabels(labels: Record<string, string> | undefined, reqs: readonly LabelRequirement[]): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case '=':
        return has && l[r.key] === r.value;
      case '!=':
        return !has || l[r.key] !== r.value;
      case 'exists':
        return has;
      case '!exists':
        return !has;
      default:
        return r.op satisfies never;
    }
  });
}

/** The node a VM is on (observed) or bound to (spec). */
export function vmNode(vm: VirtualMachine): string {
  return vm.status?.nodeName ?? vm.spec.nodeName ?? '';
}

/** A predicate for the filters, or the reason the label selector is invalid. */
export function vmPredicate(filters: VmFilters): { test: (vm: VirtualMachine) => boolean; error?: string } {
  let reqs: LabelRequirement[] = [];
  let error: string | undefined;
  try {
    reqs = parseLabelSelector(filters.labels);
  } catch (err) {
    error = (err as Error).message;
  }
  const q = filters.q.trim().toLowerCase();
  return {
    error,
    test: (vm) =>
      (!filters.namespace || vm.metadata.namespace === filters.namespace) &&
      (!filters.phase || (vm.status?.phase ?? 'Pending') === filters.phase) &&
      (!filters.node || vmNode(vm) === filters.node) &&
      (!q || (vm.metadata.name ?? '').toLowerCase().includes(q)) &&
      matchesLabels(vm.metadata.labels, reqs),
  };
}
