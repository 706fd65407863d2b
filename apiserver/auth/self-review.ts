/**
 * The two questions a client asks about itself, as Kubernetes answers them, so that
 * `kubectl auth whoami` and `kubectl auth can-i` work against Quantix and the web UI can ask
 * what the signed-in user may do:
 *
 *   POST /apis/authentication.k8s.io/v1/selfsubjectreviews        → who am I
 *   POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews   → may I VERB RESOURCE
 *
 * Pure: the caller authenticates, reads the body, and sends the answer (201, as Kubernetes).
 * Nothing is stored. The answer comes from the same `authorize` every request goes through.
 */
import { errors } from '../../lib/apimachinery/status-error.js';
import { authorize, type RequestAttributes, type Verb } from './authorizer.js';
import { Groups, nodeNameOf, type UserInfo } from './identity.js';

/** The create-only review resources discovery lists (their groups hold nothing else). */
export const REVIEW_RESOURCES = [
  { group: 'authentication.k8s.io', version: 'v1', plural: 'selfsubjectreviews', singular: 'selfsubjectreview', kind: 'SelfSubjectReview' },
  { group: 'authorization.k8s.io', version: 'v1', plural: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview', kind: 'SelfSubjectAccessReview' },
] as const;

export type ReviewResource = (typeof REVIEW_RESOURCES)[number];

/** The review a POST path names, if it is one. */
export function reviewResourceAt(path: string): ReviewResource | undefined {
  return REVIEW_RESOURCES.find((r) => path === `/apis/${r.group}/${r.version}/${r.plural}`);
}

export function selfSubjectReview(user: UserInfo): object {
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
    metadata: { creationTimestamp: null },
    status: { userInfo: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups } },
  };
}

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

interface NonResourceAttributes {
  path?: string;
  verb?: string;
}

/** Non-resource paths a viewer may read (an admin may do anything; a node nothing here). */
const VIEWER_PATHS = ['/metrics', '/healthz', '/livez', '/readyz', '/version', '/openapi', '/api', '/apis', '/ui'];

function nonResourceDecision(user: UserInfo, attrs: NonResourceAttributes): { allowed: boolean; reason: string } {
  if (user.groups.includes(Groups.admins)) return { allowed: true, reason: 'admins may do anything' };
  const path = attrs.path ?? '';
  const readable = VIEWER_PATHS.some((p) => path === p || path.startsWith(`${p}/`));
  if (user.groups.includes(Groups.viewers) && attrs.verb === 'get' && readable) return { allowed: true, reason: 'viewers may read it' };
  return { allowed: false, reason: `no role grants ${attrs.verb} on ${path}` };
}

/**
 * The answer to "may I": `status.allowed`, and `status.reason` saying which rule decided.
 * A body without exactly one of resourceAttributes / nonResourceAttributes, or without a
 * verb, is a 400 naming the field.
 */
export function selfSubjectAccessReview(user: UserInfo, body: unknown): object {
  const spec = (body as { spec?: { resourceAttributes?: ResourceAttributes; nonResourceAttributes?: NonResourceAttributes } } | undefined)?.spec;
  const resource = spec?.resourceAttributes;
  const nonResource = spec?.nonResourceAttributes;
  if (!spec || (resource === undefined) === (nonResource === undefined)) {
    throw errors.badRequest('spec: exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set');
  }
  const verb = (resource ?? nonResource)?.verb;
  if (!verb) throw errors.badRequest(`spec.${resource ? 'resourceAttributes' : 'nonResourceAttributes'}.verb: Required value`);
  let decision: { allowed: boolean; reason: string };
  if (resource) {
    const attrs: RequestAttributes = {
      // Verbs the authorizer does not know (escalate, use, '*') are writes for it: only admins have them.
      verb: verb as Verb,
      apiGroup: resource.group ?? '',
      resource: resource.resource ?? '',
      ...(resource.subresource ? { subresource: resource.subresource } : {}),
      ...(resource.namespace ? { namespace: resource.namespace } : {}),
      ...(resource.name ? { name: resource.name } : {}),
    };
    const d = authorize(user, attrs);
    decision = d.allowed
      ? { allowed: true, reason: d.filterDescription ? `allowed for ${d.filterDescription} only` : roleOf(user) }
      : { allowed: false, reason: d.reason };
  } else {
    decision = nonResourceDecision(user, nonResource!);
  }
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    metadata: { creationTimestamp: null },
    spec,
    status: { allowed: decision.allowed, ...(decision.allowed ? {} : { denied: true }), reason: decision.reason },
  };
}

function roleOf(user: UserInfo): string {
  if (user.groups.includes(Groups.admins)) return 'admins may do anything';
  if (nodeNameOf(user) !== undefined) return 'allowed for its node';
  return 'viewers may get, list and watch';
}
