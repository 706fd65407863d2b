/**
 * The Snapshots section of the VM page: the VM's VirtualMachineSnapshots (phase, consistency,
 * size, age), Take snapshot, Restore (only while the VM is stopped: the server refuses it
 * otherwise and says so) and Delete, and the latest restore of the VM. Self-contained: the
 * page only places it.
 */
import { useMemo, useState } from 'react';
import type { VirtualMachine, VirtualMachineRestore, VirtualMachineSnapshot } from '../../../api-types/generated/types.js';
import { formatBytesHuman } from '../../../api-types/quantity.js';
import { vmIsStopped } from '../../../api-types/vm-stopped.js';
import { VirtualMachineRestores, VirtualMachineSnapshots } from '../api/resources.js';
import { useCreate } from '../actions/use-create.js';
import { useDelete } from '../actions/use-delete.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { Phase } from '../ui/bits.js';
import { LoggedButton } from '../logging/LoggedButton.js';

/** A snapshot name from the time (UTC), as `qxctl vm snapshot` makes one. */
function snapshotName(vm: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
  return `${vm.slice(0, 63 - stamp.length - 1)}-${stamp}`;
}

const byInput = () => 'form';

export function VmSnapshots({ vm, now }: { vm: VirtualMachine; now: number }) {
  const { canWrite } = useSession();
  const snaps = useLiveList(VirtualMachineSnapshots);
  const restores = useLiveList(VirtualMachineRestores);
  const createSnap = useCreate(VirtualMachineSnapshots, byInput);
  const createRestore = useCreate(VirtualMachineRestores, byInput);
  const del = useDelete();
  const [refusal, setRefusal] = useState<string | undefined>();
  const ns = vm.metadata.namespace ?? 'default';
  const name = vm.metadata.name!;

  const mine = useMemo(
    () =>
      snaps.items
        .filter((s) => s.metadata.namespace === ns && s.spec?.virtualMachineName === name)
        .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '')),
    [snaps.items, ns, name],
  );
  const lastRestore = useMemo(
    () =>
      restores.items
        .filter((r) => r.metadata.namespace === ns && r.spec?.virtualMachineName === name)
        .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))[0],
    [restores.items, ns, name],
  );
  const stopped = vmIsStopped(vm);

  const take = async () => {
    setRefusal(undefined);
    const obj: VirtualMachineSnapshot = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachineSnapshot',
      metadata: { name: snapshotName(name, new Date()), namespace: ns },
      spec: { virtualMachineName: name },
    };
    await createSnap.create(obj, `snapshot of ${ns}/${name}`, `Snapshot ${obj.metadata.name} of ${ns}/${name} requested.`);
  };

  const restore = async (snap: VirtualMachineSnapshot) => {
    const obj: VirtualMachineRestore = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachineRestore',
      metadata: { name: snapshotName(`${name}-restore`, new Date()), namespace: ns },
      spec: { virtualMachineName: name, snapshotName: snap.metadata.name! },
    };
    await createRestore.create(obj, `restore of ${ns}/${name}`, `Restore of ${ns}/${name} from ${snap.metadata.name} requested.`);
  };

  const remove = async (snap: VirtualMachineSnapshot) => {
    setRefusal(undefined);
    const outcome = await del(VirtualMachineSnapshots, snap, <p>Delete snapshot {snap.metadata.name}? The disks drop it; this cannot be undone.</p>);
    if (outcome.state === 'refused') setRefusal(outcome.error.describe());
  };

  const summary = createSnap.summary ?? createRestore.summary ?? refusal;
  return (
    <div className="card" data-testid="vm-snapshots">
      <div className="page-head">
        <h2>Snapshots</h2>
        <span className="spacer" />
        {canWrite && (
          <LoggedButton
            logAction="snapshot-take"
            type="button"
            className="small"
            data-write="true"
            data-testid="snapshot-take"
            disabled={createSnap.busy}
            onClick={() => void take()}
          >
            Take snapshot
          </LoggedButton>
        )}
      </div>
      {summary && (
        <div className="note note-bad" data-testid="snapshot-error">
          {summary}
        </div>
      )}
      {lastRestore && (
        <p data-testid="snapshot-last-restore">
          Last restore: from <strong>{lastRestore.spec?.snapshotName}</strong> <Phase value={lastRestore.status?.phase} />{' '}
          <span className="muted">{lastRestore.status?.message}</span>
        </p>
      )}
      {mine.length === 0 ? (
        <p className="muted" data-testid="snapshots-empty">
          No snapshots of this VM.
        </p>
      ) : (
        <table className="table" data-testid="snapshot-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Phase</th>
              <th>Consistency</th>
              <th>Size</th>
              <th>Age</th>
              {canWrite && <th />}
            </tr>
          </thead>
          <tbody>
            {mine.map((s) => (
              <tr key={s.metadata.uid ?? s.metadata.name} data-testid={`snapshot-row-${s.metadata.name}`}>
                <td>{s.metadata.name}</td>
                <td>
                  <Phase value={s.metadata.deletionTimestamp ? 'Terminating' : s.status?.phase} title={s.status?.message} />
                </td>
                <td title={s.status?.message}>{s.status?.consistency ?? ''}</td>
                <td>{s.status?.sizeBytes === undefined ? '' : formatBytesHuman(s.status.sizeBytes)}</td>
                <td>{formatAge(s.metadata.creationTimestamp, now)}</td>
                {canWrite && (
                  <td className="actions">
                    <LoggedButton
                      logAction="snapshot-restore"
                      logTarget={s.metadata.name}
                      type="button"
                      className="small"
                      data-write="true"
                      data-testid={`snapshot-restore-${s.metadata.name}`}
                      disabled={s.status?.phase !== 'Ready' || !stopped || createRestore.busy}
                      title={
                        !stopped
                          ? 'Stop the VM to restore it'
                          : s.status?.phase !== 'Ready'
                            ? 'The snapshot is not Ready'
                            : 'Put the disks back to this snapshot'
                      }
                      onClick={() => void restore(s)}
                    >
                      Restore
                    </LoggedButton>
                    <LoggedButton
                      logAction="snapshot-delete"
                      logTarget={s.metadata.name}
                      type="button"
                      className="danger small"
                      data-write="true"
                      data-testid={`snapshot-delete-${s.metadata.name}`}
                      disabled={Boolean(s.metadata.deletionTimestamp)}
                      onClick={() => void remove(s)}
                    >
                      Delete
                    </LoggedButton>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
