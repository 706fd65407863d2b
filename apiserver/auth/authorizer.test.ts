import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../api-types/meta.js';
import { authorize, describeRefusal, withoutHostToken } from './authorizer.js';
import { Groups, NODE_USER_PREFIX, type UserInfo } from './identity.js';

const viewer: UserInfo = { name: 'viewer', uid: 'viewer', groups: [Groups.viewers, Groups.authenticated] };
const admin: UserInfo = { name: 'admin', uid: 'admin', groups: [Groups.admins, Groups.authenticated] };
const node: UserInfo = { name: `${NODE_USER_PREFIX}n1`, uid: 'n1', groups: [Groups.nodes, Groups.authenticated] };

const FINGERPRINT = `sha256:${'AB:'.repeat(31)}AB`;
const hostJoin = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'HostJoin',
  metadata: { name: 'add-h1' },
  spec: { url: 'https://10.0.0.5:9443', hostToken: 'abcde-fghij-klmno-pqrst-uvwxy', fingerprint: FINGERPRINT },
} as KubeObject;

describe('HostJoins and the host token', () => {
  it.each(['get', 'list', 'watch'] as const)('gives a viewer a view without spec.hostToken (%s)', (verb) => {
    const decision = authorize(viewer, { verb, apiGroup: 'quantix.io', resource: 'hostjoins' });
    expect(decision.allowed).toBe(true);
    const view = decision.allowed ? decision.view : undefined;
    expect(view).toBeDefined();
    const seen = view!(hostJoin);
    expect(seen.spec).toEqual({ url: 'https://10.0.0.5:9443', fingerprint: FINGERPRINT });
    expect(JSON.stringify(seen)).not.toContain('abcde-fghij');
    expect((hostJoin.spec as { hostToken?: string }).hostToken).toBe('abcde-fghij-klmno-pqrst-uvwxy'); // a copy: the cached object is untouched
  });

  it('refuses a viewer any write to a HostJoin', () => {
    expect(authorize(viewer, { verb: 'create', apiGroup: 'quantix.io', resource: 'hostjoins' }).allowed).toBe(false);
  });

  it('gives an admin the whole object', () => {
    const decision = authorize(admin, { verb: 'get', apiGroup: 'quantix.io', resource: 'hostjoins', name: 'add-h1' });
    expect(decision).toEqual({ allowed: true });
  });

  it('keeps other resources whole for viewers', () => {
    expect(authorize(viewer, { verb: 'get', apiGroup: 'quantix.io', resource: 'virtualmachines' })).toEqual({ allowed: true });
  });

  it('returns an object without a token unchanged', () => {
    const done = { ...hostJoin, spec: { url: 'https://10.0.0.5:9443' } } as KubeObject;
    expect(withoutHostToken(done)).toBe(done);
  });
});

describe('consoles (virtualmachines/console and /vnc) are write-level', () => {
  const consoleOf = (subresource: string) => ({
    verb: 'get' as const,
    apiGroup: 'quantix.io',
    resource: 'virtualmachines',
    subresource,
    namespace: 'default',
    name: 'web',
  });

  it.each(['console', 'vnc'])('allows an admin %s', (sub) => {
    expect(authorize(admin, consoleOf(sub)).allowed).toBe(true);
  });

  it.each(['console', 'vnc'])('refuses a viewer %s, saying who was refused what', (sub) => {
    const decision = authorize(viewer, consoleOf(sub));
    expect(decision).toEqual({ allowed: false, reason: 'only admins may open consoles: typing on a console acts on the guest like a write' });
    expect(describeRefusal(viewer, consoleOf(sub), decision.allowed ? undefined : decision.reason)).toBe(
      `virtualmachines "web" is forbidden: User "viewer" cannot get resource "virtualmachines/${sub}" in API group "quantix.io" in the namespace "default": only admins may open consoles: typing on a console acts on the guest like a write`,
    );
  });

  it.each(['console', 'vnc'])('refuses a node credential %s, even for a VM bound to it', (sub) => {
    expect(authorize(node, consoleOf(sub))).toEqual({
      allowed: false,
      reason: 'node credentials may not open consoles: typing on a console acts on the guest like a write',
    });
  });

  it('keeps the VM itself readable for a viewer', () => {
    expect(authorize(viewer, { ...consoleOf('console'), subresource: undefined }).allowed).toBe(true);
  });
});
