import { useOverallConnection } from '../live/use-live-list.js';

const TEXT = { live: 'Live', reconnecting: 'Reconnecting…', connecting: 'Connecting…', error: 'Not authorized', idle: 'Idle' } as const;
const TITLE = {
  live: 'Every open view is receiving watch events from the API server.',
  reconnecting: 'The connection to the API server was lost; retrying with backoff. The data shown is the last known state.',
  connecting: 'Listing and opening watch streams…',
  error: 'The API server refused the token for at least one view (401/403).',
  idle: 'No open views.',
} as const;

/** The live/reconnecting badge in the top bar: the worst state of all open streams. */
export function ConnectionBadge() {
  const state = useOverallConnection();
  return (
    <span className={`badge conn conn-${state}`} title={TITLE[state]} data-testid="connection-badge" data-state={state} role="status" aria-live="polite">
      <span className="dot" /> {TEXT[state]}
    </span>
  );
}
