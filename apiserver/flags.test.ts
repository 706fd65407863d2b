import { parseDurationFlag } from './flags.js';

describe('parseDurationFlag', () => {
  it.each([
    ['5m', 300_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['0', 0],
    ['0s', 0],
    ['2', 2_000],
    ['24h', 86_400_000],
  ])('%s → %i ms', (value, ms) => {
    expect(parseDurationFlag('etcd-compaction-interval', value)).toBe(ms);
  });

  it.each(['', '5x', 'm5', '-1m', '5 m', 'five'])('rejects %j naming the flag', (value) => {
    expect(() => parseDurationFlag('etcd-compaction-interval', value)).toThrow(/--etcd-compaction-interval: invalid duration/);
  });
});
