/**
 * Progress and outcome of every user action: a toast that says what is happening, then
 * whether it worked (with the server's message when it did not). Each action gets one
 * correlation id for all its calls (sent as X-Request-Id); the toast shows it, and clicking
 * it opens the Logs page filtered by it (the chain from this click to the agent's libvirt
 * call). Start, success and error go to the UI action log with the id and the duration.
 */
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { Link, useLocation } from 'react-router';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import { logsPathFor } from '../logging/logs-filter.js';
import { categoryForRoute } from '../logging/ui-log-entry.js';
import { actionLogger } from '../logging/use-action-logger.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export interface Activity {
  id: string;
  label: string;
  state: 'running' | 'succeeded' | 'failed';
  detail?: string;
}

/** How an action appears in the UI action log. */
export interface ActionLog {
  /** `stop`, `create`, `delete`… */
  action: string;
  /** The object (`default/web`). */
  target?: string;
  /** Defaults to the route's part of the UI. */
  category?: string;
}

type Run = (label: string, work: (actionId: string, progress: (detail: string) => void) => Promise<string | void>, log: ActionLog) => Promise<boolean>;

interface ActivityApi {
  run: Run;
  /** Labels of actions still running (so their buttons can show a spinner). */
  running: ReadonlySet<string>;
}

const ActivityContext = createContext<ActivityApi | undefined>(undefined);

export function useActivity(): ActivityApi {
  const api = useContext(ActivityContext);
  if (!api) throw new Error('useActivity outside <ActivityProvider>');
  return api;
}

export function ActivityProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<Activity[]>([]);
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  const { pathname } = useLocation();
  const pathRef = useRef(pathname);
  pathRef.current = pathname;

  const update = useCallback((id: string, patch: Partial<Activity>) => {
    setItems((list) => list.map((a) => (a.id === id ? { ...a, ...patch } : a)));
  }, []);
  const dismiss = useCallback((id: string) => {
    clearTimeout(timers.current.get(id));
    timers.current.delete(id);
    setItems((list) => list.filter((a) => a.id !== id));
  }, []);

  const run = useCallback<Run>(
    async (label, work, log) => {
      const path = pathRef.current;
      const logger = actionLogger(log.category ?? categoryForRoute(path), `/ui${path}`);
      let id = '';
      try {
        const outcome = await logger.track(log.action, log.target, (correlationId) => {
          id = correlationId;
          setItems((list) => [...list.slice(-5), { id, label, state: 'running' }]);
          return work(id, (detail) => update(id, { detail }));
        });
        update(id, { state: 'succeeded', detail: outcome || 'Done.' });
        timers.current.set(
          id,
          setTimeout(() => dismiss(id), 6_000),
        );
        return true;
      } catch (err) {
        const e = asApiError(err);
        update(id, { state: 'failed', detail: e.describe() }); // its correlation id is shown below
        // Failures stay longer than successes: they need reading.
        timers.current.set(
          id,
          setTimeout(() => dismiss(id), 30_000),
        );
        return false;
      }
    },
    [update, dismiss],
  );

  const running = useMemo(() => new Set(items.filter((a) => a.state === 'running').map((a) => a.label)), [items]);
  const api = useMemo(() => ({ run, running }), [run, running]);
  return (
    <ActivityContext.Provider value={api}>
      {children}
      <div className="toasts" data-testid="activity" aria-live="polite">
        {items.map((a) => (
          <div key={a.id} className={`toast toast-${a.state}`} data-state={a.state} data-testid="activity-item">
            <div className="toast-head">
              <span className="toast-icon">{a.state === 'running' ? <span className="spinner" /> : a.state === 'succeeded' ? '✓' : '✗'}</span>
              <strong>{a.label}</strong>
              <LoggedButton logAction="dismiss-toast" logCategory="activity" type="button" className="link" aria-label="Dismiss" onClick={() => dismiss(a.id)}>
                ×
              </LoggedButton>
            </div>
            {a.detail && <div className="toast-detail">{a.detail}</div>}
            <div className="toast-id muted small">
              <Link to={logsPathFor(a.id)} data-testid="action-correlation-id" data-correlation-id={a.id} title="Show this action's log chain">
                {a.id}
              </Link>
            </div>
          </div>
        ))}
      </div>
    </ActivityContext.Provider>
  );
}
