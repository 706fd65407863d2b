/** apiextensions.k8s.io/v1 CustomResourceDefinitions for the Quantix kinds. */
import type { ResourceDefinition, JSONSchema } from './schema/types.js';

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    scope: 'Namespaced' | 'Cluster';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: Record<string, never> };
      additionalPrinterColumns?: { name: string; type: string; format?: string; description?: string; priority?: number; jsonPath: string }[];
      selectableFields?: { jsonPath: string }[];
      schema: { openAPIV3Schema: JSONSchema };
    }[];
  };
}

/** The schema as a CRD wants it: plain JSON, `metadata` reduced to `type: object`. */
export function crdSchema(def: ResourceDefinition): JSONSchema {
  const schema = structuredClone(def.schema);
  if (schema.properties?.metadata) schema.properties.metadata = { type: 'object' };
  return schema;
}

export function crdFor(def: ResourceDefinition): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${def.group}` },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: def.listKind,
        plural: def.plural,
        singular: def.singular,
        ...(def.shortNames.length ? { shortNames: [...def.shortNames] } : {}),
        ...(def.categories.length ? { categories: [...def.categories] } : {}),
      },
      scope: def.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          ...(def.hasStatus ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: def.printerColumns.map((c) => ({
            name: c.name,
            type: c.type,
            ...(c.format ? { format: c.format } : {}),
            description: c.description,
            priority: c.priority,
            jsonPath: c.jsonPath,
          })),
          ...(def.selectableFields.length ? { selectableFields: def.selectableFields.map((f) => ({ jsonPath: `.${f.path}` })) } : {}),
          schema: { openAPIV3Schema: crdSchema(def) },
        },
      ],
    },
  };
}
