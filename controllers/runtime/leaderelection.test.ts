import type { Lease } from '../../api-types/generated/types.js';
import { FakeClock } from '../../lib/clock/clock.js';
import type { ApiClient } from './client.js';
import { FakeApiClient } from './fakeclient.js';
import { decide, LeaderElector } from './leaderelection.js';
import { Leases } from './resources.js';

const T0 = 1_700_000_000_000;
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

describe('decide', () => {
  it.each([
    ['no lease: create it', undefined, false, 0, 'create', 'me', 0],
    ['free lease (released): take it', { holderIdentity: '', leaseTransitions: 3 }, true, T0, 'update', 'me', 3],
    ['mine: renew, keep transitions', { holderIdentity: 'me', leaseTransitions: 2, acquireTime: 'A' }, true, T0, 'update', 'me', 2],
    ['held by other, fresh: wait', { holderIdentity: 'other', leaseDurationSeconds: 15 }, true, T0 - 14_000, 'wait', 'other', undefined],
    [
      'held by other, expired on my clock: take it',
      { holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 1 },
      true,
      T0 - 15_000,
      'update',
      'me',
      2,
    ],
  ] as const)('%s', (_label, spec, exists, observedAt, action, holder, transitions) => {
    const d = decide(spec as never, exists, observedAt, T0, 'me', 15_000);
    expect(d.action).toBe(action);
    if (d.action === 'wait') expect(d.holder).toBe(holder);
    else {
      expect(d.spec.holderIdentity).toBe(holder);
      expect(d.spec.leaseTransitions).toBe(transitions);
      expect(d.spec.renewTime).toBe(iso(T0));
    }
  });

  it('keeps acquireTime on renew, resets it on takeover', () => {
    const renew = decide({ holderIdentity: 'me', acquireTime: 'then' }, true, T0, T0, 'me', 15_000);
    expect(renew.action === 'update' && renew.spec.acquireTime).toBe('then');
    const take = decide({ holderIdentity: 'x', acquireTime: 'then', leaseDurationSeconds: 1 }, true, T0 - 2000, T0, 'me', 15_000);
    expect(take.action === 'update' && take.spec.acquireTime).toBe(iso(T0));
  });

  it('uses the local observation time, not the renewTime written by the holder (clock skew)', () => {
    // The holder's clock is an hour behind: its renewTime looks stale, but we saw it change just now.
    const d = decide({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: iso(T0 - 3_600_000) }, true, T0 - 1000, T0, 'me', 15_000);
    expect(d.action).toBe('wait');
  });
});

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function candidate(client: ApiClient, clock: FakeClock, identity: string, log: string[]) {
  return new LeaderElector({
    client,
    clock,
    namespace: 'quantix-system',
    name: 'quantix-controller-manager',
    identity,
    leaseDurationMs: 1500,
    renewDeadlineMs: 1000,
    retryPeriodMs: 200,
    onStartedLeading: () => log.push(`${identity} started`),
    onStoppedLeading: () => log.push(`${identity} stopped`),
  });
}

async function advance(clock: FakeClock, ms: number, step = 50) {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await flush();
  }
}

