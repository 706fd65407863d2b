/**
 * Parts every create form has: the choice of nodes (checkboxes), and the footer with the
 * server's refusal, Create and Cancel.
 */
import { Link } from 'react-router';
import { LoggedButton } from '../logging/LoggedButton.js';

export function NodeChoices({
  nodeNames,
  chosen,
  onChange,
  testIdPrefix,
}: {
  nodeNames: readonly string[];
  chosen: readonly string[];
  onChange: (chosen: string[]) => void;
  /** `<prefix>-<node>` on each checkbox. */
  testIdPrefix: string;
}) {
  return (
    <div className="choice-row">
      {nodeNames.map((n) => (
        <label key={n}>
          <input
            type="checkbox"
            checked={chosen.includes(n)}
            onChange={(e) => onChange(e.target.checked ? [...chosen, n] : chosen.filter((x) => x !== n))}
            data-testid={`${testIdPrefix}-${n}`}
          />
          {n}
        </label>
      ))}
      {nodeNames.length === 0 && <span className="muted">No nodes registered.</span>}
    </div>
  );
}

export function CreateFormFooter({
  summary,
  formError,
  busy,
  submitTestId,
  cancelTo,
}: {
  /** The refused create's Status in one line. */
  summary?: string;
  /** The server's message for fields no input shows. */
  formError?: string;
  busy: boolean;
  submitTestId: string;
  cancelTo: string;
}) {
  return (
    <>
      {summary && (
        <div className="error-banner" role="alert" data-testid="create-error">
          {summary}
          {formError && <div>{formError}</div>}
        </div>
      )}
      <div className="form-actions">
        <LoggedButton logAction="submit" type="submit" className="primary" disabled={busy} data-write="true" data-testid={submitTestId}>
          {busy ? 'Creating…' : 'Create'}
        </LoggedButton>
        <Link to={cancelTo}>Cancel</Link>
      </div>
    </>
  );
}
