/** Writing responses: JSON or YAML, objects, Tables, PartialObjectMetadata, Status errors. */
import type { ServerResponse } from 'node:http';
import { stringify as toYaml } from 'yaml';
import type { KubeObject } from '../../api-types/meta.js';
import type { ServedResource } from '../registry/served-resource.js';
import type { Accepted } from './negotiation.js';
import type { ApiError } from '../../lib/apimachinery/status-error.js';
import { partialObjectMetadata, toTable } from './table.js';

export function sendJson(res: ServerResponse, code: number, body: unknown, yaml = false, warnings: string[] = []): void {
  const text = yaml ? toYaml(body) : JSON.stringify(body);
  res.statusCode = code;
  res.setHeader('Content-Type', yaml ? 'application/yaml' : 'application/json');
  if (warnings.length)
    res.setHeader(
      'Warning',
      warnings.map((warning) => `299 - ${JSON.stringify(warning)}`),
    );
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, err.code, err.toStatus());
}

/** One object in the representation the client asked for. */
export function renderObject(sr: ServedResource, obj: KubeObject, accepted: Accepted): unknown {
  if (accepted.form === 'table') return toTable(sr.def, [obj], { resourceVersion: obj.metadata.resourceVersion });
  if (accepted.form === 'partial-metadata') return partialObjectMetadata(obj);
  return obj;
}

export function renderList(
  sr: ServedResource,
  items: KubeObject[],
  listMeta: { resourceVersion?: string; continue?: string; remainingItemCount?: number },
  accepted: Accepted,
): unknown {
  if (accepted.form === 'table') return toTable(sr.def, items, listMeta);
  if (accepted.form === 'partial-metadata') {
    return {
      kind: 'PartialObjectMetadataList',
      apiVersion: 'meta.k8s.io/v1',
      metadata: listMeta,
      items: items.map((item) => partialObjectMetadata(item)),
    };
  }
  return {
    kind: sr.def.listKind,
    apiVersion: sr.apiVersion,
    metadata: listMeta,
    items: items.map((item) => withTypeMeta(sr, item)),
  };
}

/** Items carry apiVersion and kind (clients such as kubectl rely on it). */
export function withTypeMeta(sr: ServedResource, obj: KubeObject): KubeObject {
  if (obj.apiVersion === sr.apiVersion && obj.kind === sr.def.kind) return obj;
  return { apiVersion: sr.apiVersion, kind: sr.def.kind, ...obj };
}
