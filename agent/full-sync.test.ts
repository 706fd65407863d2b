/** Which refusals of a full sync the agent logs: each once, when it first appears. */
import type { EntryResult } from '../api-types/proto/types.js';
import { newRefusals } from './full-sync.js';

const refusal = (over: Partial<EntryResult>): EntryResult => ({
  field: 'vms[0]',
  domainUuid: '6f1c2a8e-0000-4000-8000-000000000001',
  vm: 'default/web',
  pool: '',
  reason: 'Forbidden',
  message: 'node "a" may not write the status of VM default/web: it is bound to "b"',
  ...over,
});

describe('newRefusals', () => {
  const moved = refusal({});
  const invalid = refusal({ field: 'vms[1]', domainUuid: '6f1c2a8e-0000-4000-8000-000000000002', vm: '', reason: 'Invalid', message: 'spec.cpu: too many' });
  const pool = refusal({ field: 'pools[0]', domainUuid: '', vm: '', pool: 'p', reason: 'BadRequest', message: 'health' });

  it('logs every refusal of the first sync', () => {
    const { log, seen } = newRefusals(new Map(), [moved, invalid, pool]);
    expect(log).toEqual([moved, invalid, pool]);
    expect(seen.size).toBe(3);
  });

  it('does not log a refusal again when the next sync repeats it, even at another index', () => {
    const first = newRefusals(new Map(), [moved, invalid]);
    const second = newRefusals(first.seen, [
      { ...invalid, field: 'vms[0]' },
      { ...moved, field: 'vms[1]' },
    ]);
    expect(second.log).toEqual([]);
  });

  it('logs a refusal whose reason or message changed, and one that went away and came back', () => {
    const first = newRefusals(new Map(), [moved]);
    const changed = { ...moved, reason: 'Invalid', message: 'status.phase: bad' };
    expect(newRefusals(first.seen, [changed]).log).toEqual([changed]);
    const gone = newRefusals(first.seen, []);
    expect(gone.log).toEqual([]);
    expect(newRefusals(gone.seen, [moved]).log).toEqual([moved]);
  });

  it('a refusal listed twice in one sync is logged once', () => {
    expect(newRefusals(new Map(), [moved, { ...moved, field: 'vms[3]' }]).log).toEqual([moved]);
  });
});
