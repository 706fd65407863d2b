import { useMemo } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import type { KubeObject } from '../../../api-types/meta.js';
import { humanQuantity } from '../../../api-types/quantity.js';
import { Events, objectPath, VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { vmNode } from '../model/vm-filters.js';
import { vmFlags } from '../model/vm-flags.js';
import { useActivity } from '../ui/activity.js';
import { LoadState, Phase, Tabs, useNow } from '../ui/bits.js';
import { EventTable, sortEvents } from '../ui/EventTable.js';
import { ConditionsTable, KeyValues, Labels } from '../ui/KeyValues.js';
import { VmActionButtons } from '../ui/VmActionButtons.js';
import { VmBadges } from '../ui/VmBadges.js';
import { YamlEditor } from '../ui/YamlEditor.js';

const TABS = [
  { key: 'overview', label: 'Overview' },
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
  const { client, canWrite } = useSession();
  const { run } = useActivity();
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

  const apply = async (obj: KubeObject) => {
    let failure: unknown;
    const ok = await run(`Applying YAML to ${namespace}/${name}`, async (actionId) => {
      try {
        await client.replace(objectPath(VirtualMachines, namespace, name!), obj, { actionId });
      } catch (err) {
        failure = err;
        throw err;
      }
      return 'Stored.';
    });
    if (!ok) throw failure;
  };

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
        <span className="spacer" />
        <VmActionButtons vm={vm} />
      </div>
      {vmFlags(vm).map((f) => (
        <div key={f.kind} className={`note note-${f.kind}`}>
          <strong>{f.label}:</strong> {f.explanation}
        </div>
      ))}
      <Tabs tabs={TABS} active={tab} onSelect={(t) => setParams(t === 'overview' ? {} : { tab: t }, { replace: true })} />
      {tab === 'overview' && <Overview vm={vm} now={now} />}
      {tab === 'events' && <EventTable events={vmEvents} maxHeight="60vh" />}
      {tab === 'yaml' && <YamlEditor object={vm} canWrite={canWrite} onApply={apply} />}
    </section>
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
            ['Interfaces', s?.interfaces?.map((i) => `${i.name}: ${i.macAddress ?? ''} ${i.ipAddress ?? ''}`).join(', ')],
          ]}
        />
      </div>
      <div className="card span-2">
        <h2>Disks</h2>
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Pool</th>
              <th>Size</th>
              <th>Bus</th>
              <th>Source image</th>
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
                <td>{d.sourceImage ?? '—'}</td>
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
