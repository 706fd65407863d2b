/** Small presentational pieces shared by the pages. */
import { useEffect, useState, type ReactNode } from 'react';
import { formatBytesHuman } from '../../../api-types/quantity.js';
import type { ApiError } from '../../../lib/apimachinery/status-error.js';
import { LoggedButton } from '../logging/LoggedButton.js';

const PHASE_TONE: Record<string, string> = {
  Running: 'ok',
  Ready: 'ok',
  HEALTHY: 'ok',
  True: 'ok',
  Normal: 'neutral',
  Pending: 'neutral',
  Scheduled: 'neutral',
  Starting: 'info',
  Importing: 'info',
  InProgress: 'info',
  Succeeded: 'ok',
  Active: 'ok',
  Inactive: 'warn',
  Undefined: 'bad',
  Connected: 'ok',
  Disconnected: 'warn',
  Stopping: 'info',
  Stopped: 'neutral',
  Paused: 'info',
  Degraded: 'warn',
  DEGRADED: 'warn',
  Unknown: 'warn',
  NotReady: 'bad',
  Warning: 'warn',
  UNMOUNTED: 'warn',
  Failed: 'bad',
  Error: 'bad',
  ERROR: 'bad',
  Lost: 'bad',
  Terminated: 'neutral',
  False: 'bad',
};

export function Phase({ value, title }: { value: string | undefined; title?: string }) {
  const v = value ?? 'Pending';
  return (
    <span className={`pill tone-${PHASE_TONE[v] ?? 'neutral'}`} title={title} data-phase={v}>
      {v}
    </span>
  );
}

/** A labelled usage bar: used of total, with the numbers. */
export function UsageBar({ label, used, total, format = (n) => String(n) }: { label: string; used: number; total: number; format?: (n: number) => string }) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const tone = pct > 90 ? 'bad' : pct > 75 ? 'warn' : 'ok';
  return (
    <div className="usage">
      <div className="usage-label">
        <span>{label}</span>
        <span className="muted">
          {format(used)} / {format(total)} ({total > 0 ? Math.round(pct) : 0}%)
        </span>
      </div>
      <div className="bar" role="progressbar" aria-valuenow={Math.round(pct)} aria-valuemin={0} aria-valuemax={100} aria-label={label}>
        <div className={`bar-fill tone-${tone}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

/**
 * An import's progress: a determinate bar at `percent`, or a moving stripe while the total
 * is unknown (`percent` undefined). `aria-valuenow` and `data-percent` carry the number.
 */
export function ProgressBar({ percent, text, testId }: { percent: number | undefined; text: string; testId?: string }) {
  const known = percent !== undefined;
  return (
    <div className="usage progress" data-testid={testId} data-percent={known ? percent : ''}>
      <div className="usage-label">
        <span>{text}</span>
      </div>
      <div
        className="bar"
        role="progressbar"
        aria-valuenow={known ? percent : undefined}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuetext={text}
        aria-label={text}
      >
        <div className={known ? 'bar-fill tone-info' : 'bar-fill indeterminate'} style={known ? { width: `${percent}%` } : undefined} />
      </div>
    </div>
  );
}

export const bytes = (n: number | undefined) => (n === undefined ? '—' : formatBytesHuman(n));

/** Segmented counts (a tiny stacked bar chart) with a legend. */
export function CountChart({ counts, order, testId }: { counts: Map<string, number>; order: readonly string[]; testId?: string }) {
  const keys = [...new Set([...order.filter((k) => counts.has(k)), ...counts.keys()])];
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return (
    <div className="countchart" data-testid={testId}>
      <div className="stack">
        {keys.map((k) => (
          <div key={k} className={`seg tone-${PHASE_TONE[k] ?? 'neutral'}`} style={{ flexGrow: counts.get(k) ?? 0 }} title={`${k}: ${counts.get(k)}`} />
        ))}
        {total === 0 && <div className="seg tone-empty" style={{ flexGrow: 1 }} />}
      </div>
      <ul className="legend">
        {keys.map((k) => (
          <li key={k} data-key={k}>
            <span className={`swatch tone-${PHASE_TONE[k] ?? 'neutral'}`} /> {k} <strong>{counts.get(k)}</strong>
          </li>
        ))}
        {total === 0 && <li className="muted">none</li>}
      </ul>
    </div>
  );
}

export function ErrorBanner({ error, children }: { error?: ApiError | string; children?: ReactNode }) {
  if (!error && !children) return null;
  return (
    <div className="error-banner" role="alert">
      {typeof error === 'string' ? error : error?.describe()}
      {children}
    </div>
  );
}

/** Re-renders every `ms` so ages and heartbeat times stay current. */
export function useNow(ms = 5_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function Tabs<K extends string>({ tabs, active, onSelect }: { tabs: readonly { key: K; label: string }[]; active: K; onSelect(key: K): void }) {
  return (
    <div className="tabs" role="tablist">
      {tabs.map((t) => (
        <LoggedButton
          logAction="tab"
          logTarget={t.key}
          key={t.key}
          type="button"
          role="tab"
          aria-selected={t.key === active}
          className={t.key === active ? 'tab active' : 'tab'}
          onClick={() => onSelect(t.key)}
          data-testid={`tab-${t.key}`}
        >
          {t.label}
        </LoggedButton>
      ))}
    </div>
  );
}

/** Placeholder while the first list has not arrived, or the list's error. */
export function LoadState({ synced, error }: { synced: boolean; error?: ApiError }) {
  if (error && (error.isForbidden || error.isUnauthorized)) return <ErrorBanner error={error} />;
  if (!synced) return <div className="muted loading">{error ? error.describe() : 'Loading…'}</div>;
  return null;
}
