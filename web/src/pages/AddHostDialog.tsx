/**
 * The Add-host dialog (issue 16, point 3), the UI's `qxctl node add`: creates a HostJoin from
 * the host's registration API URL, host token and confirmed fingerprint, then shows the
 * phases Ping → ValidateToken → Discover → Complete as the hostjoin controller runs them,
 * and how it ended: the Node, or the error code with its message and guidance. Without a
 * fingerprint only Ping runs; the dialog then shows the one the host presented and offers to
 * use it once the admin has compared it with `quantix-agent token` on the host.
 */
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import type { HostJoin } from '../../../api-types/generated/types.js';
import { resourcePath } from '../../../api-types/group-version.js';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import { HostJoins, objectPath } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { type AddHostForm, addHostFormErrors, hostJoinFromForm, outcomeOf, phaseRows } from '../model/host-join-view.js';
import { Field } from '../ui/Field.js';
import { LoggedButton } from '../logging/LoggedButton.js';
import { useActionLogger } from '../logging/use-action-logger.js';

/** How often the dialog re-reads its HostJoin: one object for a minute or so, not worth a watch stream of the tab's four. */
const POLL_MS = 500;

const PHASE_LABEL = { Ping: 'Ping', ValidateToken: 'Validate token', Discover: 'Discover hardware', Complete: 'Join' } as const;
const STATE_MARK = { pending: '○', running: '…', passed: '✓', failed: '✗' } as const;

export function AddHostDialog({ onClose }: { onClose: () => void }) {
  const { client } = useSession();
  const [form, setForm] = useState<AddHostForm>({ url: '', token: '', fingerprint: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [submitError, setSubmitError] = useState<string | undefined>();
  const [name, setName] = useState<string | undefined>();
  const [hostJoin, setHostJoin] = useState<HostJoin | undefined>();
  const outcome = outcomeOf(hostJoin);
  const running = name !== undefined && outcome.kind === 'running';

  useEffect(() => {
    if (!name) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const hj = await client.get<HostJoin>(objectPath(HostJoins, undefined, name));
        if (stopped) return;
        setHostJoin(hj);
        if (outcomeOf(hj).kind !== 'running') return;
      } catch (err) {
        if (stopped) return;
        setSubmitError(asApiError(err).describe());
      }
      timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client, name]);

  const log = useActionLogger('node');
  const submit = async () => {
    const local = addHostFormErrors(form);
    setErrors(local);
    setSubmitError(undefined);
    if (Object.keys(local).length) return;
    setHostJoin(undefined);
    try {
      const created = await log.track('add-host', undefined, (actionId) => client.create(resourcePath(HostJoins), hostJoinFromForm(form), { actionId }));
      setName(created.metadata.name);
      setHostJoin(created);
    } catch (err) {
      setSubmitError(asApiError(err).describe());
    }
  };

  const input = (field: keyof AddHostForm, label: string, hint: string, type = 'text') => (
    <Field id={field} inputId={`add-host-${field}`} label={label} error={errors[field]} hint={hint}>
      <input
        id={`add-host-${field}`}
        type={type}
        value={form[field]}
        disabled={running}
        autoComplete="off"
        onChange={(e) => setForm({ ...form, [field]: e.target.value })}
        data-testid={`add-host-${field}`}
      />
    </Field>
  );

  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: a click beside the dialog closes it; keys have Escape and the Close button
    <div className="modal-backdrop" onClick={() => !running && onClose()}>
      <div
        className="modal card add-host-modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="add-host-title"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => e.key === 'Escape' && !running && onClose()}
        data-testid="add-host-dialog"
      >
        <h2 id="add-host-title">Add host</h2>
        <div className="modal-body form">
          <p className="muted">
            On the host, quantix-agent runs without credentials and <code>quantix-agent token</code> prints the host token and the certificate fingerprint.
          </p>
          {input('url', 'Registration API', 'https://HOST:9443')}
          {input('token', 'Host token', 'valid for 1 h after it was printed', 'password')}
          {input('fingerprint', 'Certificate fingerprint', 'sha256:AB:CD:… — leave empty to see what the host presents first')}
          {name && (
            <ol className="host-join-phases" data-testid="add-host-phases">
              {phaseRows(hostJoin).map((row) => (
                <li key={row.phase} className={`phase-${row.state}`} data-phase={row.phase} data-state={row.state}>
                  <span className="phase-mark">{STATE_MARK[row.state]}</span> <strong>{PHASE_LABEL[row.phase]}</strong>
                  {/* A failed phase's message is in the error box below, once. */}
                  {row.message && row.state !== 'failed' && <span className="muted"> — {row.message}</span>}
                </li>
              ))}
            </ol>
          )}
          {outcome.kind === 'succeeded' && (
            <p className="host-join-ok" data-testid="add-host-succeeded">
              Joined as node <Link to={`/nodes/${outcome.nodeName}`}>{outcome.nodeName}</Link>.
            </p>
          )}
          {outcome.kind === 'failed' && (
            <div className="host-join-error" role="alert" data-testid="add-host-error" data-code={outcome.code}>
              <div>
                <strong data-testid="add-host-error-code">{outcome.code}</strong>: {outcome.message}
              </div>
              <div data-testid="add-host-guidance">{outcome.guidance}</div>
              {outcome.presentedFingerprint && !form.fingerprint.trim() && (
                <div className="card-section">
                  The host presented <code data-testid="add-host-presented">{outcome.presentedFingerprint}</code>. If it matches what{' '}
                  <code>quantix-agent token</code> prints on the host:{' '}
                  <LoggedButton
                    logAction="use-fingerprint"
                    type="button"
                    className="small"
                    onClick={() => setForm({ ...form, fingerprint: outcome.presentedFingerprint! })}
                    data-testid="add-host-use-fingerprint"
                  >
                    Use this fingerprint
                  </LoggedButton>
                </div>
              )}
            </div>
          )}
          {submitError && (
            <div className="host-join-error" role="alert" data-testid="add-host-submit-error">
              {submitError}
            </div>
          )}
        </div>
        <div className="modal-actions">
          <LoggedButton logAction="add-host-close" type="button" onClick={onClose} disabled={running} data-testid="add-host-close">
            Close
          </LoggedButton>
          {outcome.kind !== 'succeeded' && (
            <LoggedButton
              logAction="add-host-submit"
              type="button"
              className="primary"
              onClick={() => void submit()}
              disabled={running}
              data-testid="add-host-submit"
            >
              {running ? 'Adding…' : name ? 'Try again' : 'Add host'}
            </LoggedButton>
          )}
        </div>
      </div>
    </div>
  );
}
