/**
 * Per-request bookkeeping shared by every route: the request id (taken from X-Request-Id
 * when the client sent one, a new one otherwise, returned as X-Request-Id: the correlation id
 * of the user action), the audit id (new for every request, returned as Audit-Id, as
 * kube-apiserver does: several requests of one action share a correlation id), request
 * metrics, and the access log line written when the response finishes.
 *
 * The request id is carried explicitly rather than through AsyncLocalStorage: on Node 20
 * AsyncLocalStorage installs promise hooks for the whole process, which cost about a fifth
 * of the apiserver's CPU per request (measured with hack/bench/apiserver).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** Starts bookkeeping for one request; returns its record. */
export function trackRequest(req: IncomingMessage, res: ServerResponse, metrics: ApiserverMetrics, log: Logger): RequestRecord {
  const record: RequestRecord = { requestId: String(req.headers['x-request-id'] ?? '') || newCorrelationId(), auditId: randomUUID() };
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
        requestId: record.requestId,
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
