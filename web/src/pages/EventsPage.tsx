import { useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { Events } from '../api/resources.js';
import { useLiveList } from '../live/use-live-list.js';
import { LoadState } from '../ui/bits.js';
import { EventTable, sortEvents } from '../ui/EventTable.js';

const KEYS = ['type', 'kind', 'reason', 'object'] as const;

/** All Events, live, newest first, filtered by type, kind, reason and object name (in the URL). */
export function EventsPage() {
  const { items, synced, error } = useLiveList(Events);
  const [params, setParams] = useSearchParams();
  const f = Object.fromEntries(KEYS.map((k) => [k, params.get(k) ?? ''])) as Record<(typeof KEYS)[number], string>;
  const set = (key: (typeof KEYS)[number], value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  const kinds = useMemo(() => [...new Set(items.map((e) => e.involvedObject.kind ?? ''))].filter(Boolean).sort(), [items]);
  const reasons = useMemo(() => [...new Set(items.map((e) => e.reason ?? ''))].filter(Boolean).sort(), [items]);
  const rows = useMemo(() => {
    const q = f.object.toLowerCase();
    return sortEvents(
      items.filter(
        (e) =>
          (!f.type || (e.type ?? 'Normal') === f.type) &&
          (!f.kind || e.involvedObject.kind === f.kind) &&
          (!f.reason || e.reason === f.reason) &&
          (!q || `${e.involvedObject.namespace ?? ''}/${e.involvedObject.name ?? ''}`.toLowerCase().includes(q)),
      ),
    );
  }, [items, f.type, f.kind, f.reason, f.object]);
  return (
    <section>
      <div className="page-head">
        <h1>Events</h1>
        <span className="muted" data-testid="event-count">
          {rows.length === items.length ? items.length : `${rows.length} of ${items.length}`}
        </span>
      </div>
      <search className="filters">
        <select value={f.type} onChange={(e) => set('type', e.target.value)} aria-label="Type" data-testid="filter-type">
          <option value="">All types</option>
          <option>Normal</option>
          <option>Warning</option>
        </select>
        <select value={f.kind} onChange={(e) => set('kind', e.target.value)} aria-label="Kind" data-testid="filter-kind">
          <option value="">All kinds</option>
          {kinds.map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
        <select value={f.reason} onChange={(e) => set('reason', e.target.value)} aria-label="Reason" data-testid="filter-reason">
          <option value="">All reasons</option>
          {reasons.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <input placeholder="Object name" value={f.object} onChange={(e) => set('object', e.target.value)} aria-label="Object" data-testid="filter-object" />
      </search>
      <LoadState synced={synced} error={error} />
      {synced && <EventTable events={rows} />}
    </section>
  );
}
