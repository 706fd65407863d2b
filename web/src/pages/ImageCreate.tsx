import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useCreate } from '../actions/use-create.js';
import { Images, Nodes, StoragePools } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { emptyImageForm, imageFromForm, imageInputForField, imageLocalErrors, type ImageForm } from '../model/image-form.js';
import { redactUrl } from '../model/image-view.js';
import { ErrorBanner } from '../ui/bits.js';
import { Field } from '../ui/Field.js';
import { CreateFormFooter, NodeChoices } from '../ui/CreateForm.js';

export function ImageCreate() {
  const { canWrite } = useSession();
  const navigate = useNavigate();
  const pools = useLiveList(StoragePools);
  const nodes = useLiveList(Nodes);
  const [form, setForm] = useState<ImageForm>(emptyImageForm);
  const [touched, setTouched] = useState(false);
  const { serverErrors, summary, busy, create, clear } = useCreate(Images, imageInputForField);
  const local = imageLocalErrors(form);
  const errorFor = (id: string) => serverErrors[id] ?? (touched ? local[id] : undefined);
  const set = (patch: Partial<ImageForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    clear();
  };
  const poolNames = pools.items.map((p) => p.metadata.name!).sort();
  const nodeNames = nodes.items.map((n) => n.metadata.name!).sort();

  if (!canWrite) return <ErrorBanner error="This token is read-only: creating an image needs an admin token." />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (Object.keys(local).length) return;
    const image = imageFromForm(form);
    const name = image.metadata.name!;
    const where = form.nodeNames.length ? `imported now to ${form.nodeNames.join(', ')}` : 'imported on a node when a VM there needs it';
    if (await create(image, `image ${name}`, `Image ${name} created; ${where}.`)) void navigate(`/images/${name}`);
  };

  return (
    <section>
      <div className="page-head">
        <h1>
          <Link to="/images" className="muted">
            Images
          </Link>{' '}
          / New
        </h1>
      </div>
      <div className="grid-2">
        <form className="card form" onSubmit={(e) => void submit(e)} aria-label="Create image" noValidate>
          <Field id="name" inputId="image-name" label="Name" error={errorFor('name')} hint="Lower case letters, digits, dashes and dots, e.g. debian-12.">
            <input id="image-name" value={form.name} onChange={(e) => set({ name: e.target.value })} placeholder="debian-12" data-testid="image-name" />
          </Field>
          <fieldset>
            <legend>Source</legend>
            <div className="choice-row" role="radiogroup" aria-label="Source">
              <label>
                <input type="radio" name="source" checked={form.sourceKind === 'url'} onChange={() => set({ sourceKind: 'url' })} data-testid="source-url" />{' '}
                Download from a URL
              </label>
              <label>
                <input type="radio" name="source" checked={form.sourceKind === 'pool'} onChange={() => set({ sourceKind: 'pool' })} data-testid="source-pool" />{' '}
                A file in a storage pool
              </label>
            </div>
            {errorFor('source') && (
              <div className="field-error" data-testid="error-source">
                {errorFor('source')}
              </div>
            )}
            {form.sourceKind === 'url' ? (
              <>
                <Field
                  id="url"
                  inputId="image-url"
                  label="URL"
                  error={errorFor('url')}
                  hint={
                    form.url.trim() && redactUrl(form.url.trim()) !== form.url.trim()
                      ? `Shown everywhere as ${redactUrl(form.url.trim())} (credentials and query left out), but stored whole: anyone who can read images can read it.`
                      : 'http or https; an interrupted download resumes when the server supports ranges.'
                  }
                >
                  <input
                    id="image-url"
                    value={form.url}
                    onChange={(e) => set({ url: e.target.value })}
                    placeholder="https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"
                    data-testid="image-url"
                  />
                </Field>
                <Field
                  id="sha256"
                  inputId="image-sha256"
                  label="SHA-256 (optional)"
                  error={errorFor('sha256')}
                  hint="The import fails when the downloaded bytes differ."
                >
                  <input
                    id="image-sha256"
                    value={form.sha256}
                    onChange={(e) => set({ sha256: e.target.value })}
                    placeholder="64 hex digits"
                    className="sha"
                    spellCheck={false}
                    data-testid="image-sha256"
                  />
                </Field>
              </>
            ) : (
              <div className="row-2">
                <Field id="pool" inputId="image-pool" label="Pool" error={errorFor('pool')}>
                  <select id="image-pool" value={form.pool} onChange={(e) => set({ pool: e.target.value })} data-testid="image-pool">
                    <option value="">Choose a pool…</option>
                    {poolNames.map((p) => (
                      <option key={p}>{p}</option>
                    ))}
                  </select>
                </Field>
                <Field
                  id="path"
                  inputId="image-path"
                  label="Path in the pool"
                  error={errorFor('path')}
                  hint="Relative to the pool root (see the pool's Files tab)."
                >
                  <input
                    id="image-path"
                    value={form.path}
                    onChange={(e) => set({ path: e.target.value })}
                    placeholder="iso/debian-12.qcow2"
                    data-testid="image-path"
                  />
                </Field>
              </div>
            )}
          </fieldset>
          <div className="row-2">
            <Field id="format" inputId="image-format" label="Format" error={errorFor('format')}>
              <select id="image-format" value={form.format} onChange={(e) => set({ format: e.target.value as ImageForm['format'] })}>
                <option value="">Detect (qemu-img info)</option>
                <option value="qcow2">qcow2</option>
                <option value="raw">raw</option>
              </select>
            </Field>
            <Field
              id="storagePool"
              inputId="image-storagePool"
              label="Cache in pool"
              error={errorFor('storagePool')}
              hint="Where each node keeps its copy; by default the pool of the first disk that needs it."
            >
              <select id="image-storagePool" value={form.storagePool} onChange={(e) => set({ storagePool: e.target.value })} data-testid="image-storagePool">
                <option value="">The disk's pool</option>
                {poolNames.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </Field>
          </div>
          <Field
            id="nodeNames"
            label="Import ahead of time to"
            error={errorFor('nodeNames')}
            hint="Optional. Other nodes import it when a VM bound there needs it."
          >
            <NodeChoices nodeNames={nodeNames} chosen={form.nodeNames} onChange={(chosen) => set({ nodeNames: chosen })} testIdPrefix="image-node" />
          </Field>
          <CreateFormFooter summary={summary} formError={serverErrors.form} busy={busy} submitTestId="image-create" cancelTo="/images" />
        </form>
        <div className="card">
          <h2>How images are used</h2>
          <p className="muted small">
            A VM disk with <code>image: &lt;name&gt;</code> starts from the node's cached copy of the image: by default a qcow2 overlay on it (instant and
            small), or a full copy (<code>imageClone: Copy</code>). Each node imports the image once, into a storage pool, and reports its progress here as it
            downloads, verifies and converts it.
          </p>
          <p className="muted small">
            The URL is stored as given: do not put a secret in it, or use a link that expires. Everywhere it is shown, its user name, password and query are
            left out.
          </p>
        </div>
      </div>
    </section>
  );
}
