/**
 * Per-request bookkeeping shared by every route: the request id (taken from X-Request-Id
 * when the client sent one, a new one otherwise, returned as X-Request-Id: the correlation id
 * of the user action), the audit id (new for every request, returned as Audit-Id, as
 * kube-apiserver does: several requests of one action share a correlation id), request
 * metrics, and the access log line written when the response finishes.
 *
 * The request id is the correlation id of the user action (api-types/correlation.ts): the
 * strategy records it on the object a write changes. A header value that is not a plausible
 * id (correlationIdError) is replaced by a new one here; writes refuse it (resource-handler.ts).
 *
 * The request id is carried explicitly rather than through AsyncLocalStorage: on Node 20
 * AsyncLocalStorage installs promise hooks for the whole process, which cost about a fifth
 * of the apiserver's CPU per request (measured with hack/bench/apiserver).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CORRELATION_ID_HEADER } from '../../api-types/correlation.js';
import { newCorrelationId, type Logger } from '../../lib/logging/logger.js';
import type { ApiserverMetrics } from './metrics.js';

/** What the access log and the metrics say about a request; routes fill it in as they learn it. */
export interface RequestRecord {
  requestId: string;
  /** This request's audit id (the audit Event's auditID). */
  auditId: string;
  verb?: string;
  resource?: string;
  user?: string;
}

const records = new WeakMap<ServerResponse, RequestRecord>();

/** The record of the request this response answers (created by trackRequest). */
export function requestRecordOf(res: ServerResponse): RequestRecord {
  let record = records.get(res);
  if (!record) {
    record = { requestId: newCorrelationId(), auditId: randomUUID() };
    records.set(res, record);
  }
  return record;
}

const MAX_CORRELATION_ID_LENGTH = 128;

/** Why an X-Request-Id value cannot be a correlation id (undefined when it can): 1–128 visible ASCII characters. */
export function correlationIdError(value: string): string | undefined {
  if (value.length === 0 || value.length > MAX_CORRELATION_ID_LENGTH || !/^[\x21-\x7e]+$/.test(value)) {
    return `${CORRELATION_ID_HEADER}: must be 1 to ${MAX_CORRELATION_ID_LENGTH} visible ASCII characters (e.g. a UUID)`;
  }
  return undefined;
}

/** The request's X-Request-Id header as sent (the first, when repeated), or undefined. */
export function requestIdHeader(req: IncomingMessage): string | undefined {
  const value = req.headers['x-request-id'];
  return Array.isArray(value) ? value[0] : value;
}

/** Starts bookkeeping for one request; returns its record. */
export function trackRequest(req: IncomingMessage, res: ServerResponse, metrics: ApiserverMetrics, log: Logger): RequestRecord {
  const sent = requestIdHeader(req);
  const record: RequestRecord = { requestId: sent !== undefined && !correlationIdError(sent) ? sent : newCorrelationId(), auditId: randomUUID() };
  records.set(res, record);
  res.setHeader('X-Request-Id', record.requestId);
  res.setHeader('Audit-Id', record.auditId);
  const started = process.hrtime.bigint();
  res.once('finish', () => {
    const verb = record.verb ?? req.method?.toLowerCase() ?? '';
    const resource = record.resource ?? '';
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.requests.inc({ verb, resource, code: String(res.statusCode) });
    if (verb !== 'watch') metrics.requestDuration.observe({ verb, resource }, seconds);
    if (res.statusCode >= 500 || log.isDebugEnabled()) {
      const fields = {
        correlationId: record.requestId,
        method: req.method,
        path: (req.url ?? '').split('?')[0],
        code: res.statusCode,
        ms: Math.round(seconds * 1000),
        user: record.user,
      };
      if (res.statusCode >= 500) log.error('request failed', fields);
      else log.debug('request', fields);
    }
  });
  return record;
}
