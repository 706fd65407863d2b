/** Shared fixtures for the patch tests: a small VirtualMachine-like schema. */
import type { KubeObject } from '../../api-types/meta.js';
import type { StructuralSchema } from './schema.js';

const str: StructuralSchema = { type: 'string' };

export const API_VERSION = 'quantix.io/v1alpha1';

/** A VM-like kind: a list-map, an atomic list, a set, a string map, an atomic map and a status. */
export const vmSchema: StructuralSchema = {
  type: 'object',
  properties: {
    apiVersion: str,
    kind: str,
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      properties: {
        cpu: { type: 'integer' },
        memory: str,
        runStrategy: str,
        disks: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: { type: 'object', properties: { name: str, size: str, storagePool: str, bus: str } },
        },
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['protocol', 'port'],
          items: { type: 'object', properties: { port: { type: 'integer' }, protocol: str, name: str } },
        },
        networks: { type: 'array', items: { type: 'object', properties: { name: str, source: str } } },
        tags: { type: 'array', items: str, 'x-kubernetes-list-type': 'set' },
        nodeSelector: { type: 'object', additionalProperties: str },
        firmware: { type: 'object', 'x-kubernetes-map-type': 'atomic', properties: { type: str, secureBoot: { type: 'boolean' } } },
      },
    },
    status: {
      type: 'object',
      properties: {
        phase: str,
        nodeName: str,
        conditions: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['type'],
          items: { type: 'object', properties: { type: str, status: str, reason: str } },
        },
        hosts: { type: 'object', additionalProperties: { type: 'object', properties: { health: str, message: str } } },
      },
    },
  },
};

/** A VirtualMachine with the given spec (and optional extras), as stored. */
export function vm(spec: Record<string, unknown>, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: 'VirtualMachine',
    ...extra,
    metadata: { name: 'web', namespace: 'default', ...extra.metadata },
    spec,
  };
}

/** Times used by the tests. */
export const T1 = new Date('2025-01-01T10:00:00.123Z');
export const T2 = new Date('2025-01-01T11:00:00Z');
export const T3 = new Date('2025-01-01T12:00:00Z');
