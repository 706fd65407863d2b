/**
 * The Logs page (the seed's, made live): records from every component and host through
 * `GET /logs`, filtered by component (legend), level, "User Actions" (the UI action log),
 * correlation id (click one to see its chain), time range and text; live follow; virtual
 * rows for up to 100,000 lines; export of what the filter shows as JSON, CSV or TXT.
 * The filter lives in the URL (`/ui/logs?correlationId=…` is the chain of one action).
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { LOG_LEVELS, type LogRecord } from '../../../lib/logging/record.js';
import { useSession } from '../auth/session.js';
import { ComponentLegend } from '../logging/ComponentBadge.js';
import { toCsv, toJsonLines, toText } from '../../../lib/logging/export.js';
import { LoggedButton } from '../logging/LoggedButton.js';
import { filterFromSearch, LINE_CHOICES, searchFromFilter, type LogsFilter } from '../logging/logs-filter.js';
import { useActionLogger } from '../logging/use-action-logger.js';
import { useLogs } from '../logging/use-logs.js';
import { LOGS_ROW_HEIGHT, LogsTable } from './LogsTable.js';

const EXPORTS = {
  json: { render: toJsonLines, type: 'application/x-ndjson', ext: 'jsonl', label: 'JSON' },
  csv: { render: toCsv, type: 'text/csv', ext: 'csv', label: 'CSV' },
  txt: { render: toText, type: 'text/plain', ext: 'txt', label: 'TXT' },
} as const;
type ExportFormat = keyof typeof EXPORTS;

function download(records: readonly LogRecord[], format: ExportFormat): void {
  const e = EXPORTS[format];
  const blob = new Blob([e.render([...records])], { type: e.type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `quantix-logs-${new Date().toISOString().replace(/[:.]/g, '-')}.${e.ext}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function LogsPage() {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const filter = useMemo(() => filterFromSearch(params), [params]);
  const [reload, setReload] = useState(0);
  const view = useLogs(client, filter, reload);
  const log = useActionLogger('logs');

  const setFilter = (patch: Partial<LogsFilter>) => setParams(searchFromFilter({ ...filter, ...patch }), { replace: false });

  // Text fields apply on submit (Enter or Apply), not per keystroke: each change is a query.
  const textOf = (f: LogsFilter) => ({ correlationId: f.correlationId ?? '', grep: f.grep ?? '', since: f.since ?? '', until: f.until ?? '' });
  const [text, setText] = useState(() => textOf(filter));
  // biome-ignore lint/correctness/useExhaustiveDependencies: the fields are what a URL change (a clicked id, Back) resets
  useEffect(() => setText(textOf(filter)), [filter.correlationId, filter.grep, filter.since, filter.until]);
  const apply = (e: FormEvent) => {
    e.preventDefault();
    const set = Object.entries(text).filter(([, v]) => v);
    log.logSubmit('filter', set.map(([k, v]) => `${k}=${v}`).join(' ') || 'none');
    setFilter({ correlationId: text.correlationId || undefined, grep: text.grep || undefined, since: text.since || undefined, until: text.until || undefined });
  };

  const seen = useMemo(() => [...new Set(view.rows.map((r) => r.component))], [view.rows]);
  const toggleComponent = (c: string) =>
    setFilter({ components: filter.components.includes(c) ? filter.components.filter((x) => x !== c) : [...filter.components, c], userActions: false });

  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: view.rows.length, getScrollElement: () => scrollRef.current, estimateSize: () => LOGS_ROW_HEIGHT, overscan: 12 });
  // A log reads from the bottom: show the newest once loaded, and keep showing it while
  // following unless the user scrolled up.
  const atBottom = useRef(true);
  useEffect(() => {
    if (view.rows.length && atBottom.current) virtualizer.scrollToIndex(view.rows.length - 1, { align: 'end' });
  }, [view.rows, virtualizer]);

  return (
    <section className="logs-page">
      <div className="page-head">
        <h1>Logs</h1>
        <span className="muted" data-testid="logs-count" data-count={view.rows.length} data-loading={view.loading}>
          {view.loading ? `Loading… ${view.rows.length.toLocaleString()} lines` : `${view.rows.length.toLocaleString()} lines`}
        </span>
        {view.following && (
          <span className="badge following" data-testid="logs-following">
            <span className="dot" /> following
          </span>
        )}
        <span className="spacer" />
        <span className="muted small">Export</span>
        {(Object.keys(EXPORTS) as ExportFormat[]).map((f) => (
          <LoggedButton
            key={f}
            logAction="export"
            logTarget={f}
            className="small"
            disabled={view.loading || view.rows.length === 0}
            onClick={() => download(view.rows, f)}
            title={`Download the ${view.rows.length} lines shown as ${EXPORTS[f].label}`}
            data-testid={`logs-export-${f}`}
          >
            {EXPORTS[f].label}
          </LoggedButton>
        ))}
      </div>

      <ComponentLegend seen={seen} selected={filter.userActions ? ['ui'] : filter.components} onToggle={toggleComponent} />

      <form className="filters" onSubmit={apply} aria-label="Log filter">
        <select
          value={filter.level ?? ''}
          onChange={(e) => {
            log.logClick('filter-level', e.target.value || 'all');
            setFilter({ level: (e.target.value || undefined) as LogsFilter['level'] });
          }}
          aria-label="Minimum level"
          data-testid="logs-level"
        >
          <option value="">All levels</option>
          {[...LOG_LEVELS].reverse().map((l) => (
            <option key={l} value={l}>
              {l === 'error' ? 'error' : `${l} and above`}
            </option>
          ))}
        </select>
        <label className="toggle" title="Only the UI action log (component ui)">
          <input
            type="checkbox"
            checked={filter.userActions}
            onChange={(e) => {
              log.logClick('filter-user-actions', String(e.target.checked));
              setFilter({ userActions: e.target.checked });
            }}
            data-testid="logs-user-actions"
          />
          User Actions
        </label>
        <input
          placeholder="Correlation id"
          value={text.correlationId}
          onChange={(e) => setText({ ...text, correlationId: e.target.value })}
          aria-label="Correlation id"
          data-testid="logs-correlation-id"
        />
        <input
          placeholder="Search text"
          value={text.grep}
          onChange={(e) => setText({ ...text, grep: e.target.value })}
          aria-label="Search text"
          data-testid="logs-grep"
        />
        <input
          placeholder="Since (10m, RFC 3339)"
          value={text.since}
          onChange={(e) => setText({ ...text, since: e.target.value })}
          aria-label="Since"
          data-testid="logs-since"
        />
        <input
          placeholder="Until (RFC 3339, 5m)"
          value={text.until}
          onChange={(e) => setText({ ...text, until: e.target.value })}
          aria-label="Until"
          data-testid="logs-until"
        />
        <LoggedButton logAction="apply-filter" type="submit" className="primary small" data-testid="logs-apply">
          Apply
        </LoggedButton>
        <select
          value={filter.lines}
          onChange={(e) => {
            log.logClick('lines', e.target.value);
            setFilter({ lines: Number(e.target.value) });
          }}
          aria-label="Lines"
          data-testid="logs-lines"
        >
          {LINE_CHOICES.map((n) => (
            <option key={n} value={n}>
              {n.toLocaleString()} lines
            </option>
          ))}
        </select>
        <label className="toggle" title="Stream new lines as they are written">
          <input
            type="checkbox"
            checked={filter.follow}
            onChange={(e) => {
              log.logClick('follow', String(e.target.checked));
              atBottom.current = true;
              setFilter({ follow: e.target.checked });
            }}
            data-testid="logs-follow"
          />
          Follow
        </label>
        <LoggedButton logAction="refresh" className="small" onClick={() => setReload((n) => n + 1)} data-testid="logs-refresh">
          Refresh
        </LoggedButton>
        {filter.correlationId && (
          <LoggedButton
            logAction="clear-correlation-id"
            className="link"
            onClick={() => setFilter({ correlationId: undefined })}
            data-testid="logs-clear-correlation"
          >
            Show all correlation ids
          </LoggedButton>
        )}
      </form>

      {view.troubled.length > 0 && (
        <div className="error-banner" role="alert" data-testid="logs-sources-notice">
          Some log sources did not answer; their lines are missing here:
          <ul>
            {view.troubled.map((s) => (
              <li key={`${s.component}/${s.node}`} data-testid="logs-source" data-component={s.component} data-node={s.node} data-state={s.state}>
                {s.component} on {s.node}: {s.state}
                {s.message ? ` (${s.message})` : ''}
              </li>
            ))}
          </ul>
        </div>
      )}
      {view.error && (
        <div className="error-banner" role="alert" data-testid="logs-error">
          {view.error}
        </div>
      )}

      <LogsTable
        rows={view.rows}
        loading={view.loading}
        onCorrelationId={(correlationId) => setFilter({ correlationId })}
        scrollRef={scrollRef}
        virtualizer={virtualizer}
        onScrolled={(bottom) => {
          atBottom.current = bottom;
        }}
      />
    </section>
  );
}
