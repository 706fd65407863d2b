import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useCreate } from '../actions/use-create.js';
import { Networks, Nodes } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { emptyNetworkForm, networkFromForm, networkInputForField, networkLocalErrors, type NetworkForm } from '../model/network-form.js';
import { ErrorBanner } from '../ui/bits.js';
import { Field } from '../ui/Field.js';
import { CreateFormFooter, NodeChoices } from '../ui/CreateForm.js';

export function NetworkCreate() {
  const { canWrite } = useSession();
  const navigate = useNavigate();
  const nodes = useLiveList(Nodes);
  const [form, setForm] = useState<NetworkForm>(emptyNetworkForm);
  const [touched, setTouched] = useState(false);
  const { serverErrors, summary, busy, create, clear } = useCreate(Networks, networkInputForField);
  const local = networkLocalErrors(form);
  const errorFor = (id: string) => serverErrors[id] ?? (touched ? local[id] : undefined);
  const set = (patch: Partial<NetworkForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    clear();
  };
  const nodeNames = nodes.items.map((n) => n.metadata.name!).sort();

  if (!canWrite) return <ErrorBanner error="This token is read-only: creating a network needs an admin token." />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (Object.keys(local).length) return;
    const network = networkFromForm(form);
    const name = network.metadata.name!;
    const where = form.assignedNodes.length ? `defined on ${form.assignedNodes.join(', ')}` : 'assigned to no node yet';
    if (await create(network, `network ${name}`, `Network ${name} created; ${where}.`)) void navigate(`/networks/${name}`);
  };
  const text = (id: keyof NetworkForm & string, label: string, placeholder: string, hint?: string) => (
    <Field id={id} inputId={`net-${id}`} label={label} error={errorFor(id)} hint={hint}>
      <input id={`net-${id}`} value={form[id] as string} onChange={(e) => set({ [id]: e.target.value })} placeholder={placeholder} data-testid={`net-${id}`} />
    </Field>
  );

  return (
    <section>
      <div className="page-head">
        <h1>
          <Link to="/networks" className="muted">
            Networks
          </Link>{' '}
          / New
        </h1>
      </div>
      <div className="grid-2">
        <form className="card form" onSubmit={(e) => void submit(e)} aria-label="Create network" noValidate>
          {text('name', 'Name', 'lab', 'Lower case letters, digits, dashes and dots.')}
          <div className="row-2">
            <Field id="mode" inputId="net-mode" label="Mode" error={errorFor('mode')}>
              <select id="net-mode" value={form.mode} onChange={(e) => set({ mode: e.target.value as NetworkForm['mode'] })} data-testid="net-mode">
                <option value="nat">nat — guests reach out through NAT</option>
                <option value="isolated">isolated — guests and host only</option>
              </select>
            </Field>
            {text('bridgeName', 'Bridge name (optional)', 'qx-lab', 'At most 15 characters; qx-<hash> when empty.')}
          </div>
          <fieldset>
            <legend>IPv4 subnet (optional)</legend>
            <div className="row-2">
              {text('address', 'Host address', '192.168.150.1', 'The bridge’s own address; empty for no subnet.')}
              {text('prefix', 'Prefix length', '24')}
            </div>
            <div className="row-2">
              {text('dhcpStart', 'DHCP from', '192.168.150.10')}
              {text('dhcpEnd', 'DHCP to', '192.168.150.250')}
            </div>
          </fieldset>
          <Field id="assignedNodes" label="Define on nodes" error={errorFor('assignedNodes')} hint="Can be changed later on the Assignment tab.">
            <NodeChoices nodeNames={nodeNames} chosen={form.assignedNodes} onChange={(chosen) => set({ assignedNodes: chosen })} testIdPrefix="net-node" />
          </Field>
          <CreateFormFooter summary={summary} formError={serverErrors.form} busy={busy} submitTestId="network-create" cancelTo="/networks" />
        </form>
        <div className="card">
          <h2>How networks are used</h2>
          <p className="muted small">
            Each assigned node's agent defines the network in libvirt and starts it, which creates its bridge and (with a subnet) a DHCP server. A VM joins it
            with an interface of <code>type: network</code> and <code>source: &lt;name&gt;</code>. Without a network, VMs use QEMU user networking (with port
            forwards) or an existing host bridge.
          </p>
        </div>
      </div>
    </section>
  );
}
