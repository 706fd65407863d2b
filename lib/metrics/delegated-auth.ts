/**
 * Who may read a component's /metrics, decided by the apiserver: the caller's bearer token is
 * sent to the apiserver in a SelfSubjectAccessReview for `get /metrics` (the same rule the
 * apiserver's own /metrics follows: admins and viewers). This is Kubernetes' delegated
 * authentication and authorization (a kubelet or kube-controller-manager asks TokenReview and
 * SubjectAccessReview) with the one review Quantix's apiserver answers for any caller; the
 * component needs no credential of its own for it.
 *
 * Decisions are cached per token (by its SHA-256, never the token itself) for a short while,
 * and concurrent scrapes with one token share one review, so a Prometheus scraping every 15 s
 * costs the apiserver one review per cache period, not one per scrape.
 */
import { createHash } from 'node:crypto';
import https from 'node:https';

export type AccessDecision =
  | { allowed: true }
  /** 401: no or unknown token; 403: known but not allowed; 503: the apiserver could not answer. */
  | { allowed: false; code: 401 | 403 | 503; reason: 'Unauthorized' | 'Forbidden' | 'ServiceUnavailable'; message: string };

export interface TokenAuthorizer {
  authorize(token: string): Promise<AccessDecision>;
}

/** One review answer: the HTTP status and the parsed body (if any). */
export interface ReviewAnswer {
  status: number;
  body: unknown;
}

/** Sends a review with the caller's token (overridable in unit tests). */
export type ReviewTransport = (token: string, review: object) => Promise<ReviewAnswer>;

export interface DelegatedAuthorizerOptions {
  /** The apiserver, https://HOST:PORT. */
  server: string;
  /** CA of the apiserver's serving certificate. */
  caPem: string;
  /** The non-resource path asked about (default /metrics). */
  path?: string;
  /** How long an allow or deny is remembered (default 10 s); failures to ask are not remembered. */
  cacheTtlMs?: number;
  /** Tokens remembered at most (default 256; the oldest go first). */
  maxEntries?: number;
  /** Per review (default 5 s). */
  timeoutMs?: number;
  now?: () => number;
  transport?: ReviewTransport;
}

export const SELF_SUBJECT_ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

export class DelegatedAuthorizer implements TokenAuthorizer {
  readonly #o: DelegatedAuthorizerOptions;
  readonly #now: () => number;
  readonly #transport: ReviewTransport;
  readonly #cache = new Map<string, { until: number; decision: Promise<AccessDecision> }>();
  /** Reviews sent (tests: the cache works). */
  reviews = 0;

  constructor(options: DelegatedAuthorizerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#transport = options.transport ?? httpsTransport(options.server, options.caPem, options.timeoutMs ?? 5_000);
  }

  authorize(token: string): Promise<AccessDecision> {
    if (!token) return Promise.resolve(unauthorized('a bearer token is required'));
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.decision;
    this.#cache.delete(key);
    const decision = this.#review(token);
    const entry = { until: now + (this.#o.cacheTtlMs ?? 10_000), decision };
    this.#cache.set(key, entry);
    // A failure to ask is not an answer: the next scrape asks again.
    void decision.then((d) => {
      if (!d.allowed && d.code === 503 && this.#cache.get(key) === entry) this.#cache.delete(key);
    });
    const max = this.#o.maxEntries ?? 256;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
    return decision;
  }

  async #review(token: string): Promise<AccessDecision> {
    this.reviews++;
    const path = this.#o.path ?? '/metrics';
    let answer: ReviewAnswer;
    try {
      answer = await this.#transport(token, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { nonResourceAttributes: { verb: 'get', path } },
      });
    } catch (err) {
      return unavailable(`cannot reach the apiserver to authorize the request: ${(err as Error).message}`);
    }
    return decisionOf(answer, path);
  }
}

/** The review's answer as a decision (pure; unit-tested). */
export function decisionOf(answer: ReviewAnswer, path = '/metrics'): AccessDecision {
  if (answer.status === 401) return unauthorized('the apiserver does not know this token');
  if (answer.status === 201 || answer.status === 200) {
    const status = (answer.body as { status?: { allowed?: unknown; reason?: unknown } } | undefined)?.status;
    if (status?.allowed === true) return { allowed: true };
    const why = typeof status?.reason === 'string' ? `: ${status.reason}` : '';
    return { allowed: false, code: 403, reason: 'Forbidden', message: `forbidden to get path "${path}"${why}` };
  }
  if (answer.status === 403) return { allowed: false, code: 403, reason: 'Forbidden', message: `forbidden to get path "${path}"` };
  return unavailable(`the apiserver answered the access review with HTTP ${answer.status}`);
}

function unauthorized(message: string): AccessDecision {
  return { allowed: false, code: 401, reason: 'Unauthorized', message };
}

function unavailable(message: string): AccessDecision {
  return { allowed: false, code: 503, reason: 'ServiceUnavailable', message };
}

function httpsTransport(server: string, caPem: string, timeoutMs: number): ReviewTransport {
  const url = new URL(SELF_SUBJECT_ACCESS_REVIEW_PATH, server);
  // An IP address is not a TLS server name: every apiserver certificate carries "localhost".
  const servername = /^[\d.]+$|:/.test(url.hostname) ? 'localhost' : url.hostname;
  const agent = new https.Agent({ ca: caPem, keepAlive: true, maxSockets: 4, servername });
  return (token, review) =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify(review);
      const req = https.request(
        url,
        {
          method: 'POST',
          agent,
          timeout: timeoutMs,
          headers: {
            Authorization: `Bearer ${token}`,
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'Content-Length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
}
