import { ApiError } from '../../lib/apimachinery/status-error.js';
import { Groups, type UserInfo } from './identity.js';
import { reviewResourceAt, selfSubjectAccessReview, selfSubjectReview } from './self-review.js';

const admin: UserInfo = { name: 'admin', uid: 'u-admin', groups: [Groups.admins, Groups.authenticated] };
const viewer: UserInfo = { name: 'viewer', uid: '', groups: [Groups.viewers, Groups.authenticated] };
const node: UserInfo = { name: 'quantix:node:node-a', uid: 'n-a', groups: [Groups.nodes, Groups.authenticated] };

const ask = (user: UserInfo, spec: unknown) =>
  (selfSubjectAccessReview(user, { spec }) as { status: { allowed: boolean; denied?: boolean; reason: string } }).status;

describe('self reviews', () => {
  it('finds the review resources by path only', () => {
    expect(reviewResourceAt('/apis/authentication.k8s.io/v1/selfsubjectreviews')?.kind).toBe('SelfSubjectReview');
    expect(reviewResourceAt('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')?.kind).toBe('SelfSubjectAccessReview');
    expect(reviewResourceAt('/apis/authorization.k8s.io/v1/subjectaccessreviews')).toBeUndefined();
  });

  it('says who the caller is', () => {
    expect(selfSubjectReview(admin)).toMatchObject({
      kind: 'SelfSubjectReview',
      status: { userInfo: { username: 'admin', uid: 'u-admin', groups: admin.groups } },
    });
  });

  it('answers resource questions with the authorizer every request goes through, naming the rule', () => {
    expect(ask(admin, { resourceAttributes: { verb: 'delete', group: 'quantix.io', resource: 'virtualmachines', namespace: 'default' } })).toEqual({
      allowed: true,
      reason: 'admins may do anything',
    });
    expect(ask(viewer, { resourceAttributes: { verb: 'create', group: 'quantix.io', resource: 'virtualmachines' } })).toEqual({
      allowed: false,
      denied: true,
      reason: 'viewers may only get, list and watch',
    });
    expect(ask(viewer, { resourceAttributes: { verb: '*', group: '*', resource: '*' } }).allowed).toBe(false);
    expect(ask(node, { resourceAttributes: { verb: 'list', group: 'quantix.io', resource: 'virtualmachines' } })).toEqual({
      allowed: true,
      reason: 'allowed for VMs with spec.nodeName=node-a only',
    });
    expect(ask(node, { resourceAttributes: { verb: 'create', group: '', resource: 'events', namespace: 'finance' } })).toMatchObject({
      allowed: false,
      reason: 'not permitted for node credentials',
    });
    expect(ask(node, { resourceAttributes: { verb: 'get', group: 'quantix.io', resource: 'nodes', name: 'node-b' } })).toMatchObject({
      allowed: false,
      reason: 'a node may only access its own Node "node-a"',
    });
  });

  it('answers non-resource questions: viewers may read the read-only paths, nodes nothing', () => {
    expect(ask(viewer, { nonResourceAttributes: { verb: 'get', path: '/metrics' } }).allowed).toBe(true);
    expect(ask(viewer, { nonResourceAttributes: { verb: 'post', path: '/metrics' } }).allowed).toBe(false);
    expect(ask(node, { nonResourceAttributes: { verb: 'get', path: '/metrics' } }).allowed).toBe(false);
    expect(ask(admin, { nonResourceAttributes: { verb: 'delete', path: '/anything' } }).allowed).toBe(true);
  });

  it('refuses a question that is not one, naming the field', () => {
    const badRequest = (body: unknown) => {
      try {
        selfSubjectAccessReview(admin, body);
      } catch (err) {
        return err instanceof ApiError ? `${err.code} ${err.message}` : String(err);
      }
      return 'answered';
    };
    expect(badRequest({})).toBe('400 spec: exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set');
    expect(badRequest({ spec: { resourceAttributes: {}, nonResourceAttributes: {} } })).toMatch(/^400 spec: exactly one/);
    expect(badRequest({ spec: { resourceAttributes: { resource: 'vms' } } })).toBe('400 spec.resourceAttributes.verb: Required value');
  });
});
