/** The progress throttle, on a fake clock. */
import { ProgressReporter, ProgressThrottle, progressEvent } from './progress.js';

describe('progressEvent', () => {
  it('computes whole percents when the total is known', () => {
    expect(progressEvent('Downloading', 50, 200)).toEqual({ phase: 'Downloading', bytesDone: 50, bytesTotal: 200, percent: 25 });
    expect(progressEvent('Downloading', 199, 200).percent).toBe(99);
    expect(progressEvent('Converting', 0, 0).percent).toBe(100);
    expect(progressEvent('Downloading', 10)).toEqual({ phase: 'Downloading', bytesDone: 10 });
  });
});

describe('ProgressThrottle', () => {
  it('passes the first event of each phase, then at most one per interval, and the final one', () => {
    let now = 0;
    const t = new ProgressThrottle(250, () => now);
    const pass = (phase: 'Downloading' | 'Converting', bytes: number, final = false) => t.shouldEmit(progressEvent(phase, bytes, 1000), final);
    expect(pass('Downloading', 0)).toBe(true);
    now = 100;
    expect(pass('Downloading', 100)).toBe(false);
    now = 249;
    expect(pass('Downloading', 200)).toBe(false);
    now = 250;
    expect(pass('Downloading', 300)).toBe(true);
    now = 260;
    expect(pass('Downloading', 1000, true)).toBe(true);
    expect(pass('Downloading', 1000, true)).toBe(false);
    now = 261;
    expect(pass('Converting', 0)).toBe(true);
  });
  it('does not repeat an unchanged byte count when time passes', () => {
    let now = 0;
    const t = new ProgressThrottle(250, () => now);
    expect(t.shouldEmit(progressEvent('Downloading', 5))).toBe(true);
    now = 1000;
    expect(t.shouldEmit(progressEvent('Downloading', 5))).toBe(false);
    expect(t.shouldEmit(progressEvent('Downloading', 6))).toBe(true);
  });
});

describe('ProgressReporter', () => {
  /** A fake clock with one-shot timers. */
  function fakeTime() {
    let now = 0;
    let timers: { at: number; fn: () => void }[] = [];
    return {
      now: () => now,
      schedule: (fn: () => void, ms: number) => {
        const t = { at: now + ms, fn };
        timers.push(t);
        return () => {
          timers = timers.filter((x) => x !== t);
        };
      },
      advance(ms: number) {
        now += ms;
        const due = timers.filter((t) => t.at <= now);
        timers = timers.filter((t) => t.at > now);
        for (const t of due) t.fn();
      },
      pending: () => timers.length,
    };
  }

  it('passes the bytes a stalled transfer got once the interval is over (the throttle held them back)', () => {
    const time = fakeTime();
    const seen: number[] = [];
    const r = new ProgressReporter((e) => seen.push(e.bytesDone), { intervalMs: 250, now: time.now, schedule: time.schedule });
    r.report(progressEvent('Downloading', 0, 1000));
    time.advance(5);
    r.report(progressEvent('Downloading', 300, 1000));
    r.report(progressEvent('Downloading', 600, 1000)); // then the server stops sending
    expect(seen).toEqual([0]);
    expect(time.pending()).toBe(1); // one timer, not one per chunk
    time.advance(250);
    expect(seen).toEqual([0, 600]);
    time.advance(10_000);
    expect(seen).toEqual([0, 600]);
  });

  it('sends nothing extra when a later event passed first, and nothing after close()', () => {
    const time = fakeTime();
    const seen: number[] = [];
    const r = new ProgressReporter((e) => seen.push(e.bytesDone), { intervalMs: 250, now: time.now, schedule: time.schedule });
    r.report(progressEvent('Downloading', 0, 1000));
    time.advance(100);
    r.report(progressEvent('Downloading', 100, 1000));
    time.advance(100);
    r.report(progressEvent('Downloading', 1000, 1000), true);
    expect(seen).toEqual([0, 1000]);
    time.advance(1000);
    expect(seen).toEqual([0, 1000]);

    r.report(progressEvent('Converting', 0, 1000));
    time.advance(10);
    r.report(progressEvent('Converting', 10, 1000));
    r.close();
    time.advance(1000);
    expect(seen).toEqual([0, 1000, 0]);
  });
});
