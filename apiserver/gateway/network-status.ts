/**
 * Network status.hosts.<node> from the agent's heartbeat (pure). The network controller
 * aggregates the entries into phase and the Ready condition; the gateway only writes the
 * reporting node's own entry, and only for a network assigned to that node (a `removed`
 * report drops the entry wherever it stands).
 */
import type { Network, NetworkHostStatus, NetworkStatus } from '../../api-types/generated/types.js';
import type { NetworkHostReport } from '../../api-types/proto/types.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { POOL_REPORT_REFRESH_MS } from './pool-status.js';
import { NO_CHANGE } from './writes.js';

/**
 * An unchanged entry is written again (for its lastReported) at most this often, as pool
 * entries are: heartbeats every 10 s must not each cost a write of the Network.
 */
export const NETWORK_REPORT_REFRESH_MS = POOL_REPORT_REFRESH_MS;

export function networkHostEntry(report: NetworkHostReport, now: Date): NetworkHostStatus {
  if (!report.name) throw errors.badRequest('networks[].name: required');
  const entry: NetworkHostStatus = { defined: report.defined, active: report.active };
  if (report.bridgeName) entry.bridgeName = report.bridgeName;
  if (report.dhcpRange) entry.dhcpRange = report.dhcpRange;
  if (report.message) entry.message = report.message;
  entry.lastReported = isoSeconds(now);
  return entry;
}

/** Everything but lastReported. */
function significant(e: NetworkHostStatus | undefined): string {
  if (!e) return '';
  return JSON.stringify([e.defined ?? false, e.active ?? false, e.bridgeName ?? '', e.dhcpRange ?? '', e.message ?? '']);
}

/** Whether `node` is one of the network's assigned nodes. */
export function networkAssignedTo(net: Network, node: string): boolean {
  return (net.spec?.assignedNodes ?? []).includes(node);
}

/**
 * The network status with this node's entry replaced (or removed), or NO_CHANGE: also when
 * the network is not assigned to the node (a report about it is not the node's to make), and
 * when only lastReported would move and the stored one is younger than the refresh period.
 */
export function networkStatusWithReport(net: Network, node: string, report: NetworkHostReport, now: Date): NetworkStatus | typeof NO_CHANGE {
  const old = net.status?.hosts?.[node];
  if (report.removed) {
    if (!old) return NO_CHANGE;
    const status: NetworkStatus = structuredClone(net.status ?? {});
    const hosts = { ...(status.hosts ?? {}) };
    delete hosts[node];
    status.hosts = hosts;
    return status;
  }
  if (!networkAssignedTo(net, node)) return NO_CHANGE;
  const entry = networkHostEntry(report, now);
  const stale = !old?.lastReported || now.getTime() - Date.parse(old.lastReported) >= NETWORK_REPORT_REFRESH_MS;
  if (old && significant(old) === significant(entry) && !stale) return NO_CHANGE;
  const status: NetworkStatus = structuredClone(net.status ?? {});
  status.hosts = { ...(status.hosts ?? {}), [node]: entry };
  return status;
}
