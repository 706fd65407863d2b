/** Lease (coordination.k8s.io/v1, namespaced): leader election for quantix-controller-manager. */
import type { Lease } from '../generated/types.js';
import { int, resourceSchema, str, time } from './common.js';
import { since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

export const leaseDefinition: ResourceDefinition<Lease> = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  plural: 'leases',
  singular: 'lease',
  listKind: 'LeaseList',
  shortNames: [],
  categories: [],
  namespaced: true,
  hasStatus: false,
  crd: false,
  nameRule: 'dns1123Subdomain',
  schema: resourceSchema('A lease: who holds a lock and until when (coordination.k8s.io/v1 Lease).', {
    spec: named('LeaseSpec', {
      type: 'object',
      description: 'The lease.',
      properties: {
        holderIdentity: str('Identity of the current holder.'),
        leaseDurationSeconds: int('How long a holder keeps the lease without renewing it.', { minimum: 1 }),
        acquireTime: time('When the current holder acquired the lease (MicroTime).'),
        renewTime: time('When the holder last renewed the lease (MicroTime).'),
        leaseTransitions: int('How many times the lease changed holders.', { minimum: 0 }),
      },
    } satisfies JSONSchema),
  }),
  printerColumns: [
    {
      name: 'Holder',
      type: 'string',
      priority: 0,
      jsonPath: '.spec.holderIdentity',
      description: 'Current holder.',
      cell: (l) => text(l.spec?.holderIdentity),
    },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (l, now) => since(l.metadata.creationTimestamp, now),
    },
  ],
  selectableFields: [{ path: 'spec.holderIdentity', get: (o) => text((o as Lease).spec?.holderIdentity) }],
};
