import { useMemo } from 'react';
import { NODE_LEASE_NAMESPACE } from '../../../api-types/node-lease.js';
import { Link, useParams } from 'react-router';
import { Nodes, StoragePools, VirtualMachines } from '../api/resources.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { readinessOf } from '../model/node-ready.js';
import { usageByNode } from '../model/placement.js';
import { AccelBadge, TCG_EXPLANATION } from '../ui/AccelBadge.js';
import { bytes, LoadState, Phase, UsageBar, useNow } from '../ui/bits.js';
import { ConditionsTable, KeyValues, Labels } from '../ui/KeyValues.js';
import { VmBadges } from '../ui/VmBadges.js';
import { lastHeartbeatOf } from '../model/node-heartbeat.js';
import { CordonButton, FenceButton, Leases } from './NodeList.js';

export function NodeDetail() {
  const { name } = useParams();
  const nodes = useLiveList(Nodes);
  const vms = useLiveList(VirtualMachines);
  const pools = useLiveList(StoragePools);
  const leases = useLiveList(Leases).items;
  const now = useNow();
  const node = nodes.items.find((n) => n.metadata.name === name);
  const onNode = useMemo(
    () => vms.items.filter((v) => (v.status?.nodeName ?? v.spec.nodeName) === name).sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!)),
    [vms.items, name],
  );
  const nodePools = useMemo(() => pools.items.filter((p) => p.spec.assignedNodes?.includes(name!) || p.status?.hosts?.[name!]), [pools.items, name]);
  const usage = usageByNode(vms.items).get(name!) ?? { cpu: 0, memoryBytes: 0, vmCount: 0 };

  if (!nodes.synced || nodes.error?.isForbidden) return <LoadState synced={nodes.synced} error={nodes.error} />;
  if (!node)
    return (
      <div className="card">
        Node {name} is not registered. <Link to="/nodes">All nodes</Link>
      </div>
    );
  const s = node.status;
  const lastHeartbeat = lastHeartbeatOf(node, leases);
  const lease = leases.find((l) => l.metadata.namespace === NODE_LEASE_NAMESPACE && l.metadata.name === name);
  const alloc = s?.allocatable ?? s?.capacity ?? {};
  return (
    <section data-testid="node-detail">
      <div className="page-head">
        <h1>
          <Link to="/nodes" className="muted">
            Nodes
          </Link>{' '}
          / {name}
        </h1>
        <Phase value={readinessOf(node)} />
        {node.spec?.unschedulable && <span className="flag flag-cordoned">cordoned</span>}
        {node.spec?.fenced && (
          <span
            className="flag flag-fenced"
            data-testid="node-fenced"
            title="An admin declared the host down: its Always VMs on shared storage are recovered elsewhere."
          >
            fenced
          </span>
        )}
        <AccelBadge acceleration={s?.acceleration} source={s?.accelerationSource} />
        <span className="spacer" />
        <CordonButton node={node} />
        <FenceButton node={node} />
      </div>
      <div className="grid-2">
        <div className="card">
          <h2>Host</h2>
          <KeyValues
            rows={[
              ['Last heartbeat', lastHeartbeat ? `${formatAge(lastHeartbeat, now)} ago (${lastHeartbeat})` : 'never'],
              ['Lease holder', lease ? lease.spec?.holderIdentity || 'none (released: the agent stopped heartbeating)' : undefined],
              ['Addresses', s?.addresses?.map((a) => `${a.address} (${a.type})`).join(', ')],
              [
                'Self-fencing',
                s?.selfFencing
                  ? s.selfFencing.enabled
                    ? `on: the agent stops its domains after ${s.selfFencing.timeoutSeconds ?? '?'} s without a heartbeat`
                    : 'off'
                  : undefined,
              ],
              [
                'Acceleration',
                s?.acceleration ? (
                  <span key="accel" data-testid="node-acceleration">
                    {s.acceleration === 'tcg' ? `tcg — ${TCG_EXPLANATION}` : 'kvm — hardware virtualization'}
                    {s.accelerationSource && <span className="muted"> ({s.accelerationSource})</span>}
                  </span>
                ) : undefined,
              ],
              [
                'Bridges',
                s?.bridges?.length ? (
                  <span key="bridges" className="labels" data-testid="node-bridges">
                    {s.bridges.map((b) => (
                      <code key={b} className="label">
                        {b}
                      </code>
                    ))}
                  </span>
                ) : undefined,
              ],
              ['Hypervisor', s?.nodeInfo ? `${s.nodeInfo.hypervisor ?? ''} ${s.nodeInfo.hypervisorVersion ?? ''}` : undefined],
              ['libvirt', s?.nodeInfo?.libvirtVersion],
              ['Agent', s?.nodeInfo?.agentVersion],
              ['CPU model', s?.nodeInfo?.cpuModel],
              ['Kernel / OS', s?.nodeInfo ? `${s.nodeInfo.kernelVersion ?? ''} ${s.nodeInfo.osImage ?? ''}` : undefined],
              ['State hash', s?.stateHash ? <code key="hash">{s.stateHash}</code> : undefined],
              ['Labels', <Labels key="labels" labels={node.metadata.labels} />],
            ]}
          />
        </div>
        <div className="card">
          <h2>Capacity and allocation</h2>
          <UsageBar label="CPU (vCPUs of bound VMs / cores)" used={usage.cpu} total={alloc.cpu ?? 0} />
          <UsageBar label="Memory" used={usage.memoryBytes} total={alloc.memoryBytes ?? 0} format={(n) => bytes(n)} />
          <p className="muted small">
            Capacity {s?.capacity?.cpu ?? '—'} cores, {bytes(s?.capacity?.memoryBytes)}; allocatable {alloc.cpu ?? '—'} cores, {bytes(alloc.memoryBytes)}.
          </p>
          <h2>Current use</h2>
          {s?.telemetry ? (
            <div data-testid="node-telemetry">
              <UsageBar label={`Host CPU (${s.telemetry.cpuCores ?? '—'} cores)`} used={s.telemetry.cpuPercent ?? 0} total={100} format={(n) => `${n}%`} />
              <UsageBar label="Host memory" used={s.telemetry.memoryUsedBytes ?? 0} total={s.telemetry.memoryTotalBytes ?? 0} format={(n) => bytes(n)} />
              <UsageBar
                label={`Disk${s.telemetry.diskPath ? ` (${s.telemetry.diskPath})` : ''}`}
                used={s.telemetry.diskUsedBytes ?? 0}
                total={s.telemetry.diskTotalBytes ?? 0}
                format={(n) => bytes(n)}
              />
              <p className="muted small">
                Sampled by the agent {s.telemetry.sampleTime ? `${formatAge(s.telemetry.sampleTime, now)} ago` : ''}; updated when it changes noticeably.
              </p>
            </div>
          ) : (
            <p className="muted small" data-testid="node-telemetry">
              No telemetry reported yet.
            </p>
          )}
          <h2>Conditions</h2>
          <ConditionsTable conditions={s?.conditions} />
        </div>
        <div className="card">
          <h2>Virtual machines ({onNode.length})</h2>
          <table className="table" data-testid="node-vms">
            <thead>
              <tr>
                <th>Name</th>
                <th>Phase</th>
                <th>CPU</th>
                <th>Memory</th>
              </tr>
            </thead>
            <tbody>
              {onNode.map((v) => (
                <tr key={v.metadata.uid}>
                  <td>
                    <Link to={`/vms/${v.metadata.namespace}/${v.metadata.name}`}>
                      {v.metadata.namespace}/{v.metadata.name}
                    </Link>{' '}
                    <VmBadges vm={v} />
                  </td>
                  <td>
                    <Phase value={v.status?.phase} />
                  </td>
                  <td>{v.spec.cpu ?? 1}</td>
                  <td>{v.spec.memory}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div className="card">
          <h2>Storage pools on this node</h2>
          <table className="table" data-testid="node-pools">
            <thead>
              <tr>
                <th>Pool</th>
                <th>Assigned</th>
                <th>Health</th>
                <th>Used / total</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {nodePools.map((p) => {
                const h = p.status?.hosts?.[name!];
                return (
                  <tr key={p.metadata.name}>
                    <td>
                      <Link to={`/pools/${p.metadata.name}`}>{p.metadata.name}</Link>
                    </td>
                    <td>{p.spec.assignedNodes?.includes(name!) ? 'yes' : 'no (stale report)'}</td>
                    <td>
                      <Phase value={h?.health ?? 'Pending'} />
                    </td>
                    <td>
                      {bytes(h?.usedBytes)} / {bytes(h?.totalBytes)}
                    </td>
                    <td className="muted">{h?.message}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {nodePools.length === 0 && <p className="muted">No pool is assigned to this node.</p>}
        </div>
      </div>
    </section>
  );
}
