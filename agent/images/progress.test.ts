/** The progress throttle, on a fake clock. */
import { ProgressThrottle, progressEvent } from './progress.js';

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
