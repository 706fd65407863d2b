import { useMemo } from 'react';
import { Link, useNavigate } from 'react-router';
import type { Network } from '../../../api-types/generated/types.js';
import { Networks } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { activeHostsText, dhcpText, subnetText } from '../model/network-view.js';
import { LoadState, Phase, useNow } from '../ui/bits.js';
import { VirtualTable, type Column } from '../ui/VirtualTable.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export function NetworkList() {
  const { items, synced, error } = useLiveList(Networks);
  const { canWrite } = useSession();
  const navigate = useNavigate();
  const now = useNow(10_000);
  const rows = useMemo(() => [...items].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!)), [items]);
  const columns: Column<Network>[] = [
    { key: 'name', header: 'Name', width: 'minmax(140px,1.5fr)', render: (n) => <Link to={`/networks/${n.metadata.name}`}>{n.metadata.name}</Link> },
    { key: 'mode', header: 'Mode', width: '80px', render: (n) => n.spec.mode ?? 'nat' },
    { key: 'phase', header: 'Phase', width: '100px', render: (n) => <Phase value={n.metadata.deletionTimestamp ? 'Terminating' : n.status?.phase} /> },
    { key: 'subnet', header: 'Subnet', width: 'minmax(120px,1fr)', render: (n) => <code>{subnetText(n) ?? '—'}</code> },
    { key: 'dhcp', header: 'DHCP', width: 'minmax(180px,1.5fr)', render: (n) => dhcpText(n) ?? <span className="muted">—</span> },
    { key: 'bridge', header: 'Bridge', width: '100px', render: (n) => <code>{n.spec.bridgeName ?? 'auto'}</code> },
    { key: 'hosts', header: 'Hosts active', width: '100px', render: activeHostsText },
    { key: 'age', header: 'Age', width: '60px', render: (n) => formatAge(n.metadata.creationTimestamp, now) },
  ];
  return (
    <section>
      <div className="page-head">
        <h1>Networks</h1>
        <span className="muted">{items.length}</span>
        <span className="spacer" />
        {canWrite && (
          <LoggedButton
            logAction="new-network"
            type="button"
            className="primary"
            onClick={() => void navigate('/networks/new')}
            data-write="true"
            data-testid="new-network"
          >
            New network
          </LoggedButton>
        )}
      </div>
      <LoadState synced={synced} error={error} />
      {synced && (
        <VirtualTable
          testId="network-table"
          rows={rows}
          columns={columns}
          rowKey={(n) => n.metadata.name!}
          empty="No networks. VMs use QEMU user networking (type user) or an existing host bridge until you create one."
        />
      )}
    </section>
  );
}
