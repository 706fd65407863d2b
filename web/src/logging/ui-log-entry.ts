/**
 * One UI action log entry as `POST /logs/ui` takes it (ISSUE17-CONTRACT §3). The apiserver
 * writes each to `ui.log` as a LogRecord with component `ui`, the user and the session id.
 */
import type { LogLevel } from '../../../lib/logging/record.js';

export type UiLogResult = 'start' | 'success' | 'error' | 'info';

export interface UiLogEntry {
  /** ISO 8601 UTC, ms. */
  time: string;
  level: LogLevel;
  /** The part of the UI: `vm`, `node`, `pool`, `image`, `network`, `event`, `logs`, `auth`, `navigation`, `app`. */
  category: string;
  /** What the user did: `click`, `stop`, `create`, `navigate`, `submit`… */
  action: string;
  /** The object acted on (`default/web`) or the route navigated to. */
  target?: string;
  result: UiLogResult;
  durationMs?: number;
  /** The action's correlation id (sent as X-Request-Id on its API calls). */
  correlationId?: string;
  message?: string;
  /** The UI route the user was on. */
  route?: string;
}

export interface UiLogBatch {
  sessionId: string;
  entries: UiLogEntry[];
}

/** The category of a UI route (`/ui/vms/default/web` → `vm`), for entries that name none. */
export function categoryForRoute(pathname: string): string {
  const path = pathname.replace(/^\/ui(?=\/|$)/, '');
  const first = path.split('/').filter(Boolean)[0];
  if (!first) return 'dashboard';
  const singular: Record<string, string> = {
    vms: 'vm',
    nodes: 'node',
    pools: 'pool',
    images: 'image',
    networks: 'network',
    events: 'event',
    logs: 'logs',
  };
  return singular[first] ?? first;
}
