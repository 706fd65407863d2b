import { lazy, Suspense, useMemo } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { humanQuantity } from '../../../api-types/quantity.js';
import { Events, VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { vmNode } from '../model/vm-filters.js';
import { vmFlags } from '../model/vm-flags.js';
import { guestAgentState, guestOsText, interfaceRows } from '../model/vm-network.js';
import { AccelBadge } from '../ui/AccelBadge.js';
import { LoadState, Phase, Tabs, useNow } from '../ui/bits.js';
import { EventTable, sortEvents } from '../ui/EventTable.js';
import { ConditionsTable, KeyValues, Labels } from '../ui/KeyValues.js';
import { VmActionButtons } from '../ui/VmActionButtons.js';
import { VmCloneButton } from '../ui/VmCloneButton.js';
import { VmBadges } from '../ui/VmBadges.js';
import { VmUsage } from '../ui/VmUsage.js';
import { VmSnapshots } from './VmSnapshots.js';
import { YamlEditor } from '../ui/YamlEditor.js';
import { useApplyYaml } from '../actions/use-apply-yaml.js';

// xterm.js and noVNC load with the tab, not with the app.
const VmConsole = lazy(() => import('./VmConsole.js'));

const TABS = [
  { key: 'overview', label: 'Overview' },
  { key: 'console', label: 'Console' },
  { key: 'events', label: 'Events' },
  { key: 'yaml', label: 'YAML' },
] as const;
type Tab = (typeof TABS)[number]['key'];

export function VmDetail() {
  const { namespace, name } = useParams();
  const [params, setParams] = useSearchParams();
  const tab = (params.get('tab') as Tab | null) ?? 'overview';
  const { items, synced, error } = useLiveList(VirtualMachines);
  const events = useLiveList(Events);
  const { canWrite } = useSession();
  const apply = useApplyYaml(VirtualMachines, namespace, name ?? '', `${namespace}/${name}`);
  const now = useNow();
  const vm = items.find((v) => v.metadata.namespace === namespace && v.metadata.name === name);
  const vmEvents = useMemo(
    () =>
      sortEvents(
        events.items.filter(
          (e) =>
            (vm?.metadata.uid && e.involvedObject.uid === vm.metadata.uid) ||
            (e.involvedObject.kind === 'VirtualMachine' && e.involvedObject.namespace === namespace && e.involvedObject.name === name),
        ),
      ),
    [events.items, vm?.metadata.uid, namespace, name],
  );

  if (!synced || error?.isForbidden) return <LoadState synced={synced} error={error} />;
  if (!vm) {
    return (
      <div className="card" data-testid="vm-missing">
        <h1>
          {namespace}/{name}
        </h1>
        <p>
          This virtual machine does not exist (or was deleted). <Link to="/vms">All virtual machines</Link>
        </p>
      </div>
    );
  }

  const s = vm.status;
  return (
    <section data-testid="vm-detail">
      <div className="page-head">
        <h1>
          <Link to="/vms" className="muted">
            Virtual machines
          </Link>{' '}
          / {namespace}/{name}
        </h1>
        <Phase value={vm.metadata.deletionTimestamp ? 'Terminating' : s?.phase} />
        <VmBadges vm={vm} />
        <AccelBadge acceleration={s?.acceleration} />
        <span className="spacer" />
        <VmActionButtons vm={vm} />
        <VmCloneButton vm={vm} />
      </div>
      {vmFlags(vm).map((f) => (
        <div key={f.kind} className={`note note-${f.kind}`}>
          <strong>{f.label}:</strong> {f.explanation}
        </div>
      ))}
      <Tabs tabs={TABS} active={tab} onSelect={(t) => setParams(t === 'overview' ? {} : { tab: t }, { replace: true })} />
      {tab === 'overview' && <Overview vm={vm} now={now} />}
      {tab === 'overview' && <VmSnapshots vm={vm} now={now} />}
      {tab === 'console' && (
        <Suspense fallback={<div className="muted loading">Loading the console…</div>}>
          <VmConsole vm={vm} />
        </Suspense>
      )}
      {tab === 'events' && <EventTable events={vmEvents} maxHeight="60vh" />}
      {tab === 'yaml' && <YamlEditor object={vm} canWrite={canWrite} onApply={apply} />}
    </section>
  );
}

function cloudInitText(vm: VirtualMachine): string | undefined {
  const c = vm.spec.cloudInit;
  if (!c) return undefined;
  const keys = c.sshAuthorizedKeys?.length ?? 0;
  return [
    `${keys} SSH key${keys === 1 ? '' : 's'}`,
    c.hostname && `hostname ${c.hostname}`,
    c.userData && `user data (${c.userData.length} characters)`,
    c.networkData && 'network config',
  ]
    .filter(Boolean)
    .join(', ');
}

/** What runs inside the guest, from qemu-guest-agent, and whether the agent answers. */
function Guest({ vm }: { vm: VirtualMachine }) {
  const os = vm.status?.guestOSInfo;
  const agent = guestAgentState(vm);
  return (
    <div className="card-section" data-testid="vm-guest">
      <h2>Guest</h2>
      <KeyValues
        rows={[
          [
            'Guest agent',
            <span key="agent" data-testid="guest-agent" data-state={agent.state}>
              <Phase
                value={agent.state === 'connected' ? 'Connected' : agent.state === 'disconnected' ? 'Disconnected' : 'Unknown'}
                title={agent.condition?.message}
              />{' '}
              <span className="muted small">
                {agent.condition ? `${agent.condition.reason ?? ''}${agent.condition.message ? `: ${agent.condition.message}` : ''}` : 'not reported'}
              </span>
            </span>,
          ],
          ['OS', guestOsText(vm)],
          ['Kernel', os?.kernelRelease],
          ['Hostname', os?.hostname],
          ['Architecture', os?.machine],
          ['Time zone', os?.timezone],
        ]}
      />
      {!os && (
        <p className="muted small">
          No guest information: it comes from qemu-guest-agent inside the guest (most cloud images have it; install <code>qemu-guest-agent</code> otherwise).
        </p>
      )}
    </div>
  );
}

/** Interfaces from the spec joined with what the guest agent reports (MAC, addresses), and port forwards. */
function Interfaces({ vm }: { vm: VirtualMachine }) {
  const rows = interfaceRows(vm);
  return (
    <div className="card span-2" data-testid="vm-interfaces">
      <h2>Network interfaces</h2>
      {rows.length === 0 ? (
        <p className="muted">No network interfaces (spec.networks is empty).</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Attached to</th>
              <th>MAC</th>
              <th>IP addresses</th>
              <th>Port forwards</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.name} data-interface={r.name}>
                <td>
                  {r.name}
                  {r.guestName && <span className="muted small"> ({r.guestName} in the guest)</span>}
                </td>
                <td>{r.attachment ?? <span className="muted">not in spec</span>}</td>
                <td>
                  <code>{r.macAddress ?? '—'}</code>
                </td>
                <td data-testid="interface-ips">
                  {r.addresses.length ? (
                    r.addresses.map((a) => (
                      <div key={a}>
                        <code>{a}</code>
                      </div>
                    ))
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td data-testid="port-forwards">
                  {r.portForwards.length
                    ? r.portForwards.map((p) => (
                        <div key={p}>
                          <code>{p}</code>
                        </div>
                      ))
                    : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Overview({ vm, now }: { vm: VirtualMachine; now: number }) {
  const s = vm.status;

  const node = vmNode(vm);
  const volumes = new Map((s?.volumes ?? []).map((v) => [v.name, v]));
  return (
    <div className="grid-2">
      <div className="card">
        <h2>Spec</h2>
        <KeyValues
          rows={[
            ['Run strategy', vm.spec.runStrategy ?? 'Always'],
            ['Paused', vm.spec.paused ? 'yes' : 'no'],
            ['CPU', vm.spec.cpu ?? 1],
            ['Memory', `${humanQuantity(vm.spec.memory)} (${vm.spec.memory})`],
            [
              'Pinned / bound node',
              vm.spec.nodeName ? (
                <Link key="node" to={`/nodes/${vm.spec.nodeName}`}>
                  {vm.spec.nodeName}
                </Link>
              ) : (
                'scheduler chooses'
              ),
            ],
            ['Node selector', vm.spec.nodeSelector ? <Labels key="selector" labels={vm.spec.nodeSelector} /> : undefined],
            ['Cloud-init', cloudInitText(vm)],
            ['Stop grace period', vm.spec.terminationGracePeriodSeconds === undefined ? undefined : `${vm.spec.terminationGracePeriodSeconds}s`],
            ['Labels', <Labels key="labels" labels={vm.metadata.labels} />],
            ['Created', `${vm.metadata.creationTimestamp ?? ''} (${formatAge(vm.metadata.creationTimestamp, now)} ago)`],
            ['Generation', `${vm.metadata.generation ?? ''} (observed ${s?.observedGeneration ?? '—'})`],
          ]}
        />
      </div>
      <div className="card">
        <h2>Status</h2>
        <KeyValues
          rows={[
            ['Phase', <Phase key="phase" value={s?.phase} />],
            ['Power state', s?.powerState],
            [
              'Node',
              node ? (
                <Link key="node" to={`/nodes/${node}`}>
                  {node}
                </Link>
              ) : undefined,
            ],
            ['Origin', s?.origin],
            ['Managed', s?.managed === undefined ? undefined : s.managed ? 'yes' : 'no'],
            ['Domain', s?.domainName ? `${s.domainName} (${s.domainUUID ?? ''})` : s?.domainUUID],
            ['Last seen', s?.lastSeen ? `${formatAge(s.lastSeen, now)} ago` : undefined],
            ['Lost', s?.lostAt ? `${s.lostAt}: ${s.lostReason ?? ''}` : undefined],
            ['Restarts', s?.restartCount],
            [
              'Recovered',
              s?.recovery?.count ? (
                <span key="recovery" data-testid="vm-recovery">
                  from {s.recovery.recoveredFrom ?? '?'}
                  {s.recovery.lastRecoveryTime ? ` ${formatAge(s.recovery.lastRecoveryTime, now)} ago` : ''} ({s.recovery.count}{' '}
                  {s.recovery.count === 1 ? 'time' : 'times'})
                </span>
              ) : undefined,
            ],
            [
              'Acceleration',
              s?.acceleration ? (
                <span key="accel">
                  {s.acceleration} <AccelBadge acceleration={s.acceleration} />
                </span>
              ) : undefined,
            ],
          ]}
        />
        <Guest vm={vm} />
        <VmUsage vm={vm} now={now} />
      </div>
      <Interfaces vm={vm} />
      <div className="card span-2">
        <h2>Disks</h2>
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Pool</th>
              <th>Size</th>
              <th>Bus</th>
              <th>Image</th>
              <th>Volume</th>
            </tr>
          </thead>
          <tbody>
            {(vm.spec.disks ?? []).map((d) => (
              <tr key={d.name}>
                <td>{d.name}</td>
                <td>
                  <Link to={`/pools/${d.storagePool}`}>{d.storagePool}</Link>
                </td>
                <td>{humanQuantity(d.size)}</td>
                <td>{d.bus ?? vm.spec.diskBus ?? 'virtio'}</td>
                <td>
                  {d.image ? (
                    <span data-testid={`disk-image-${d.name}`}>
                      <Link to={`/images/${d.image}`}>{d.image}</Link> <span className="muted small">{d.imageClone ?? 'Overlay'}</span>
                    </span>
                  ) : d.sourceImage ? (
                    <code title="A base image path inside the pool (sourceImage)">{d.sourceImage}</code>
                  ) : (
                    '—'
                  )}
                </td>
                <td className="muted">{volumes.get(d.name)?.path ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!vm.spec.disks?.length && <p className="muted">No disks.</p>}
      </div>
      <div className="card span-2">
        <h2>Conditions</h2>
        <ConditionsTable conditions={s?.conditions} />
      </div>
    </div>
  );
}
