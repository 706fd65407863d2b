import type { KubeObject } from '../../api-types/meta.js';
import { FakeClock } from '../../lib/clock/clock.js';
import { EventRecorder } from './events.js';
import { FakeApiClient } from './fakeclient.js';
import { Events } from './resources.js';
import { ApiError } from '../../lib/apimachinery/status-error.js';

const vm: KubeObject = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'web', namespace: 'prod', uid: 'u1', resourceVersion: '5' },
};
const node: KubeObject = { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'n1', uid: 'u2' } };

function setup() {
  const client = new FakeApiClient();
  const clock = new FakeClock();
  const rec = new EventRecorder({ client, component: 'quantix-scheduler', instance: 'cm-1', clock });
  return { client, clock, rec };
}

describe('EventRecorder', () => {
  it('creates a core/v1 Event naming the object, reason, message and source', async () => {
    const { client, rec } = setup();
    rec.record(vm, { type: 'Normal', reason: 'Scheduled', message: 'bound to n1', action: 'Binding' });
    await rec.flush();
    const [created] = client.writes('events');
    expect(created!.verb).toBe('create');
    const ev = created!.body as Record<string, unknown>;
    expect(ev).toMatchObject({
      metadata: { namespace: 'prod' },
      involvedObject: { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', name: 'web', namespace: 'prod', uid: 'u1' },
      type: 'Normal',
      reason: 'Scheduled',
      message: 'bound to n1',
      count: 1,
      source: { component: 'quantix-scheduler', host: 'cm-1' },
      action: 'Binding',
    });
    expect(String((ev.metadata as { name: string }).name)).toMatch(/^web\./);
  });

  it('aggregates repeats by bumping count and lastTimestamp', async () => {
    const { client, clock, rec } = setup();
    for (let i = 0; i < 3; i++) {
      rec.record(vm, { type: 'Warning', reason: 'FailedScheduling', message: '0/3 nodes available: 3 insufficient memory' });
      clock.advance(1000);
    }
    await rec.flush();
    const writes = client.writes('events');
    expect(writes.map((w) => w.verb)).toEqual(['create', 'patch', 'patch']);
    const stored = [...client.objects.values()];
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      count: 3,
      firstTimestamp: new Date(clock.now() - 3000).toISOString(),
      lastTimestamp: new Date(clock.now() - 1000).toISOString(),
    });
  });

  it('keeps different messages, reasons and objects apart', async () => {
    const { client, rec } = setup();
    rec.record(vm, { type: 'Warning', reason: 'FailedScheduling', message: 'a' });
    rec.record(vm, { type: 'Warning', reason: 'FailedScheduling', message: 'b' });
    rec.record(vm, { type: 'Normal', reason: 'Scheduled', message: 'a' });
    rec.record(node, { type: 'Warning', reason: 'NodeNotReady', message: 'a' });
    await rec.flush();
    expect(client.writes('events').map((w) => w.verb)).toEqual(['create', 'create', 'create', 'create']);
    const nodeEvent = [...client.objects.values()].find((e) => (e as { reason?: string }).reason === 'NodeNotReady');
    expect(nodeEvent!.metadata.namespace).toBe('default'); // cluster-scoped objects: events in default
  });

  it('starts a new Event when the aggregated one is gone', async () => {
    const { client, rec } = setup();
    rec.record(vm, { type: 'Normal', reason: 'Started', message: 'x' });
    await rec.flush();
    client.objects.clear();
    rec.record(vm, { type: 'Normal', reason: 'Started', message: 'x' });
    await rec.flush();
    expect(client.writes('events').map((w) => w.verb)).toEqual(['create', 'patch', 'create']);
  });

  it('never throws into the caller when the API fails', async () => {
    const { client, rec } = setup();
    client.failNext = { verb: 'create', error: new ApiError(500, 'InternalError', 'etcd down') };
    expect(() => rec.record(vm, { type: 'Normal', reason: 'Started', message: 'x' })).not.toThrow();
    await rec.flush();
    expect(rec.stats.failed).toBe(1);
    expect(Events.plural).toBe('events');
  });
});

describe('EventRecorder rate limit', () => {
  const flush = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  it('writes a burst at once, then at qps; drops beyond the backlog cap', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock();
    const rec = new EventRecorder({ client, component: 'c', instance: 'i', clock, qps: 10, burst: 3, maxPending: 6 });
    for (let i = 0; i < 8; i++)
      rec.record({ ...vm, metadata: { ...vm.metadata, uid: `u${i}`, name: `vm${i}` } }, { type: 'Normal', reason: 'Scheduled', message: 'x' });
    await flush();
    expect(client.writes('events')).toHaveLength(3);
    expect(rec.stats.dropped).toBe(2);
    clock.advance(100);
    await flush();
    expect(client.writes('events')).toHaveLength(4);
    clock.advance(1000);
    await flush();
    await rec.flush();
    expect(client.writes('events')).toHaveLength(6);
  });
});
