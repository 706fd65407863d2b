import { type ClaimResult, type IntervalDecision, type IntervalState, nextInterval } from './etcd-maintenance.js';

describe('nextInterval (kube-apiserver compaction step)', () => {
  const cases: [string, IntervalState, ClaimResult, IntervalDecision][] = [
    [
      'first claim on a fresh key: claimed, nothing recorded yet to compact to',
      { time: 0, revision: 0 },
      { succeeded: true, revision: 120, remoteTime: 0 },
      { claimed: true, state: { time: 1, revision: 120 } },
    ],
    [
      'claimed again: compacts to the revision recorded at the previous interval, not the current one',
      { time: 1, revision: 120 },
      { succeeded: true, revision: 900, remoteTime: 0 },
      { claimed: true, state: { time: 2, revision: 900 }, compactTo: 120 },
    ],
    [
      'another replica claimed (the version moved on): adopt its time, record the revision, no compaction',
      { time: 2, revision: 900 },
      { succeeded: false, revision: 1500, remoteTime: 3 },
      { claimed: false, state: { time: 3, revision: 1500 } },
    ],
    [
      'restarted replica, key already counted: syncs first, claims at the next interval',
      { time: 0, revision: 0 },
      { succeeded: false, revision: 2000, remoteTime: 7 },
      { claimed: false, state: { time: 7, revision: 2000 } },
    ],
    [
      'after syncing, the next claim compacts to the revision seen when it synced (the other replica died)',
      { time: 7, revision: 2000 },
      { succeeded: true, revision: 2600, remoteTime: 0 },
      { claimed: true, state: { time: 8, revision: 2600 }, compactTo: 2000 },
    ],
    [
      'the key was deleted: its version is 0 again, the next claim starts over',
      { time: 4, revision: 700 },
      { succeeded: false, revision: 800, remoteTime: 0 },
      { claimed: false, state: { time: 0, revision: 800 } },
    ],
  ];
  it.each(cases)('%s', (_name, state, claim, expected) => {
    expect(nextInterval(state, claim)).toEqual(expected);
  });
});
