import { useMemo } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { StoragePool } from '../../../api-types/generated/types.js';
import { StoragePools, VirtualMachines } from '../api/resources.js';
import { useAssignPool } from '../actions/use-pool-actions.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { bytes, LoadState, Phase, Tabs, UsageBar, useNow } from '../ui/bits.js';
import { AssignmentTable } from '../ui/AssignmentTable.js';
import { ConditionsTable } from '../ui/KeyValues.js';
import { YamlEditor } from '../ui/YamlEditor.js';
import { PoolFiles } from './PoolFiles.js';
import { poolSource } from './PoolList.js';
import { useApplyYaml } from '../actions/use-apply-yaml.js';

const TABS = [
  { key: 'hosts', label: 'Hosts' },
  { key: 'files', label: 'Files' },
  { key: 'nodes', label: 'Assignment' },
  { key: 'yaml', label: 'YAML' },
] as const;
type Tab = (typeof TABS)[number]['key'];

export function PoolDetail() {
  const { name } = useParams();
  const [params, setParams] = useSearchParams();
  const tab = (params.get('tab') as Tab | null) ?? 'hosts';
  const { items, synced, error } = useLiveList(StoragePools);
  const { canWrite } = useSession();
  const apply = useApplyYaml(StoragePools, undefined, name ?? '', `pool ${name}`);
  const pool = items.find((p) => p.metadata.name === name);
  if (!synced || error?.isForbidden) return <LoadState synced={synced} error={error} />;
  if (!pool)
    return (
      <div className="card">
        Storage pool {name} does not exist. <Link to="/pools">All pools</Link>
      </div>
    );

  const cap = pool.status?.capacity;
  return (
    <section data-testid="pool-detail">
      <div className="page-head">
        <h1>
          <Link to="/pools" className="muted">
            Storage pools
          </Link>{' '}
          / {name}
        </h1>
        <Phase value={pool.status?.phase} />
        <span className="muted">
          {pool.spec.type} · <code>{poolSource(pool)}</code>
        </span>
      </div>
      <div className="card">
        <UsageBar label="Aggregate capacity (all hosts)" used={cap?.usedBytes ?? 0} total={cap?.totalBytes ?? 0} format={(n) => bytes(n)} />
        <span className="muted small">Available {bytes(cap?.availableBytes)}</span>
      </div>
      <Tabs
        tabs={TABS}
        active={tab}
        onSelect={(t) => {
          setParams(t === 'hosts' ? {} : { tab: t }, { replace: true });
        }}
      />
      {tab === 'hosts' && <HostsTable pool={pool} />}
      {tab === 'files' && <PoolFiles pool={pool} />}
      {tab === 'nodes' && <Assignment pool={pool} />}
      {tab === 'yaml' && <YamlEditor object={pool} canWrite={canWrite} onApply={apply} />}
    </section>
  );
}

/** One row per host that is assigned or reports the pool (a stale report of an unassigned host shows too). */
function HostsTable({ pool }: { pool: StoragePool }) {
  const now = useNow();
  const assigned = pool.spec.assignedNodes ?? [];
  const hosts = [...new Set([...assigned, ...Object.keys(pool.status?.hosts ?? {})])].sort();
  return (
    <div className="card">
      <table className="table" data-testid="pool-hosts">
        <thead>
          <tr>
            <th>Node</th>
            <th>Health</th>
            <th>Capacity (used / total)</th>
            <th>Available</th>
            <th>Mount path</th>
            <th>Volumes</th>
            <th>Last report</th>
            <th>Message</th>
          </tr>
        </thead>
        <tbody>
          {hosts.map((node) => {
            const h = pool.status?.hosts?.[node];
            return (
              <tr key={node} data-node={node}>
                <td>
                  <Link to={`/nodes/${node}`}>{node}</Link>
                  {!assigned.includes(node) && (
                    <span className="flag flag-unknown" title="This host still reports the pool but it is no longer assigned.">
                      unassigned
                    </span>
                  )}
                </td>
                <td>
                  {h ? (
                    <Phase value={h.health} title={h.message} />
                  ) : (
                    <span className="muted" title="Assigned, but its agent has not reported the pool yet.">
                      not reported
                    </span>
                  )}
                </td>
                <td style={{ minWidth: 200 }}>{h ? <UsageBar label="" used={h.usedBytes ?? 0} total={h.totalBytes ?? 0} format={(n) => bytes(n)} /> : '—'}</td>
                <td>{bytes(h?.availableBytes)}</td>
                <td>
                  <code>{h?.mountPath ?? '—'}</code>
                </td>
                <td>{h?.volumeCount ?? '—'}</td>
                <td title={h?.lastReported}>{h?.lastReported ? `${formatAge(h.lastReported, now)} ago` : '—'}</td>
                <td className={h?.health && h.health !== 'HEALTHY' ? 'text-bad' : 'muted'}>{h?.message ?? ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {hosts.length === 0 && <p className="muted">Not assigned to any node. Assign it on the Assignment tab.</p>}
      <h2>Conditions</h2>
      <ConditionsTable conditions={pool.status?.conditions} />
    </div>
  );
}

function Assignment({ pool }: { pool: StoragePool }) {
  const vms = useLiveList(VirtualMachines);
  const assign = useAssignPool();
  const usingPool = useMemo(() => vms.items.filter((v) => v.spec.disks?.some((d) => d.storagePool === pool.metadata.name)), [vms.items, pool.metadata.name]);
  const onNode = (n: string) => usingPool.filter((v) => (v.status?.nodeName ?? v.spec.nodeName) === n);
  return (
    <AssignmentTable
      testId="pool-assignment"
      assigned={pool.spec.assignedNodes ?? []}
      intro={
        <>
          The pool is defined on the nodes in <code>spec.assignedNodes</code>; a VM can only be scheduled where all its pools are assigned and healthy.
        </>
      }
      stateHeader="Health there"
      stateOn={(n) => (pool.status?.hosts?.[n] ? <Phase value={pool.status.hosts[n]!.health} /> : '—')}
      usersHeader="VMs using the pool there"
      usersOn={(n) => onNode(n).length}
      onToggle={(n, on) => void assign(pool, n, on, onNode(n))}
    />
  );
}
