import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { Link, useNavigate } from 'react-router';
import { formatBytesHuman } from '../../../api-types/quantity.js';
import { useCreate } from '../actions/use-create.js';
import { Images, Nodes, StoragePools, VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { placementFor } from '../model/placement.js';
import { emptyForm, inputForField, localErrors, sshKeyLines, vmFromForm, type VmForm } from '../model/vm-form.js';
import { bytes, ErrorBanner } from '../ui/bits.js';
import { Field } from '../ui/Field.js';
import { CreateFormFooter } from '../ui/CreateForm.js';
import { LoggedButton } from '../logging/LoggedButton.js';

/** Four streams (nodes, pools, VMs, images): the most a page opens (ConnectionManager's budget). */
export function VmCreate() {
  const { canWrite } = useSession();
  const navigate = useNavigate();
  const nodes = useLiveList(Nodes);
  const pools = useLiveList(StoragePools);
  const vms = useLiveList(VirtualMachines);
  const images = useLiveList(Images);
  const [form, setForm] = useState<VmForm>(emptyForm);
  const [touched, setTouched] = useState(false);
  const { serverErrors, summary, busy, create, clear } = useCreate(VirtualMachines, inputForField);

  const readyPools = pools.items
    .filter((p) => p.status?.phase === 'Ready')
    .map((p) => p.metadata.name!)
    .sort();
  const candidate = useMemo(() => vmFromForm(form), [form]);
  const fits = useMemo(() => placementFor(candidate, nodes.items, pools.items, vms.items), [candidate, nodes.items, pools.items, vms.items]);
  const local = localErrors(form, images.items);
  const imageChoices = [...images.items]
    .filter((i) => !i.metadata.deletionTimestamp)
    .sort((a, b) => Number(b.status?.phase === 'Ready') - Number(a.status?.phase === 'Ready') || a.metadata.name!.localeCompare(b.metadata.name!));
  const errorFor = (id: string) => serverErrors[id] ?? (touched ? local[id] : undefined);

  const set = (patch: Partial<VmForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    clear();
  };
  const setDisk = (i: number, patch: Partial<VmForm['disks'][number]>) => set({ disks: form.disks.map((d, j) => (j === i ? { ...d, ...patch } : d)) });

  if (!canWrite) return <ErrorBanner error="This token is read-only: creating a VM needs an admin token." />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (Object.keys(local).length) return;
    const vm = vmFromForm(form);
    const ref = `${vm.metadata.namespace}/${vm.metadata.name}`;
    if (await create(vm, ref, `${ref} created; the scheduler picks a node.`)) void navigate(`/vms/${vm.metadata.namespace}/${vm.metadata.name}`);
  };

  const field = (id: keyof VmForm & string, label: string, input: ReactNode, hint?: string) => (
    <Field id={id} inputId={`vm-${id}`} label={label} error={errorFor(id)} hint={hint}>
      {input}
    </Field>
  );

  return (
    <section>
      <div className="page-head">
        <h1>
          <Link to="/vms" className="muted">
            Virtual machines
          </Link>{' '}
          / New
        </h1>
      </div>
      <div className="grid-2">
        <form className="card form" onSubmit={(e) => void submit(e)} aria-label="Create virtual machine" noValidate>
          {field('namespace', 'Namespace', <input id="vm-namespace" value={form.namespace} onChange={(e) => set({ namespace: e.target.value })} />)}
          {field(
            'name',
            'Name',
            <input id="vm-name" value={form.name} onChange={(e) => set({ name: e.target.value })} placeholder="web-1" data-testid="vm-name" />,
            'Lower case letters, digits and dashes.',
          )}
          <div className="row-2">
            {field(
              'cpu',
              'CPU cores',
              <input id="vm-cpu" type="number" min={1} value={form.cpu} onChange={(e) => set({ cpu: e.target.value })} data-testid="vm-cpu" />,
            )}
            {field(
              'memory',
              'Memory',
              <input id="vm-memory" value={form.memory} onChange={(e) => set({ memory: e.target.value })} data-testid="vm-memory" />,
              'A quantity like 512Mi or 2Gi.',
            )}
          </div>
          {field(
            'runStrategy',
            'Run strategy',
            <select id="vm-runStrategy" value={form.runStrategy} onChange={(e) => set({ runStrategy: e.target.value as VmForm['runStrategy'] })}>
              <option>Always</option>
              <option>Halted</option>
              <option>Manual</option>
              <option>RerunOnFailure</option>
            </select>,
          )}
          <fieldset>
            <legend>Disks (from Ready pools)</legend>
            {readyPools.length === 0 && <p className="warn-note">No storage pool is Ready: a VM needs a pool that is healthy on its assigned nodes.</p>}
            {form.disks.map((d, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a disk row has no identity but its place; its inputs are controlled by the form state
              <div key={i} className="disk-row">
                <input
                  aria-label={`Disk ${i + 1} name`}
                  value={d.name}
                  onChange={(e) => setDisk(i, { name: e.target.value })}
                  className={errorFor(`disks.${i}.name`) ? 'invalid' : undefined}
                />
                <select
                  aria-label={`Disk ${i + 1} pool`}
                  value={d.storagePool}
                  onChange={(e) => setDisk(i, { storagePool: e.target.value })}
                  className={errorFor(`disks.${i}.storagePool`) ? 'invalid' : undefined}
                  data-testid={`disk-${i}-pool`}
                >
                  <option value="">Choose a pool…</option>
                  {readyPools.map((p) => (
                    <option key={p}>{p}</option>
                  ))}
                </select>
                <input
                  aria-label={`Disk ${i + 1} size`}
                  value={d.size}
                  onChange={(e) => setDisk(i, { size: e.target.value })}
                  className={errorFor(`disks.${i}.size`) ? 'invalid' : undefined}
                  data-testid={`disk-${i}-size`}
                />
                {form.disks.length > 1 && (
                  <LoggedButton
                    logAction="remove-disk"
                    type="button"
                    className="link"
                    onClick={() => set({ disks: form.disks.filter((_, j) => j !== i) })}
                    aria-label={`Remove disk ${i + 1}`}
                  >
                    Remove
                  </LoggedButton>
                )}
                {['name', 'storagePool', 'size'].map((k) =>
                  errorFor(`disks.${i}.${k}`) ? (
                    <div key={k} className="field-error" data-testid={`error-disks.${i}.${k}`}>
                      {k}: {errorFor(`disks.${i}.${k}`)}
                    </div>
                  ) : null,
                )}
              </div>
            ))}
            <LoggedButton
              logAction="add-disk"
              type="button"
              className="small"
              onClick={() => set({ disks: [...form.disks, { name: `disk${form.disks.length}`, storagePool: form.disks[0]?.storagePool ?? '', size: '10Gi' }] })}
            >
              Add disk
            </LoggedButton>
          </fieldset>
          {field(
            'image',
            'Boot disk image',
            <select id="vm-image" value={form.image} onChange={(e) => set({ image: e.target.value })} data-testid="vm-image">
              <option value="">None: an empty disk</option>
              {imageChoices.map((i) => (
                <option key={i.metadata.name} value={i.metadata.name}>
                  {i.metadata.name}
                  {i.status?.virtualSizeBytes !== undefined ? ` (${bytes(i.status.virtualSizeBytes)})` : ''}
                  {i.status?.phase === 'Ready' ? '' : ` — ${i.status?.phase ?? 'Pending'}`}
                </option>
              ))}
            </select>,
            form.image
              ? `The first disk starts from ${form.image} (a qcow2 overlay on the node's cached copy), grown to its size.`
              : 'An Image the first disk starts from; the node imports it first if it has no copy.',
          )}
          {field(
            'sshKeys',
            'SSH public keys (cloud-init)',
            <textarea
              id="vm-sshKeys"
              className="keys"
              value={form.sshKeys}
              onChange={(e) => set({ sshKeys: e.target.value })}
              placeholder="ssh-ed25519 AAAAC3Nza… you@laptop"
              spellCheck={false}
              data-testid="vm-ssh-keys"
            />,
            sshKeyLines(form.sshKeys).length
              ? `${sshKeyLines(form.sshKeys).length} key(s) for the image's default user, through a cloud-init seed. Anyone who can read the VM can read them.`
              : "One per line, for the image's default user (cloud images only).",
          )}
          <div className="row-2">
            {field(
              'network',
              'Network',
              <select id="vm-network" value={form.network} onChange={(e) => set({ network: e.target.value as VmForm['network'] })} data-testid="vm-network">
                <option value="none">None</option>
                <option value="user">User networking (QEMU NAT)</option>
              </select>,
              'Networks and bridges can be added in the YAML later.',
            )}
            {form.network === 'user' &&
              field(
                'sshHostPort',
                'Forward a host port to guest port 22',
                <input
                  id="vm-sshHostPort"
                  value={form.sshHostPort}
                  onChange={(e) => set({ sshHostPort: e.target.value })}
                  placeholder="2222"
                  inputMode="numeric"
                  data-testid="vm-ssh-port"
                />,
                form.sshHostPort.trim() ? `On the node: ssh -p ${form.sshHostPort.trim()} <user>@127.0.0.1 (it listens on 127.0.0.1 only)` : 'Optional.',
              )}
          </div>
          {field(
            'nodeName',
            'Node',
            <select id="vm-nodeName" value={form.nodeName} onChange={(e) => set({ nodeName: e.target.value })} data-testid="vm-node">
              <option value="">Let the scheduler choose</option>
              {fits.map((f) => (
                <option key={f.node} value={f.node}>
                  {f.node}
                  {f.fits ? '' : ` (${f.reason})`}
                </option>
              ))}
            </select>,
            'Pinning skips the scheduler; the VM waits if the node cannot take it.',
          )}
          <CreateFormFooter summary={summary} formError={serverErrors.form} busy={busy} submitTestId="vm-create" cancelTo="/vms" />
        </form>
        <div className="card" data-testid="placement">
          <h2>Which nodes can take it</h2>
          <p className="muted small">
            The scheduler's own checks: Ready, not cordoned, every disk's pool assigned and healthy there, free CPU and memory (default overcommit: 4 vCPU per
            core).
          </p>
          <table className="table">
            <thead>
              <tr>
                <th>Node</th>
                <th>Fits</th>
                <th>Free vCPUs</th>
                <th>Free memory</th>
              </tr>
            </thead>
            <tbody>
              {fits.map((f) => (
                <tr key={f.node} className={f.fits ? 'fit-yes' : 'fit-no'} data-node={f.node} data-fits={f.fits}>
                  <td>{f.node}</td>
                  <td>
                    {f.fits ? (
                      <span className="pill tone-ok">yes</span>
                    ) : (
                      <span className="pill tone-bad" title={f.reason}>
                        {f.reason}
                      </span>
                    )}
                  </td>
                  <td>{f.freeCpu}</td>
                  <td>{formatBytesHuman(Math.max(0, f.freeMemoryBytes))}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {fits.length === 0 && <p className="muted">No nodes registered.</p>}
          {fits.length > 0 && !fits.some((f) => f.fits) && <p className="warn-note">No node can take this VM now: it will stay Pending until one can.</p>}
        </div>
      </div>
    </section>
  );
}
