import { overallOf } from './connection-manager.js';

describe('overallOf', () => {
  it.each([
    [[], 'idle'],
    [['live', 'live'], 'live'],
    [['live', 'connecting'], 'connecting'],
    [['connecting', 'reconnecting', 'live'], 'reconnecting'],
    [['reconnecting', 'error'], 'error'],
  ] as const)('%j → %s', (states, want) => {
    expect(overallOf(states)).toBe(want);
  });
});
