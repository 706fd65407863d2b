import { useMemo, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { Network, VirtualMachine } from '../../../api-types/generated/types.js';
import type { ApiError } from '../../../lib/apimachinery/status-error.js';
import { useDelete } from '../actions/use-delete.js';
import { useAssignNetwork } from '../actions/use-network-actions.js';
import { Networks, VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { dhcpText, hostState, subnetText, vmsOnNetwork } from '../model/network-view.js';
import { vmNode } from '../model/vm-filters.js';
import { vmAddress } from '../model/vm-network.js';
import { ErrorBanner, LoadState, Phase, Tabs, useNow } from '../ui/bits.js';
import { AssignmentTable } from '../ui/AssignmentTable.js';
import { DeletionNote } from '../ui/DeletionNote.js';
import { ConditionsTable } from '../ui/KeyValues.js';
import { YamlEditor } from '../ui/YamlEditor.js';
import { useApplyYaml } from '../actions/use-apply-yaml.js';
import { LoggedButton } from '../logging/LoggedButton.js';

const TABS = [
  { key: 'hosts', label: 'Hosts' },
  { key: 'nodes', label: 'Assignment' },
  { key: 'yaml', label: 'YAML' },
] as const;
type Tab = (typeof TABS)[number]['key'];

export function NetworkDetail() {
  const { name } = useParams();
  const [params, setParams] = useSearchParams();
  const tab = (params.get('tab') as Tab | null) ?? 'hosts';
  const { items, synced, error } = useLiveList(Networks);
  const vms = useLiveList(VirtualMachines);
  const { canWrite } = useSession();
  const apply = useApplyYaml(Networks, undefined, name ?? '', `network ${name}`);
  const del = useDelete();
  const [deleteError, setDeleteError] = useState<ApiError | undefined>();
  const network = items.find((n) => n.metadata.name === name);
  const attached = useMemo(() => vmsOnNetwork(vms.items, name ?? ''), [vms.items, name]);
  if (!synced || error?.isForbidden) return <LoadState synced={synced} error={error} />;
  if (!network)
    return (
      <div className="card" data-testid="network-missing">
        Network {name} does not exist (or was deleted). <Link to="/networks">All networks</Link>
      </div>
    );

  const onDelete = async () => {
    setDeleteError(undefined);
    const outcome = await del(
      Networks,
      network,
      <>
        <p>Delete network {name}? Each assigned node stops and undefines it; its bridge goes away.</p>
        {attached.length > 0 && (
          <p className="warn-note">
            {attached.length} VM(s) have an interface on it: {attached.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).join(', ')}.
          </p>
        )}
      </>,
    );
    if (outcome.state === 'refused') setDeleteError(outcome.error);
  };
  return (
    <section data-testid="network-detail">
      <div className="page-head">
        <h1>
          <Link to="/networks" className="muted">
            Networks
          </Link>{' '}
          / {name}
        </h1>
        <Phase value={network.metadata.deletionTimestamp ? 'Terminating' : network.status?.phase} />
        <span className="muted">
          {network.spec.mode ?? 'nat'}
          {subnetText(network) && (
            <>
              {' '}
              · <code>{subnetText(network)}</code>
            </>
          )}
          {dhcpText(network) && ` · DHCP ${dhcpText(network)}`}
          {network.spec.bridgeName && (
            <>
              {' '}
              · bridge <code>{network.spec.bridgeName}</code>
            </>
          )}
        </span>
        <span className="spacer" />
        {canWrite && (
          <LoggedButton
            logAction="delete"
            logTarget={network.metadata.name}
            type="button"
            className="danger small"
            disabled={Boolean(network.metadata.deletionTimestamp)}
            onClick={() => void onDelete()}
            data-write="true"
            data-testid="delete-network"
          >
            Delete
          </LoggedButton>
        )}
      </div>
      {deleteError && (
        <div data-testid="delete-error">
          <ErrorBanner error={deleteError} />
        </div>
      )}
      <DeletionNote obj={network} />
      <Tabs tabs={TABS} active={tab} onSelect={(t) => setParams(t === 'hosts' ? {} : { tab: t }, { replace: true })} />
      {tab === 'hosts' && <HostsTable network={network} attached={attached} />}
      {tab === 'nodes' && <Assignment network={network} attached={attached} />}
      {tab === 'yaml' && <YamlEditor object={network} canWrite={canWrite} onApply={apply} />}
    </section>
  );
}

/** One row per host that is assigned or reports the network (a stale report of an unassigned host shows too). */
function HostsTable({ network, attached }: { network: Network; attached: readonly VirtualMachine[] }) {
  const now = useNow();
  const assigned = network.spec.assignedNodes ?? [];
  const hosts = [...new Set([...assigned, ...Object.keys(network.status?.hosts ?? {})])].sort();
  return (
    <>
      <div className="card">
        <table className="table" data-testid="network-hosts">
          <thead>
            <tr>
              <th>Node</th>
              <th>State</th>
              <th>Bridge</th>
              <th>DHCP range</th>
              <th>Last report</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {hosts.map((node) => {
              const h = network.status?.hosts?.[node];
              const state = hostState(h);
              return (
                <tr key={node} data-node={node}>
                  <td>
                    <Link to={`/nodes/${node}`}>{node}</Link>
                    {!assigned.includes(node) && (
                      <span className="flag flag-unknown" title="This host still reports the network but it is no longer assigned.">
                        unassigned
                      </span>
                    )}
                  </td>
                  <td>
                    {state ? (
                      <Phase value={state} title={h?.message} />
                    ) : (
                      <span className="muted" title="Assigned, but its agent has not reported the network yet.">
                        not reported
                      </span>
                    )}
                  </td>
                  <td>
                    <code>{h?.bridgeName ?? '—'}</code>
                  </td>
                  <td>{h?.dhcpRange ?? '—'}</td>
                  <td title={h?.lastReported}>{h?.lastReported ? `${formatAge(h.lastReported, now)} ago` : '—'}</td>
                  <td className={state && state !== 'Active' ? 'text-bad' : 'muted'}>{h?.message ?? ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {hosts.length === 0 && <p className="muted">Not assigned to any node. Assign it on the Assignment tab.</p>}
        <h2>Conditions</h2>
        <ConditionsTable conditions={network.status?.conditions} />
      </div>
      <div className="card">
        <h2>VMs on this network ({attached.length})</h2>
        {attached.length === 0 ? (
          <p className="muted">No VM has an interface of type network with source {network.metadata.name}.</p>
        ) : (
          <table className="table" data-testid="network-vms">
            <thead>
              <tr>
                <th>VM</th>
                <th>Node</th>
                <th>IP</th>
              </tr>
            </thead>
            <tbody>
              {attached.map((v) => (
                <tr key={v.metadata.uid}>
                  <td>
                    <Link to={`/vms/${v.metadata.namespace}/${v.metadata.name}`}>
                      {v.metadata.namespace}/{v.metadata.name}
                    </Link>
                  </td>
                  <td>{vmNode(v) || '—'}</td>
                  <td>
                    <code>{vmAddress(v) ?? '—'}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}

function Assignment({ network, attached }: { network: Network; attached: readonly VirtualMachine[] }) {
  const assign = useAssignNetwork();
  const onNode = (n: string) => attached.filter((v) => vmNode(v) === n);
  return (
    <AssignmentTable
      testId="network-assignment"
      assigned={network.spec.assignedNodes ?? []}
      intro={
        <>
          The network is defined and started on the nodes in <code>spec.assignedNodes</code>; a VM with an interface on it needs it on its node.
        </>
      }
      stateHeader="State there"
      stateOn={(n) => {
        const state = hostState(network.status?.hosts?.[n]);
        return state ? <Phase value={state} /> : '—';
      }}
      usersHeader="VMs on it there"
      usersOn={(n) => onNode(n).length}
      onToggle={(n, on) => void assign(network, n, on, onNode(n))}
    />
  );
}
