import { useMemo } from 'react';
import { Link } from 'react-router';
import type { StoragePool } from '../../../api-types/generated/types.js';
import { StoragePools } from '../api/resources.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { bytes, LoadState, Phase, UsageBar, useNow } from '../ui/bits.js';
import { VirtualTable, type Column } from '../ui/VirtualTable.js';

export function poolSource(p: StoragePool): string {
  if (p.spec.type === 'dir') return p.spec.dir?.path ?? '';
  if (p.spec.type === 'nfs') return p.spec.nfs ? `${p.spec.nfs.server}:${p.spec.nfs.exportPath}` : '';
  return '';
}

export function PoolList() {
  const { items, synced, error } = useLiveList(StoragePools);
  const now = useNow(10_000);
  const rows = useMemo(() => [...items].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!)), [items]);
  const columns: Column<StoragePool>[] = [
    { key: 'name', header: 'Name', width: 'minmax(140px,1.5fr)', render: (p) => <Link to={`/pools/${p.metadata.name}`}>{p.metadata.name}</Link> },
    { key: 'type', header: 'Type', width: '60px', render: (p) => p.spec.type },
    { key: 'phase', header: 'Phase', width: '100px', render: (p) => <Phase value={p.status?.phase} /> },
    { key: 'source', header: 'Source', width: 'minmax(160px,2fr)', render: (p) => <code>{poolSource(p)}</code> },
    {
      key: 'capacity',
      header: 'Capacity (used / total)',
      width: 'minmax(200px,2fr)',
      render: (p) => <UsageBar label="" used={p.status?.capacity?.usedBytes ?? 0} total={p.status?.capacity?.totalBytes ?? 0} format={(n) => bytes(n)} />,
    },
    {
      key: 'hosts',
      header: 'Hosts healthy',
      width: '110px',
      render: (p) => {
        const assigned = p.spec.assignedNodes ?? [];
        const healthy = assigned.filter((n) => p.status?.hosts?.[n]?.health === 'HEALTHY').length;
        return `${healthy} / ${assigned.length}`;
      },
    },
    { key: 'age', header: 'Age', width: '60px', render: (p) => formatAge(p.metadata.creationTimestamp, now) },
  ];
  return (
    <section>
      <div className="page-head">
        <h1>Storage pools</h1>
        <span className="muted">{items.length}</span>
      </div>
      <LoadState synced={synced} error={error} />
      {synced && (
        <VirtualTable
          testId="pool-table"
          rows={rows}
          columns={columns}
          rowKey={(p) => p.metadata.name!}
          rowHeight={52}
          empty="No storage pools. Create one with kubectl apply -f manifests/examples/."
        />
      )}
    </section>
  );
}
