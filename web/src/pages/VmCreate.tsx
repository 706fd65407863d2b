import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { Link, useNavigate } from 'react-router';
import { formatBytesHuman } from '../../../api-types/quantity.js';
import { Nodes, StoragePools, VirtualMachines } from '../api/resources.js';
import { resourcePath } from '../../../api-types/group-version.js';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { placementFor } from '../model/placement.js';
import { emptyForm, inputForField, localErrors, vmFromForm, type VmForm } from '../model/vm-form.js';
import { useActivity } from '../ui/activity.js';
import { ErrorBanner } from '../ui/bits.js';

export function VmCreate() {
  const { client, canWrite } = useSession();
  const { run } = useActivity();
  const navigate = useNavigate();
  const nodes = useLiveList(Nodes);
  const pools = useLiveList(StoragePools);
  const vms = useLiveList(VirtualMachines);
  const [form, setForm] = useState<VmForm>(emptyForm);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [summary, setSummary] = useState<string | undefined>();
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);

  const readyPools = pools.items
    .filter((p) => p.status?.phase === 'Ready')
    .map((p) => p.metadata.name!)
    .sort();
  const candidate = useMemo(() => vmFromForm(form), [form]);
  const fits = useMemo(() => placementFor(candidate, nodes.items, pools.items, vms.items), [candidate, nodes.items, pools.items, vms.items]);
  const local = localErrors(form);
  const errorFor = (id: string) => serverErrors[id] ?? (touched ? local[id] : undefined);

  const set = (patch: Partial<VmForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    setServerErrors({});
  };
  const setDisk = (i: number, patch: Partial<VmForm['disks'][number]>) => set({ disks: form.disks.map((d, j) => (j === i ? { ...d, ...patch } : d)) });

  if (!canWrite) return <ErrorBanner error="This token is read-only: creating a VM needs an admin token." />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    setSummary(undefined);
    if (Object.keys(local).length) return;
    const vm = vmFromForm(form);
    const ref = `${vm.metadata.namespace}/${vm.metadata.name}`;
    setBusy(true);
    const ok = await run(`Creating ${ref}`, async (actionId) => {
      try {
        await client.create(resourcePath(VirtualMachines, vm.metadata.namespace), vm, { actionId });
      } catch (err) {
        const apiErr = asApiError(err);
        const byInput: Record<string, string> = {};
        for (const c of apiErr.causes) {
          const id = inputForField(c.field ?? '');
          byInput[id] = [byInput[id], c.message].filter(Boolean).join('; ');
        }
        setServerErrors(byInput);
        setSummary(apiErr.describe());
        throw err;
      }
      return `${ref} created; the scheduler picks a node.`;
    });
    setBusy(false);
    if (ok) void navigate(`/vms/${vm.metadata.namespace}/${vm.metadata.name}`);
  };

  const field = (id: keyof VmForm & string, label: string, input: ReactNode, hint?: string) => (
    <div className={errorFor(id) ? 'field has-error' : 'field'}>
      <label htmlFor={`vm-${id}`}>{label}</label>
      {input}
      {errorFor(id) ? (
        <div className="field-error" data-testid={`error-${id}`}>
          {errorFor(id)}
        </div>
      ) : (
        hint && <div className="hint">{hint}</div>
      )}
    </div>
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
                  <button
                    type="button"
                    className="link"
                    onClick={() => set({ disks: form.disks.filter((_, j) => j !== i) })}
                    aria-label={`Remove disk ${i + 1}`}
                  >
                    Remove
                  </button>
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
            <button
              type="button"
              className="small"
              onClick={() => set({ disks: [...form.disks, { name: `disk${form.disks.length}`, storagePool: form.disks[0]?.storagePool ?? '', size: '10Gi' }] })}
            >
              Add disk
            </button>
          </fieldset>
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
          {summary && (
            <div className="error-banner" role="alert" data-testid="create-error">
              {summary}
              {serverErrors.form && <div>{serverErrors.form}</div>}
            </div>
          )}
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy} data-write="true" data-testid="vm-create">
              {busy ? 'Creating…' : 'Create'}
            </button>
            <Link to="/vms">Cancel</Link>
          </div>
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