describe('LeaderElector', () => {
  it('one of two candidates leads; the standby takes over after the leader dies', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock(T0);
    const log: string[] = [];
    const a = candidate(client, clock, 'a', log);
    const b = candidate(client, clock, 'b', log);
    void a.run();
    await flush();
    void b.run();
    await advance(clock, 1000);
    expect(log).toEqual(['a started']);
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    // a keeps renewing: b never takes over while a lives
    await advance(clock, 5000);
    expect(log).toEqual(['a started']);

    await a.stop(false); // a crash: no release
    log.length = 0;
    await advance(clock, 1300);
    expect(b.isLeader()).toBe(false); // lease not expired yet on b's clock
    await advance(clock, 800);
    expect(b.isLeader()).toBe(true);
    const lease = (await client.get<Lease>(Leases, 'quantix-system', 'quantix-controller-manager')).spec!;
    expect(lease.holderIdentity).toBe('b');
    expect(lease.leaseTransitions).toBe(1);
    await b.stop();
  });

  it('a graceful stop releases the lease so the standby takes over at its next retry', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock(T0);
    const log: string[] = [];
    const a = candidate(client, clock, 'a', log);
    const b = candidate(client, clock, 'b', log);
    void a.run();
    await flush();
    void b.run();
    await advance(clock, 500);
    await a.stop();
    expect(log).toEqual(['a started', 'a stopped']);
    await advance(clock, 300);
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });

  it('the leader steps down when it cannot renew within the renew deadline', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock(T0);
    const log: string[] = [];
    const a = candidate(client, clock, 'a', log);
    const done = a.run();
    await advance(clock, 100);
    expect(a.isLeader()).toBe(true);
    // The API becomes unreachable: every request fails.
    const origGet = client.get.bind(client);
    const origUpdate = client.update.bind(client);
    const refused = async () => {
      throw new Error('ECONNREFUSED');
    };
    client.get = refused as typeof client.get;
    client.update = refused as typeof client.update;
    await advance(clock, 1200);
    await done;
    expect(a.isLeader()).toBe(false);
    expect(log).toEqual(['a started', 'a stopped']);
    client.get = origGet;
    client.update = origUpdate;
  });

  it('the leader renews with one write of the Lease it last wrote, reading it only when that write fails', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock(T0);
    const a = candidate(client, clock, 'a', []);
    void a.run();
    await advance(clock, 100);
    expect(a.isLeader()).toBe(true);
    let reads = 0;
    const get = client.get.bind(client);
    client.get = ((...args: Parameters<typeof client.get>) => {
      reads++;
      return get(...args);
    }) as typeof client.get;
    client.calls.length = 0;
    await advance(clock, 1000); // about 5 renewals at a 200 ms retry period
    expect(client.calls.length).toBeGreaterThanOrEqual(4);
    expect(new Set(client.calls.map((c) => c.verb))).toEqual(new Set(['update']));
    expect(reads).toBe(0);
    // Someone else wrote the Lease (a new resourceVersion): the renewal conflicts, reads, and renews.
    const lease = await get<Lease>(Leases, 'quantix-system', 'quantix-controller-manager');
    await client.update(Leases, { ...lease, spec: { ...lease.spec, renewTime: iso(T0) } });
    await advance(clock, 300);
    expect(reads).toBeGreaterThan(0);
    expect(a.isLeader()).toBe(true);
    expect((await get<Lease>(Leases, 'quantix-system', 'quantix-controller-manager')).spec?.holderIdentity).toBe('a');
    await a.stop();
  });

  it('the leader steps down at once when it sees another holder', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock(T0);
    const log: string[] = [];
    const a = candidate(client, clock, 'a', log);
    const done = a.run();
    await advance(clock, 100);
    const lease = await client.get<Lease>(Leases, 'quantix-system', 'quantix-controller-manager');
    await client.update(Leases, { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } });
    await advance(clock, 300);
    await done;
    expect(log).toEqual(['a started', 'a stopped']);
  });

  it('rejects timings where a standby could take over before the leader steps down', () => {
    expect(
      () =>
        new LeaderElector({
          client: new FakeApiClient(),
          namespace: 'n',
          name: 'l',
          identity: 'a',
          leaseDurationMs: 1000,
          renewDeadlineMs: 1000,
          onStartedLeading() {},
          onStoppedLeading() {},
        }),
    ).toThrow(/renewDeadline/);
  });

  it('fences writes: a leader whose renewals stall stops holding the lease before a standby can take it', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock(T0);
    const log: string[] = [];
    // a's requests hang from some point on (a stalled connection, a partitioned replica).
    let stalled = false;
    const aClient = new Proxy(client, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (stalled ? new Promise(() => undefined) : (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    const a = candidate(aClient, clock, 'a', log);
    const b = candidate(client, clock, 'b', log);
    void a.run();
    await flush();
    void b.run();
    await advance(clock, 500);
    expect(a.holdsLease()).toBe(true);
    expect(b.isLeader()).toBe(false);

    stalled = true;
    // One jump of the renew deadline, before a's renew loop has run: the fence is already down.
    clock.advance(1000);
    expect(a.holdsLease()).toBe(false);
    const overlaps: number[] = [];
    for (let t = 0; t < 3000; t += 50) {
      clock.advance(50);
      await flush();
      if (a.holdsLease() && b.isLeader()) overlaps.push(t);
    }
    expect(b.isLeader()).toBe(true);
    expect(a.holdsLease()).toBe(false);
    expect(overlaps).toEqual([]);
    await b.stop();
    stalled = false;
    await a.stop(false);
  });
});
