import { useMemo } from 'react';
import { Link } from 'react-router';
import { Events, Nodes, StoragePools, VirtualMachines } from '../api/resources.js';
import { useLiveList } from '../live/use-live-list.js';
import { isUnmanaged } from '../model/vm-flags.js';
import { clusterCapacity, countBy, nodeReadiness, poolPhaseOf, vmPhaseOf } from '../model/summary.js';
import { bytes, CountChart, LoadState, UsageBar } from '../ui/bits.js';
import { EventTable, sortEvents } from '../ui/EventTable.js';

const VM_ORDER = ['Running', 'Starting', 'Scheduled', 'Pending', 'Paused', 'Stopping', 'Stopped', 'Failed', 'Unknown', 'Lost', 'Terminated'];

export function Dashboard() {
  const vms = useLiveList(VirtualMachines);
  const nodes = useLiveList(Nodes);
  const pools = useLiveList(StoragePools);
  const events = useLiveList(Events);
  const vmPhases = useMemo(() => countBy(vms.items, vmPhaseOf), [vms.items]);
  const readiness = useMemo(() => nodeReadiness(nodes.items), [nodes.items]);
  const poolPhases = useMemo(() => countBy(pools.items, poolPhaseOf), [pools.items]);
  const capacity = useMemo(() => clusterCapacity(nodes.items, pools.items, vms.items), [nodes.items, pools.items, vms.items]);
  const recent = useMemo(() => sortEvents(events.items).slice(0, 12), [events.items]);
  const unmanaged = vms.items.filter(isUnmanaged).length;
  const lost = vmPhases.get('Lost') ?? 0;
  const warnings = events.items.filter((e) => e.type === 'Warning').length;
  return (
    <section data-testid="dashboard">
      <div className="page-head">
        <h1>Dashboard</h1>
      </div>
      <LoadState synced={vms.synced} error={vms.error} />
      <div className="grid-4">
        <div className="card stat">
          <h2>
            <Link to="/vms">Virtual machines</Link>
          </h2>
          <div className="big" data-testid="dash-vm-count">
            {vms.items.length}
          </div>
          <CountChart counts={vmPhases} order={VM_ORDER} testId="dash-vm-phases" />
          <div className="small">
            {unmanaged > 0 && (
              <Link to="/vms" className="flag flag-unmanaged" title="Host-discovered domains Quantix reports but does not manage.">
                {unmanaged} unmanaged
              </Link>
            )}{' '}
            {lost > 0 && (
              <Link to="/vms?phase=Lost" className="flag flag-lost" title="Managed VMs their host reports missing.">
                {lost} lost
              </Link>
            )}
          </div>
        </div>
        <div className="card stat">
          <h2>
            <Link to="/nodes">Nodes</Link>
          </h2>
          <div className="big" data-testid="dash-node-count">
            {nodes.items.length}
          </div>
          <CountChart counts={readiness} order={['Ready', 'NotReady', 'Unknown']} testId="dash-node-ready" />
        </div>
        <div className="card stat">
          <h2>
            <Link to="/pools">Storage pools</Link>
          </h2>
          <div className="big">{pools.items.length}</div>
          <CountChart counts={poolPhases} order={['Ready', 'Degraded', 'Pending', 'Error']} testId="dash-pool-phases" />
        </div>
        <div className="card stat">
          <h2>Capacity</h2>
          <UsageBar label="CPU (VM vCPUs / node cores)" used={capacity.cpu.used} total={capacity.cpu.total} />
          <UsageBar label="Memory" used={capacity.memoryBytes.used} total={capacity.memoryBytes.total} format={(n) => bytes(n)} />
          <UsageBar label="Storage" used={capacity.storageBytes.used} total={capacity.storageBytes.total} format={(n) => bytes(n)} />
        </div>
      </div>
      <div className="card">
        <div className="page-head">
          <h2>
            <Link to="/events">Recent events</Link>
          </h2>
          {warnings > 0 && (
            <Link to="/events?type=Warning" className="flag flag-lost">
              {warnings} warnings
            </Link>
          )}
        </div>
        <EventTable events={recent} maxHeight="480px" testId="dash-events" />
      </div>
    </section>
  );
}
