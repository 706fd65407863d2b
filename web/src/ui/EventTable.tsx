import { Link } from 'react-router';
import type { Event } from '../../../api-types/generated/types.js';
import { formatAge } from '../model/age.js';
import { Phase, useNow } from './bits.js';
import { VirtualTable, type Column } from './VirtualTable.js';

export function eventTime(e: Event): string {
  return e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';
}

/** Newest first. */
export function sortEvents(events: readonly Event[]): Event[] {
  return [...events].sort((a, b) => eventTime(b).localeCompare(eventTime(a)));
}

/** A link to the page of the object an event is about, when the UI has one. */
export function objectLink(e: Event): string | undefined {
  const o = e.involvedObject;
  if (!o.name) return undefined;
  switch (o.kind) {
    case 'VirtualMachine':
      return `/vms/${o.namespace ?? 'default'}/${o.name}`;
    case 'Node':
      return `/nodes/${o.name}`;
    case 'StoragePool':
      return `/pools/${o.name}`;
    default:
      return undefined;
  }
}

export function EventTable({ events, maxHeight, testId = 'event-table' }: { events: readonly Event[]; maxHeight?: string; testId?: string }) {
  const now = useNow(10_000);
  const columns: Column<Event>[] = [
    { key: 'age', header: 'Last seen', width: '80px', render: (e) => formatAge(eventTime(e), now) },
    { key: 'type', header: 'Type', width: '90px', render: (e) => <Phase value={e.type ?? 'Normal'} /> },
    { key: 'reason', header: 'Reason', width: 'minmax(110px,1fr)', render: (e) => e.reason },
    {
      key: 'object',
      header: 'Object',
      width: 'minmax(220px,2fr)',
      render: (e) => {
        const to = objectLink(e);
        const label = `${e.involvedObject.kind ?? ''}/${e.involvedObject.namespace ? `${e.involvedObject.namespace}/` : ''}${e.involvedObject.name ?? ''}`;
        return to ? <Link to={to}>{label}</Link> : label;
      },
    },
    { key: 'message', header: 'Message', width: 'minmax(200px,4fr)', render: (e) => <span title={e.message}>{e.message}</span> },
    { key: 'count', header: 'Count', width: '60px', render: (e) => e.count ?? 1 },
    { key: 'source', header: 'Source', width: 'minmax(90px,1fr)', render: (e) => e.reportingComponent ?? e.source?.component ?? '' },
  ];
  return (
    <VirtualTable
      testId={testId}
      rows={events}
      columns={columns}
      rowKey={(e) => e.metadata.uid ?? `${e.metadata.namespace}/${e.metadata.name}`}
      maxHeight={maxHeight}
      rowClass={(e) => (e.type === 'Warning' ? 'row-warning' : undefined)}
      empty="No events."
    />
  );
}
