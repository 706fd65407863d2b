import type { KubeObject } from '../../api-types/meta.js';
import { FakeClock } from '../../lib/clock/clock.js';
import { EventRecorder } from './events.js';
import { FakeApiClient } from './fakeclient.js';
import { Events } from './resources.js';
import { ApiError } from '../../lib/apimachinery/status-error.js';
import type { Logger } from '../../lib/logging/logger.js';

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

  it("carries the object's correlation id: in the Event's annotation and as X-Request-Id of its writes; other actions are not aggregated with it", async () => {
    const { client, rec } = setup();
    const annotated = (id: string): KubeObject => ({ ...vm, metadata: { ...vm.metadata, annotations: { 'quantix.io/correlation-id': id } } });
    rec.record(annotated('cid-stop'), { type: 'Normal', reason: 'Stopping', message: 'stop requested' });
    await rec.flush();
    rec.record(annotated('cid-stop'), { type: 'Normal', reason: 'Stopping', message: 'stop requested' });
    await rec.flush();
    rec.record(annotated('cid-again'), { type: 'Normal', reason: 'Stopping', message: 'stop requested' });
    await rec.flush();
    const writes = client.writes('events');
    expect(writes.map((w) => [w.verb, w.requestId])).toEqual([
      ['create', 'cid-stop'],
      ['patch', 'cid-stop'],
      ['create', 'cid-again'],
    ]);
    expect((writes[0]!.body as KubeObject).metadata.annotations).toEqual({ 'quantix.io/correlation-id': 'cid-stop' });
    // An object without the annotation: an Event without one, sent without an id.
    rec.record(node, { type: 'Normal', reason: 'Ready', message: 'ready' });
    await rec.flush();
    const last = client.writes('events').at(-1)!;
    expect(last.requestId).toBeUndefined();
    expect((last.body as KubeObject).metadata.annotations).toBeUndefined();
  });

  it('aggregates repeats by bumping count and lastTimestamp', async () => {
    const { client, clock, rec } = setup();
    for (let i = 0; i < 3; i++) {
      rec.record(vm, { type: 'Warning', reason: 'FailedScheduling', message: '0/3 nodes available: 3 insufficient memory' });
      clock.advance(1000);
    }
    await rec.flush();
    const writes = client.writes('events');
    // Recorded before the first write went out: folded into it.
    expect(writes.map((w) => w.verb)).toEqual(['create']);
    const stored = [...client.objects.values()];
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      count: 3,
      firstTimestamp: new Date(clock.now() - 3000).toISOString(),
      lastTimestamp: new Date(clock.now() - 1000).toISOString(),
    });
  });

  it('bumps the existing Event for repeats after it was written', async () => {
    const { client, clock, rec } = setup();
    const ev = { type: 'Warning', reason: 'FailedScheduling', message: '0/3 nodes available' } as const;
    rec.record(vm, ev);
    await rec.flush();
    clock.advance(1000);
    rec.record(vm, ev);
    rec.record(vm, ev);
    await rec.flush();
    expect(client.writes('events').map((w) => w.verb)).toEqual(['create', 'patch']);
    expect([...client.objects.values()][0]).toMatchObject({ count: 3, lastTimestamp: new Date(clock.now()).toISOString() });
  });

  it('2,000 identical FailedScheduling events become one Event with count 2000, nothing dropped', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock();
    const rec = new EventRecorder({ client, component: 'quantix-scheduler', instance: 'cm-1', clock, qps: 10, burst: 1, maxPending: 100 });
    for (let i = 0; i < 2000; i++) {
      rec.record(vm, { type: 'Warning', reason: 'FailedScheduling', message: '0/3 nodes available: 3 insufficient memory' });
      clock.advance(10);
    }
    await rec.flush();
    const stored = [...client.objects.values()];
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ reason: 'FailedScheduling', count: 2000, lastTimestamp: new Date(clock.now() - 10).toISOString() });
    expect(client.writes('events').length).toBeLessThanOrEqual(2);
    expect(rec.stats.dropped).toBe(0);
    expect(await droppedMetric(rec)).toBe(0);
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

async function droppedMetric(rec: EventRecorder): Promise<number> {
  const metric = await rec.registry.getSingleMetric('quantix_controller_events_dropped_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

function captureLogger() {
  const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
  const logger: Logger = {
    error: () => undefined,
    warn: (message, fields) => warnings.push({ message, fields }),
    info: () => undefined,
    debug: () => undefined,
    child: () => logger,
    isDebugEnabled: () => false,
  };
  return { logger, warnings };
}

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

  it('counts every drop in quantix_controller_events_dropped_total and logs once per interval', async () => {
    const client = new FakeApiClient();
    const clock = new FakeClock();
    const { logger, warnings } = captureLogger();
    const rec = new EventRecorder({ client, component: 'c', instance: 'i', clock, logger, qps: 1, burst: 1, maxPending: 5, dropLogIntervalMs: 60_000 });
    const distinct = (i: number) => ({ ...vm, metadata: { ...vm.metadata, uid: `u${i}`, name: `vm${i}` } });
    for (let i = 0; i < 1000; i++) rec.record(distinct(i), { type: 'Normal', reason: 'Scheduled', message: 'x' });
    expect(rec.stats.dropped).toBe(995);
    expect(await droppedMetric(rec)).toBe(995);
    expect(warnings.filter((w) => w.message.includes('dropping events'))).toHaveLength(1);
    clock.advance(60_000);
    rec.record(distinct(5000), { type: 'Normal', reason: 'Scheduled', message: 'x' });
    const logged = warnings.filter((w) => w.message.includes('dropping events'));
    expect(logged).toHaveLength(2);
    expect(logged[1]!.fields).toMatchObject({ droppedSinceLastLog: 995, droppedTotal: 996 });
    expect(await droppedMetric(rec)).toBe(996);
  });
});
