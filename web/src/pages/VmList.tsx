import { useMemo } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { humanQuantity } from '../../../api-types/quantity.js';
import { VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { filtersFromParams, paramsWithFilters, vmNode, vmPredicate, type VmFilters } from '../model/vm-filters.js';
import { vmFlags } from '../model/vm-flags.js';
import { vmAddress } from '../model/vm-network.js';
import { ErrorBanner, LoadState, Phase, useNow } from '../ui/bits.js';
import { VmActionButtons } from '../ui/VmActionButtons.js';
import { VmBadges } from '../ui/VmBadges.js';
import { VirtualTable, type Column } from '../ui/VirtualTable.js';
import { LoggedButton } from '../logging/LoggedButton.js';

const PHASES = ['Pending', 'Scheduled', 'Starting', 'Running', 'Stopping', 'Stopped', 'Paused', 'Failed', 'Unknown', 'Lost', 'Terminated'];

type SortKey = 'name' | 'namespace' | 'phase' | 'node' | 'age';

const SORTERS: Record<SortKey, (a: VirtualMachine, b: VirtualMachine) => number> = {
  name: (a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '') || (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? ''),
  namespace: (a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || SORTERS.name(a, b),
  phase: (a, b) => (a.status?.phase ?? 'Pending').localeCompare(b.status?.phase ?? 'Pending') || SORTERS.name(a, b),
  node: (a, b) => vmNode(a).localeCompare(vmNode(b)) || SORTERS.name(a, b),
  age: (a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') || SORTERS.name(a, b),
};

export const vmKey = (vm: VirtualMachine) => `${vm.metadata.namespace}/${vm.metadata.name}`;

export function VmList() {
  const { canWrite } = useSession();
  const { items, synced, error } = useLiveList(VirtualMachines);
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const now = useNow(10_000);
  const filters = filtersFromParams(params);
  const sortKey = (params.get('sort') as SortKey | null) ?? 'name';
  const desc = params.get('desc') === '1';
  const setFilter = (patch: Partial<VmFilters>) => setParams(paramsWithFilters(params, patch), { replace: true });

  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed on the filter values, as `filters` is a new object every render
  const predicate = useMemo(() => vmPredicate(filters), [filters.namespace, filters.phase, filters.node, filters.labels, filters.q]);
  const rows = useMemo(() => {
    const out = items.filter(predicate.test);
    out.sort(SORTERS[sortKey] ?? SORTERS.name);
    if (desc) out.reverse();
    return out;
  }, [items, predicate, sortKey, desc]);
  const namespaces = useMemo(() => [...new Set(items.map((v) => v.metadata.namespace ?? ''))].sort(), [items]);
  const nodes = useMemo(() => [...new Set(items.map(vmNode).filter(Boolean))].sort(), [items]);

  const columns: Column<VirtualMachine>[] = [
    {
      key: 'name',
      header: 'Name',
      width: 'minmax(170px,2fr)',
      sortable: true,
      render: (vm) => (
        <span className="cell-name">
          <Link to={`/vms/${vm.metadata.namespace}/${vm.metadata.name}`}>{vm.metadata.name}</Link> <VmBadges vm={vm} />
        </span>
      ),
    },
    { key: 'namespace', header: 'Namespace', width: 'minmax(80px,1fr)', sortable: true, render: (vm) => vm.metadata.namespace },
    {
      key: 'phase',
      header: 'Phase',
      width: '96px',
      sortable: true,
      render: (vm) => <Phase value={vm.metadata.deletionTimestamp ? 'Terminating' : vm.status?.phase} />,
    },
    {
      key: 'node',
      header: 'Node',
      width: 'minmax(70px,1fr)',
      sortable: true,
      render: (vm) => (vmNode(vm) ? <Link to={`/nodes/${vmNode(vm)}`}>{vmNode(vm)}</Link> : <span className="muted">—</span>),
    },
    {
      key: 'ip',
      header: 'IP',
      width: 'minmax(100px,1fr)',
      render: (vm) => {
        const ip = vmAddress(vm);
        return ip ? <code title="First guest address, from the guest agent">{ip}</code> : <span className="muted">—</span>;
      },
    },
    { key: 'cpu', header: 'CPU', width: '50px', render: (vm) => vm.spec.cpu ?? 1 },
    { key: 'memory', header: 'Memory', width: '80px', render: (vm) => humanQuantity(vm.spec.memory) },
    { key: 'origin', header: 'Origin', width: '112px', render: (vm) => vm.status?.origin ?? <span className="muted">—</span> },
    { key: 'age', header: 'Age', width: '50px', sortable: true, render: (vm) => formatAge(vm.metadata.creationTimestamp, now) },
  ];
  if (canWrite) columns.push({ key: 'actions', header: '', width: '240px', render: (vm) => <VmActionButtons vm={vm} compact /> });

  return (
    <section>
      <div className="page-head">
        <h1>Virtual machines</h1>
        <span className="muted" data-testid="vm-count">
          {rows.length === items.length ? `${items.length}` : `${rows.length} of ${items.length}`}
        </span>
        <span className="spacer" />
        {canWrite && (
          <LoggedButton logAction="new-vm" type="button" className="primary" onClick={() => void navigate('/vms/new')} data-write="true" data-testid="new-vm">
            New VM
          </LoggedButton>
        )}
      </div>
      <search className="filters">
        <input placeholder="Search name" value={filters.q} onChange={(e) => setFilter({ q: e.target.value })} aria-label="Search name" data-testid="filter-q" />
        <select value={filters.namespace} onChange={(e) => setFilter({ namespace: e.target.value })} aria-label="Namespace" data-testid="filter-namespace">
          <option value="">All namespaces</option>
          {namespaces.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        <select value={filters.phase} onChange={(e) => setFilter({ phase: e.target.value })} aria-label="Phase" data-testid="filter-phase">
          <option value="">All phases</option>
          {PHASES.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
        <select value={filters.node} onChange={(e) => setFilter({ node: e.target.value })} aria-label="Node" data-testid="filter-node">
          <option value="">All nodes</option>
          {nodes.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        <input
          placeholder="Labels, e.g. app=web,tier!=db"
          value={filters.labels}
          onChange={(e) => setFilter({ labels: e.target.value })}
          aria-label="Label selector"
          className={predicate.error ? 'invalid' : undefined}
          data-testid="filter-labels"
        />
        {(filters.q || filters.namespace || filters.phase || filters.node || filters.labels) && (
          <LoggedButton
            logAction="clear-filters"
            type="button"
            className="link"
            onClick={() => setFilter({ q: '', namespace: '', phase: '', node: '', labels: '' })}
          >
            Clear
          </LoggedButton>
        )}
      </search>
      {predicate.error && <ErrorBanner error={`Label selector: ${predicate.error}`} />}
      <LoadState synced={synced} error={error} />
      {synced && (
        <VirtualTable
          testId="vm-table"
          rows={rows}
          columns={columns}
          rowKey={vmKey}
          sort={{ key: sortKey, desc }}
          onSort={(key) => {
            const next = new URLSearchParams(params);
            if (key === sortKey) next.set('desc', desc ? '0' : '1');
            else {
              next.set('sort', key);
              next.delete('desc');
            }
            setParams(next, { replace: true });
          }}
          rowClass={(vm) =>
            vmFlags(vm)
              .map((f) => `row-${f.kind}`)
              .join(' ')
          }
          empty={items.length ? 'No VM matches the filters.' : 'No virtual machines yet.'}
        />
      )}
    </section>
  );
}
