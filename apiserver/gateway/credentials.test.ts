import type { Etcd3 } from 'etcd3';
import { NodeCredentialAuthenticator } from './credentials.js';

/** An authenticator whose store answers from `verify` (no etcd), counting the lookups. */
function authenticatorWith(verify: (token: string) => Promise<unknown>) {
  const auth = new NodeCredentialAuthenticator();
  auth.attach({} as Etcd3);
  const calls: string[] = [];
  (auth.store as { verify: (token: string) => Promise<unknown> }).verify = (token) => {
    calls.push(token);
    return verify(token);
  };
  return { auth, calls };
}

describe('NodeCredentialAuthenticator caches', () => {
  it('refuses a token that failed from memory: repeating it costs no second lookup', async () => {
    const { auth, calls } = authenticatorWith(async () => undefined);
    expect(await auth.authenticate('node-a.wrong-secret')).toBeUndefined();
    expect(await auth.authenticate('node-a.wrong-secret')).toBeUndefined();
    expect(await auth.authenticate('node-a.wrong-secret')).toBeUndefined();
    expect(calls).toEqual(['node-a.wrong-secret']);
    // Another bad token is looked up once too.
    expect(await auth.authenticate('node-a.other-secret')).toBeUndefined();
    expect(calls).toHaveLength(2);
  });

  it('does not remember an etcd error as a failure: the next request looks again', async () => {
    let etcdDown = true;
    const { auth, calls } = authenticatorWith(async (token) => {
      if (etcdDown) throw new Error('etcd unavailable');
      return { node: 'node-a', record: { node: 'node-a', machineID: 'm', nodeUID: 'uid-a', secrets: [], createdAt: '' }, token };
    });
    expect(await auth.authenticate('node-a.secret')).toBeUndefined();
    etcdDown = false;
    expect(await auth.authenticate('node-a.secret')).toMatchObject({ name: 'quantix:node:node-a', uid: 'uid-a' });
    // Verified: served from memory now.
    expect(await auth.authenticate('node-a.secret')).toMatchObject({ name: 'quantix:node:node-a' });
    expect(calls).toHaveLength(2);
  });

  it('keeps at most 10,000 failed tokens (a flood of random tokens cannot grow the heap): the oldest are looked up again', async () => {
    const { auth, calls } = authenticatorWith(async () => undefined);
    for (let i = 0; i <= 10_000; i++) await auth.authenticate(`node.flood-${i}`);
    expect(calls).toHaveLength(10_001);
    await auth.authenticate('node.flood-0'); // dropped as the oldest: looked up again
    await auth.authenticate('node.flood-10000'); // still remembered
    expect(calls).toHaveLength(10_002);
    expect(calls.at(-1)).toBe('node.flood-0');
  });
});
