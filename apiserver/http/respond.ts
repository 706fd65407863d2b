/** Writing responses: JSON or YAML, objects, Tables, PartialObjectMetadata, Status errors. */
import type { ServerResponse } from 'node:http';
import { stringify as toYaml } from 'yaml';
import type { KubeObject } from '../../api-types/meta.js';
import type { ServedResource } from '../registry/served-resource.js';
import type { Accepted } from './negotiation.js';
import type { ApiError } from '../../lib/apimachinery/status-error.js';
import { partialObjectMetadata, toTable } from './table.js';
import { noteResponseStatus } from '../audit/auditor.js';

/** The longest warning text sent; longer ones are cut (a field name can be as long as the body allows). */
const MAX_WARNING_CHARS = 1024;

/**
 * One `Warning: 299 - "text"` value, as Kubernetes writes it: a quoted-string with `"` and `\`
 * escaped, non-ASCII text as its UTF-8 bytes (kubectl reads them as UTF-8). Node refuses header
 * strings with characters above U+00FF, so the bytes go as Latin-1 characters; control
 * characters, which no header may hold, are escaped. Written after the object was stored, a
 * header that threw answered a successful write with a 500 (a field name in another script).
 */
export function warningHeaderValue(warning: string): string {
  const text = warning.length > MAX_WARNING_CHARS ? `${warning.slice(0, MAX_WARNING_CHARS)}…` : warning;
  const quoted = JSON.stringify(text).replace(/[\u007f]/g, '\\u007f');
  return `299 - ${Buffer.from(quoted, 'utf8').toString('latin1')}`;
}

export function sendJson(res: ServerResponse, code: number, body: unknown, yaml = false, warnings: string[] = []): void {
  const text = yaml ? toYaml(body) : JSON.stringify(body);
  res.statusCode = code;
  res.setHeader('Content-Type', yaml ? 'application/yaml' : 'application/json');
  if (warnings.length) res.setHeader('Warning', warnings.map(warningHeaderValue));
  // A Buffer body: Node writes a string body in one piece with the head, and then encodes the
  // head as UTF-8 too, which would encode the Warning's bytes a second time.
  res.end(warnings.length ? Buffer.from(text) : text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  // As Kubernetes: a 429 or 5xx that says when to come back says it in Retry-After too.
  if (err.details?.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.details.retryAfterSeconds));
  const status = err.toStatus();
  noteResponseStatus(res, status); // the audit Event's responseStatus
  sendJson(res, err.code, status);
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
