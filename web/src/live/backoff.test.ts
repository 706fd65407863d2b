import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  const opts = (r: number) => ({ baseMs: 100, maxMs: 1_000, random: () => r });

  it('doubles per attempt between half and all of the step', () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, opts(0)))).toEqual([50, 100, 200, 400]);
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, opts(0.999)))).toEqual([100, 200, 400, 800]);
  });

  it('is capped', () => {
    expect(backoffDelay(10, opts(0.999))).toBe(1_000);
    expect(backoffDelay(10_000, opts(0))).toBe(500);
  });

  it('treats negative attempts as the first', () => {
    expect(backoffDelay(-3, opts(0))).toBe(50);
  });
});
