/** Event (core/v1, namespaced): the Kubernetes Event shape `kubectl describe` and `kubectl get events` read. */
import type { Event } from '../generated/types.js';
import { int, resourceSchema, str, time } from './common.js';
import { since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

const ObjectReference = named('ObjectReference', {
  type: 'object',
  description: 'A reference to the object an event is about (core/v1 ObjectReference).',
  properties: {
    apiVersion: str('API version of the referent.'),
    kind: str('Kind of the referent.'),
    name: str('Name of the referent.'),
    namespace: str('Namespace of the referent.'),
    uid: str('UID of the referent.'),
    resourceVersion: str('Specific resourceVersion the event is about.'),
    fieldPath: str('A piece of the object, e.g. spec.disks{root}.'),
  },
} satisfies JSONSchema);

const EventType = named('EventType', {
  type: 'string',
  enum: ['Normal', 'Warning'],
  description: 'Normal: an expected transition. Warning: something needs attention.',
} satisfies JSONSchema);

function lastSeen(e: Event, now: Date): string {
  const ts = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
  return since(ts, now);
}

function objectCell(e: Event): string {
  const o = e.involvedObject;
  if (!o) return '';
  return `${text(o.kind).toLowerCase()}/${text(o.name)}`;
}

function sourceCell(e: Event): string {
  const component = e.source?.component || e.reportingComponent || '';
  const host = e.source?.host || e.reportingInstance || '';
  return host ? `${component}, ${host}` : component;
}

export const eventDefinition: ResourceDefinition<Event> = {
  group: '',
  version: 'v1',
  kind: 'Event',
  plural: 'events',
  singular: 'event',
  listKind: 'EventList',
  shortNames: ['ev'],
  categories: [],
  namespaced: true,
  hasStatus: false,
  crd: false,
  nameRule: 'dns1123Subdomain',
  schema: resourceSchema(
    'A report of something that happened to an object (core/v1 Event).',
    {
      involvedObject: ObjectReference,
      reason: str('Machine-readable CamelCase reason, e.g. Scheduled, Started, Lost, PoolDegraded, NodeNotReady.'),
      message: str('Human-readable description.'),
      type: EventType,
      count: int('How many times the event occurred (deduplicated).', { minimum: 0 }),
      firstTimestamp: time('When the event was first recorded.'),
      lastTimestamp: time('When the event was last recorded.'),
      eventTime: time('When the event was first observed (MicroTime).'),
      source: named('EventSource', {
        type: 'object',
        description: 'The component reporting the event.',
        properties: { component: str('Component, e.g. quantix-scheduler.'), host: str('Host the component runs on.') },
      } satisfies JSONSchema),
      reportingComponent: str('Controller that emitted the event, e.g. quantix.io/scheduler.'),
      reportingInstance: str('Instance of the reporting component, e.g. the host name.'),
      action: str('What was done or failed, e.g. Binding, Starting.'),
    },
    ['involvedObject'],
  ),
  printerColumns: [
    { name: 'Last Seen', type: 'date', priority: 0, jsonPath: '.lastTimestamp', description: 'When the event was last recorded.', cell: lastSeen },
    { name: 'Type', type: 'string', priority: 0, jsonPath: '.type', description: 'Normal or Warning.', cell: (e) => text(e.type) },
    { name: 'Reason', type: 'string', priority: 0, jsonPath: '.reason', description: 'Why the event happened.', cell: (e) => text(e.reason) },
    { name: 'Object', type: 'string', priority: 0, jsonPath: '.involvedObject.name', description: 'The object the event is about.', cell: objectCell },
    { name: 'Message', type: 'string', priority: 0, jsonPath: '.message', description: 'Description.', cell: (e) => text(e.message) },
    {
      name: 'Subobject',
      type: 'string',
      priority: 1,
      jsonPath: '.involvedObject.fieldPath',
      description: 'Part of the object.',
      cell: (e) => text(e.involvedObject?.fieldPath),
    },
    { name: 'Source', type: 'string', priority: 1, jsonPath: '.source.component', description: 'Reporting component.', cell: sourceCell },
    {
      name: 'First Seen',
      type: 'date',
      priority: 1,
      jsonPath: '.firstTimestamp',
      description: 'When the event was first recorded.',
      cell: (e, now) => since(e.firstTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp, now),
    },
    { name: 'Count', type: 'integer', priority: 1, jsonPath: '.count', description: 'Occurrences.', cell: (e) => e.count ?? 1 },
    { name: 'Name', type: 'string', priority: 1, jsonPath: '.metadata.name', description: 'Event name.', cell: (e) => text(e.metadata.name) },
  ],
  selectableFields: [
    ...(['apiVersion', 'kind', 'name', 'namespace', 'uid', 'resourceVersion', 'fieldPath'] as const).map((f) => ({
      path: `involvedObject.${f}`,
      get: (o: unknown) => text((o as Event).involvedObject?.[f]),
    })),
    { path: 'reason', get: (o) => text((o as Event).reason) },
    { path: 'reportingComponent', get: (o) => text((o as Event).reportingComponent) },
    { path: 'source', get: (o) => text((o as Event).source?.component) },
    { path: 'type', get: (o) => text((o as Event).type) },
  ],
};
