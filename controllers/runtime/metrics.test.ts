import { FakeClock } from '../../lib/clock/clock.js';
import { setLogSink } from '../../lib/logging/logger.js';
import { ItemExponentialFailureRateLimiter } from '../../lib/workqueue/ratelimiter.js';
import { WorkQueue } from '../../lib/workqueue/workqueue.js';
import { Controller, TerminalError, done, requeueAfter } from './controller.js';
import { ControllerManagerMetrics } from './metrics.js';
import { eventually } from '../../hack/testenv/eventually.js';

beforeAll(() => setLogSink(() => undefined));

/** The value of one sample line `name{labels} value` in the text exposition, or undefined. */
async function sample(metrics: ControllerManagerMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2]!.split(',');
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return undefined;
}

describe('ControllerManagerMetrics', () => {
  it('counts reconciles per controller and result, errors apart, and times them', async () => {
    const metrics = new ControllerManagerMetrics(undefined, { processMetrics: false });
    const clock = new FakeClock();
    const outcomes: (() => unknown)[] = [
      () => done(),
      () => requeueAfter(1000),
      () => {
        throw new Error('etcd is slow');
      },
      () => {
        throw new TerminalError('bad spec');
      },
      () => {
        throw new TypeError('undefined is not a function');
      },
      () => {
        clock.advance(300); // a reconcile that takes 300 ms
        return done();
      },
    ];
    const c = new Controller({
      name: 'vm',
      reconcile: () => outcomes.shift()!() as ReturnType<typeof done>,
      clock,
      rateLimiter: new ItemExponentialFailureRateLimiter(5, 1000),
    });
    c.instrument(metrics);
    for (let i = 0; i < 6; i++) await c.processOne(`ns/k${i}`);

    expect(await sample(metrics, 'quantix_controller_reconcile_total', { controller: 'vm', result: 'success' })).toBe(2);
    expect(await sample(metrics, 'quantix_controller_reconcile_total', { controller: 'vm', result: 'requeue' })).toBe(1);
    expect(await sample(metrics, 'quantix_controller_reconcile_total', { controller: 'vm', result: 'error' })).toBe(1);
    expect(await sample(metrics, 'quantix_controller_reconcile_total', { controller: 'vm', result: 'terminal' })).toBe(1);
    expect(await sample(metrics, 'quantix_controller_reconcile_total', { controller: 'vm', result: 'panic' })).toBe(1);
    expect(await sample(metrics, 'quantix_controller_reconcile_errors_total', { controller: 'vm' })).toBe(3);
    expect(await sample(metrics, 'quantix_controller_reconcile_time_seconds_count', { controller: 'vm' })).toBe(6);
    // Five took no time on the fake clock, one 0.3 s: it lands above the 0.25 s bucket only.
    expect(await sample(metrics, 'quantix_controller_reconcile_time_seconds_bucket', { controller: 'vm', le: '0.25' })).toBe(5);
    expect(await sample(metrics, 'quantix_controller_reconcile_time_seconds_bucket', { controller: 'vm', le: '0.5' })).toBe(6);
    // The error and the panic were retried through the rate limiter.
    expect(await sample(metrics, 'quantix_workqueue_retries_total', { name: 'vm' })).toBe(2);
  });

  it('reports a work queue: adds, time queued, time worked, and depth at refresh', async () => {
    const metrics = new ControllerManagerMetrics(undefined, { processMetrics: false });
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock, metrics: metrics.queue('image') });
    q.add('a');
    q.add('a'); // already queued: not a second add
    q.add('b');
    clock.advance(2_000);
    const first = await q.get();
    clock.advance(40);
    q.done(first.key!);
    metrics.refresh({ queues: [{ name: 'image', depth: q.len() }], leaseName: 'quantix-controller-manager', leading: true });

    expect(await sample(metrics, 'quantix_workqueue_adds_total', { name: 'image' })).toBe(2);
    expect(await sample(metrics, 'quantix_workqueue_queue_duration_seconds_count', { name: 'image' })).toBe(1);
    expect(await sample(metrics, 'quantix_workqueue_queue_duration_seconds_sum', { name: 'image' })).toBe(2);
    expect(await sample(metrics, 'quantix_workqueue_work_duration_seconds_sum', { name: 'image' })).toBeCloseTo(0.04, 6);
    expect(await sample(metrics, 'quantix_workqueue_depth', { name: 'image' })).toBe(1);
    expect(await sample(metrics, 'quantix_leader_election_master_status', { name: 'quantix-controller-manager' })).toBe(1);

    metrics.refresh({ queues: [{ name: 'image', depth: 0 }], leaseName: 'quantix-controller-manager', leading: false });
    expect(await sample(metrics, 'quantix_leader_election_master_status', { name: 'quantix-controller-manager' })).toBe(0);
    expect(await sample(metrics, 'quantix_workqueue_depth', { name: 'image' })).toBe(0);
  });

  it('names follow the Prometheus conventions: counters end in _total, durations in _seconds, one help line each', async () => {
    const metrics = new ControllerManagerMetrics(undefined, { processMetrics: false });
    const text = await metrics.registry.metrics();
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
    expect(types.length).toBeGreaterThanOrEqual(9);
    for (const { name, type } of types) {
      expect(name).toMatch(/^quantix_[a-z_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_seconds$/);
    }
  });

  it("counts the informers' lists and watch reconnects, read from their stats at each scrape", async () => {
    const metrics = new ControllerManagerMetrics(undefined, { processMetrics: false });
    const refresh = (lists: number, reconnects: number) =>
      metrics.refresh({ queues: [], leaseName: 'quantix-controller-manager', leading: true, informers: [{ resource: 'virtualmachines', lists, reconnects }] });
    refresh(1, 0);
    expect(await sample(metrics, 'quantix_informer_lists_total', { resource: 'virtualmachines' })).toBe(1);
    expect(await sample(metrics, 'quantix_informer_watch_reconnects_total', { resource: 'virtualmachines' })).toBe(0);
    refresh(1, 3);
    refresh(2, 5);
    expect(await sample(metrics, 'quantix_informer_lists_total', { resource: 'virtualmachines' })).toBe(2);
    expect(await sample(metrics, 'quantix_informer_watch_reconnects_total', { resource: 'virtualmachines' })).toBe(5);
  });
});

describe('event-loop delay', () => {
  it('a stall of the event loop shows in quantix_controller_event_loop_delay_seconds (the max, quantile 1)', async () => {
    const metrics = new ControllerManagerMetrics();
    try {
      await eventually(() => expect(metrics.eventLoopDelay!.samples).toBeGreaterThan(1)); // the monitor ticks
      // Block the loop for 200 ms: the monitor's next tick comes at least that late.
      const until = performance.now() + 200;
      while (performance.now() < until) {
        /* busy: a synchronous slice of work that is too long */
      }
      await eventually(async () => {
        expect(await sample(metrics, 'quantix_controller_event_loop_delay_seconds', { quantile: '1' })).toBeGreaterThanOrEqual(0.15);
      });
      expect(await sample(metrics, 'quantix_controller_event_loop_delay_seconds', { quantile: '0.99' })).toBeGreaterThan(0);
      expect(await sample(metrics, 'quantix_controller_leader_transitions_total', {})).toBeUndefined(); // no labels: a bare sample line
      expect(await metrics.registry.metrics()).toMatch(/^quantix_controller_leader_transitions_total 0$/m);
    } finally {
      metrics.eventLoopDelay?.stop();
    }
  });
});
