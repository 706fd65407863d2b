/**
 * What the audit log never writes, whatever the level (Request and RequestResponse included):
 * the values of the fields the API treats as secret, wherever they sit in a request or
 * response body (an object, a list's items, a merge or apply patch, a JSON patch's values):
 *
 * - `userData`, `networkData`: VirtualMachine spec.cloudInit (cloud-init often carries
 *   passwords and keys; the schema says it is never logged);
 * - `hostToken`: HostJoin spec (the authorizer already hides it from viewers);
 * - `token`: BootstrapToken status.token (only ever in the create response), and any other
 *   token-named field;
 * - `password`, `privateKey`, `keyPem`, `clientKey`: keys and passwords, should any body carry one;
 * - `url` values are printed as `redactUrl` prints them (api-types/url-redaction.ts): without
 *   user info, query or fragment, where signed download links keep their secrets.
 *
 * - the annotation `kubectl.kubernetes.io/last-applied-configuration` (kubectl apply keeps the
 *   whole applied object there as JSON): redacted as a body, or dropped when it is not JSON.
 *
 * Bearer tokens and client certificates are never in an Event: it records neither headers nor
 * the TLS peer, only the user they authenticated.
 */
import { redactUrl } from '../../api-types/url-redaction.js';

export const REDACTED = '(redacted)';

export const SECRET_FIELDS: ReadonlySet<string> = new Set(['userData', 'networkData', 'hostToken', 'token', 'password', 'privateKey', 'keyPem', 'clientKey']);

const URL_FIELDS: ReadonlySet<string> = new Set(['url']);

/** A copy of `value` with secret fields replaced by REDACTED (and, with omitManagedFields, without metadata.managedFields). */
export function redactObject(value: unknown, options: { omitManagedFields?: boolean } = {}): unknown {
  return walk(value, options.omitManagedFields ?? false);
}

function walk(value: unknown, omitManagedFields: boolean): unknown {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every(isJsonPatchOperation)) return value.map((op) => redactJsonPatchOperation(op, omitManagedFields));
    return value.map((item) => walk(item, omitManagedFields));
  }
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_FIELDS.has(key) && child !== undefined && child !== null) out[key] = REDACTED;
    else if (URL_FIELDS.has(key) && typeof child === 'string') out[key] = redactUrl(child);
    else if (key === 'annotations' && child !== null && typeof child === 'object' && LAST_APPLIED in child)
      out[key] = redactAnnotations(child as Record<string, unknown>, omitManagedFields);
    else if (key === 'metadata' && omitManagedFields && child !== null && typeof child === 'object' && !Array.isArray(child)) {
      const { managedFields: _omitted, ...rest } = child as Record<string, unknown>;
      out[key] = walk(rest, omitManagedFields);
    } else out[key] = walk(child, omitManagedFields);
  }
  return out;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function redactAnnotations(annotations: Record<string, unknown>, omitManagedFields: boolean): Record<string, unknown> {
  const out = { ...annotations };
  const applied = out[LAST_APPLIED];
  try {
    out[LAST_APPLIED] = typeof applied === 'string' ? JSON.stringify(walk(JSON.parse(applied), omitManagedFields)) : REDACTED;
  } catch {
    out[LAST_APPLIED] = REDACTED;
  }
  return out;
}

interface JsonPatchOperation {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function isJsonPatchOperation(item: unknown): item is JsonPatchOperation {
  return (
    item !== null && typeof item === 'object' && typeof (item as JsonPatchOperation).op === 'string' && typeof (item as JsonPatchOperation).path === 'string'
  );
}

/** A JSON patch op that writes under a secret field (`/spec/cloudInit/userData`) has its value redacted whole. */
function redactJsonPatchOperation(op: JsonPatchOperation, omitManagedFields: boolean): unknown {
  if (!('value' in op)) return op;
  const segments = op.path.split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (segments.some((segment) => SECRET_FIELDS.has(segment))) return { ...op, value: REDACTED };
  const last = segments[segments.length - 1]!;
  if (URL_FIELDS.has(last) && typeof op.value === 'string') return { ...op, value: redactUrl(op.value) };
  return { ...op, value: walk(op.value, omitManagedFields) };
}

const BEARER = /\b(Bearer\s+)[^\s"',;\\]+/gi;
const BOOTSTRAP_TOKEN = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g;

/**
 * Free text (a UI log entry, a URI, a serialised body) without the secrets it may carry by
 * mistake: the caller's own bearer token, `Bearer …` values and bootstrap tokens.
 */
export function scrubSecrets(text: string, callerToken: string | undefined): string {
  const out = callerToken && callerToken.length >= 8 && text.includes(callerToken) ? text.split(callerToken).join(REDACTED) : text;
  return out.replace(BEARER, `$1${REDACTED}`).replace(BOOTSTRAP_TOKEN, REDACTED);
}

/** The bearer token of a request's Authorization header. */
export function bearerTokenOf(authorization: string | undefined): string | undefined {
  return authorization ? /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim() : undefined;
}
