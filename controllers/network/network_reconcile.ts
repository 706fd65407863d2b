/**
 * The network controller's reconcile as a pure function: a Network and its per-host reports
 * (status.hosts, written by the node gateway from heartbeats) → aggregate phase, a Ready
 * condition, and events on phase changes. Sub-reconcilers, in order:
 *
 *   1. hosts     — drop entries of nodes no longer in spec.assignedNodes.
 *   2. phase     — Pending: no assigned host reported yet (or none assigned); Ready: active on
 *                  every assigned host; Degraded: active on some; Error: active on none while
 *                  hosts reported.
 *   3. condition — Ready True/False naming each assigned host where the network is not active
 *                  (with the host's message, e.g. why libvirt refused to start it);
 *                  observedGeneration.
 */
import type { Network, NetworkHostStatus, NetworkPhase, NetworkStatus } from '../../api-types/generated/types.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import type { EventSpec } from '../runtime/events.js';

export interface NetworkPlan {
  status: NetworkStatus;
  events: EventSpec[];
}

export function planNetwork(net: Network, nowMs: number): NetworkPlan {
  const now = new Date(nowMs).toISOString();
  const assigned = net.spec?.assignedNodes ?? [];
  const status: NetworkStatus = structuredClone(net.status ?? {});
  const events: EventSpec[] = [];

  // 1. hosts
  const hosts: Record<string, NetworkHostStatus> = {};
  for (const [name, h] of Object.entries(status.hosts ?? {})) if (assigned.includes(name)) hosts[name] = h;
  if (Object.keys(hosts).length || status.hosts) status.hosts = hosts;

  // 2. phase
  const reported = assigned.filter((n) => hosts[n] !== undefined);
  const active = reported.filter((n) => hosts[n]!.active === true);
  let phase: NetworkPhase;
  if (reported.length === 0) phase = 'Pending';
  else if (active.length === assigned.length) phase = 'Ready';
  else if (active.length > 0) phase = 'Degraded';
  else phase = 'Error';

  // 3. condition
  const problems = assigned.filter((n) => hosts[n]?.active !== true).map((n) => hostProblem(n, hosts[n]));
  const summary = `active on ${active.length}/${assigned.length} assigned nodes`;
  const message = assigned.length === 0 ? 'not assigned to any node' : phase === 'Ready' ? summary : `${summary}; ${problems.join('; ')}`;
  status.conditions = setCondition(status.conditions, { type: 'Ready', status: phase === 'Ready' ? 'True' : 'False', reason: phase, message }, now);
  status.phase = phase;
  status.observedGeneration = net.metadata.generation ?? status.observedGeneration;

  const before = net.status?.phase;
  if (before !== phase) {
    if (phase === 'Degraded') events.push({ type: 'Warning', reason: 'NetworkDegraded', message });
    else if (phase === 'Error') events.push({ type: 'Warning', reason: 'NetworkError', message });
    else if (phase === 'Ready' && before) events.push({ type: 'Normal', reason: 'NetworkReady', message });
  }
  return { status, events };
}

/** `n2: not active (internal error: …)`, `n3: not defined`, `n4: not reported`. */
function hostProblem(node: string, h: NetworkHostStatus | undefined): string {
  if (!h) return `${node}: not reported`;
  const what = h.defined ? 'not active' : 'not defined';
  return `${node}: ${what}${h.message ? ` (${h.message})` : ''}`;
}
