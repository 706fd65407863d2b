import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import type { Lease, Node } from '../../../api-types/generated/types.js';
import type { ResourceRef } from '../api/resources.js';
import { lastHeartbeatOf } from '../model/node-heartbeat.js';
import { Nodes, VirtualMachines } from '../api/resources.js';
import { useCordon, useFence } from '../actions/use-node-actions.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { readinessOf } from '../model/node-ready.js';
import { usageByNode } from '../model/placement.js';
import { AccelBadge } from '../ui/AccelBadge.js';
import { bytes, LoadState, Phase, useNow } from '../ui/bits.js';
import { VirtualTable, type Column } from '../ui/VirtualTable.js';
import { AddHostDialog } from './AddHostDialog.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export function CordonButton({ node }: { node: Node }) {
  const { canWrite } = useSession();
  const cordon = useCordon();
  if (!canWrite) return null;
  const cordoned = node.spec?.unschedulable === true;
  return (
    <LoggedButton
      logAction={cordoned ? 'uncordon' : 'cordon'}
      logTarget={node.metadata.name}
      type="button"
      className="small"
      onClick={() => void cordon(node, !cordoned)}
      data-write="true"
      data-testid={cordoned ? 'uncordon' : 'cordon'}
    >
      {cordoned ? 'Uncordon' : 'Cordon'}
    </LoggedButton>
  );
}

export function FenceButton({ node }: { node: Node }) {
  const { canWrite } = useSession();
  const fence = useFence();
  if (!canWrite) return null;
  const fenced = node.spec?.fenced === true;
  return (
    <LoggedButton
      logAction={fenced ? 'unfence' : 'fence'}
      logTarget={node.metadata.name}
      type="button"
      className={fenced ? 'small' : 'small danger'}
      onClick={() => void fence(node, !fenced)}
      data-write="true"
      data-testid={fenced ? 'unfence' : 'fence'}
    >
      {fenced ? 'Unfence' : 'Fence'}
    </LoggedButton>
  );
}

/** Leases (all namespaces): node Leases and the gateway replicas' own, for "last heartbeat" (model/node-heartbeat.ts). */
export const Leases: ResourceRef<Lease> = { key: 'leases', group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true };

export function NodeList() {
  const { items, synced, error } = useLiveList(Nodes);
  const leases = useLiveList(Leases).items;
  const vms = useLiveList(VirtualMachines);
  const { canWrite } = useSession();
  const now = useNow();
  const [addingHost, setAddingHost] = useState(false);
  const usage = useMemo(() => usageByNode(vms.items), [vms.items]);
  const rows = useMemo(() => [...items].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!)), [items]);
  const columns: Column<Node>[] = [
    { key: 'name', header: 'Name', width: 'minmax(140px,2fr)', render: (n) => <Link to={`/nodes/${n.metadata.name}`}>{n.metadata.name}</Link> },
    {
      key: 'ready',
      header: 'Ready',
      width: '150px',
      render: (n) => (
        <>
          <Phase value={readinessOf(n)} title={n.status?.conditions?.find((c) => c.type === 'Ready')?.message} />{' '}
          {n.spec?.unschedulable && (
            <span className="flag flag-cordoned" title="Cordoned: the scheduler places no new VMs here.">
              cordoned
            </span>
          )}
          {n.spec?.fenced && (
            <span className="flag flag-fenced" title="Fenced: an admin declared the host down; its Always VMs on shared storage are recovered elsewhere.">
              fenced
            </span>
          )}
        </>
      ),
    },
    {
      key: 'heartbeat',
      header: 'Heartbeat',
      width: '90px',
      render: (n) => {
        const last = lastHeartbeatOf(n, leases);
        return last ? `${formatAge(last, now)} ago` : '—';
      },
    },
    {
      key: 'cpu',
      header: 'CPU (VMs / cores)',
      width: '130px',
      render: (n) => `${usage.get(n.metadata.name!)?.cpu ?? 0} / ${n.status?.allocatable?.cpu ?? n.status?.capacity?.cpu ?? '—'}`,
    },
    {
      key: 'memory',
      header: 'Memory (VMs / alloc.)',
      width: '170px',
      render: (n) =>
        `${bytes(usage.get(n.metadata.name!)?.memoryBytes ?? 0)} / ${bytes(n.status?.allocatable?.memoryBytes ?? n.status?.capacity?.memoryBytes)}`,
    },
    {
      key: 'vms',
      header: 'VMs',
      width: '60px',
      render: (n) => <Link to={`/vms?node=${encodeURIComponent(n.metadata.name!)}`}>{usage.get(n.metadata.name!)?.vmCount ?? 0}</Link>,
    },
    {
      key: 'hypervisor',
      header: 'Hypervisor',
      width: 'minmax(90px,1fr)',
      render: (n) => (
        <>
          {n.status?.nodeInfo?.hypervisor ?? '—'}{' '}
          {n.status?.acceleration && <AccelBadge acceleration={n.status.acceleration} source={n.status.accelerationSource} showKvm />}
        </>
      ),
    },
    { key: 'address', header: 'Address', width: 'minmax(110px,1fr)', render: (n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '—' },
  ];
  if (canWrite) columns.push({ key: 'actions', header: '', width: '110px', render: (n) => <CordonButton node={n} /> });
  return (
    <section>
      <div className="page-head">
        <h1>Nodes</h1>
        <span className="muted">{items.length}</span>
        <span className="spacer" />
        {canWrite && (
          <LoggedButton logAction="add-host" type="button" className="primary" onClick={() => setAddingHost(true)} data-write="true" data-testid="add-host">
            Add host
          </LoggedButton>
        )}
      </div>
      {addingHost && <AddHostDialog onClose={() => setAddingHost(false)} />}
      <LoadState synced={synced} error={error} />
      {synced && (
        <VirtualTable
          testId="node-table"
          rows={rows}
          columns={columns}
          rowKey={(n) => n.metadata.name!}
          rowClass={(n) => `row-${readinessOf(n)}`}
          empty="No nodes have registered. Start quantix-agent on a host."
        />
      )}
    </section>
  );
}
