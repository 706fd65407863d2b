import { ApiError } from '../../lib/apimachinery/status-error.js';
import { parseUiLogBatch, scrubSecrets, SessionRates, UI_LOG_LIMITS, uiLogRecord } from './ui-log.js';

const entry = (extra: Record<string, unknown> = {}) => ({
  time: '2026-12-07T08:00:00.123Z',
  level: 'info',
  category: 'vm',
  action: 'stop',
  target: 'default/web',
  result: 'success',
  durationMs: 120.4,
  correlationId: 'cid-1',
  route: '/ui/vms/default/web',
  ...extra,
});

function refusal(body: unknown): ApiError {
  try {
    parseUiLogBatch(body);
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('parseUiLogBatch', () => {
  it('accepts the contract body and normalises times and durations', () => {
    const batch = parseUiLogBatch({ sessionId: 's1', entries: [entry(), entry({ result: 'start', durationMs: undefined, target: undefined })] });
    expect(batch.sessionId).toBe('s1');
    expect(batch.entries[0]).toEqual({ ...entry(), durationMs: 120 });
    expect(batch.entries[1]).not.toHaveProperty('target');
  });

  it.each<[string, unknown, string]>([
    ['not an object', [], 'body'],
    ['no sessionId', { entries: [] }, 'sessionId'],
    ['a sessionId that is not a string', { sessionId: 5, entries: [] }, 'sessionId'],
    ['no entries', { sessionId: 's' }, 'entries'],
    ['entries not a list', { sessionId: 's', entries: {} }, 'entries'],
    ['an entry that is not an object', { sessionId: 's', entries: [entry(), 'x'] }, 'entries[1]'],
    ['a bad result', { sessionId: 's', entries: [entry(), entry({ result: 'done' })] }, 'entries[1].result'],
    ['a bad level', { sessionId: 's', entries: [entry({ level: 'fatal' })] }, 'entries[0].level'],
    ['a bad time', { sessionId: 's', entries: [entry({ time: 'yesterday' })] }, 'entries[0].time'],
    ['a missing category', { sessionId: 's', entries: [entry({ category: undefined })] }, 'entries[0].category'],
    ['an empty action', { sessionId: 's', entries: [entry({ action: ' ' })] }, 'entries[0].action'],
    ['a negative duration', { sessionId: 's', entries: [entry({ durationMs: -1 })] }, 'entries[0].durationMs'],
    ['a target that is not a string', { sessionId: 's', entries: [entry({ target: 7 })] }, 'entries[0].target'],
    ['an overlong message', { sessionId: 's', entries: [entry({ message: 'm'.repeat(5000) })] }, 'entries[0].message'],
  ])('refuses %s with a 400 naming %s', (_name, body, field) => {
    const err = refusal(body);
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.details?.causes?.[0]?.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('refuses a batch past the limit with 429 and Retry-After', () => {
    const err = refusal({ sessionId: 's', entries: Array.from({ length: UI_LOG_LIMITS.maxEntriesPerBatch + 1 }, () => entry()) });
    expect(err.code).toBe(429);
    expect(err.details?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });
});

describe('SessionRates', () => {
  const limits = { ...UI_LOG_LIMITS, entriesPerSecond: 10, burstEntries: 20, maxSessions: 2 };

  it('allows a burst, then the sustained rate, and says how long to wait', () => {
    let now = 0;
    const rates = new SessionRates(limits, () => now);
    expect(rates.take('a', 20)).toBeUndefined();
    expect(rates.take('a', 5)).toBe(1);
    now += 500;
    expect(rates.take('a', 5)).toBeUndefined();
    expect(rates.take('a', 15)).toBe(2);
    expect(rates.take('b', 20)).toBeUndefined(); // sessions are apart
  });

  it('bounds the sessions it tracks, dropping idle ones first', () => {
    let now = 0;
    const rates = new SessionRates(limits, () => now);
    rates.take('a', 1);
    rates.take('b', 1);
    expect(rates.take('c', 1)).toBeGreaterThan(0);
    now += 2_000; // a and b are full again: as good as new
    expect(rates.take('c', 1)).toBeUndefined();
    expect(rates.size).toBe(1);
  });
});

describe('uiLogRecord', () => {
  it('is a LogRecord with the contract fields, in order', () => {
    const [parsed] = parseUiLogBatch({ sessionId: 's1', entries: [entry({ message: 'stopped' })] }).entries;
    const record = uiLogRecord(parsed!, { user: 'viewer', sessionId: 's1', node: 'cp-1' }, (t) => t);
    expect(Object.keys(record).slice(0, 6)).toEqual(['time', 'level', 'component', 'node', 'message', 'correlationId']);
    expect(record).toEqual({
      time: '2026-12-07T08:00:00.123Z',
      level: 'info',
      component: 'ui',
      node: 'cp-1',
      message: 'vm stop default/web success',
      correlationId: 'cid-1',
      user: 'viewer',
      sessionId: 's1',
      category: 'vm',
      action: 'stop',
      target: 'default/web',
      result: 'success',
      durationMs: 120,
      route: '/ui/vms/default/web',
      detail: 'stopped',
    });
    const [bare] = parseUiLogBatch({
      sessionId: 's1',
      entries: [{ time: entry().time, level: 'error', category: 'nav', action: 'open', result: 'error' }],
    }).entries;
    expect(uiLogRecord(bare!, { user: 'u', sessionId: 's', node: 'n' }, (t) => t).message).toBe('nav open error');
  });
});

describe('scrubSecrets', () => {
  it("removes the caller's token, Bearer values and bootstrap tokens", () => {
    const token = 'Zx9-caller-token-0123456789';
    expect(scrubSecrets(`failed with ${token}`, token)).toBe('failed with (redacted)');
    expect(scrubSecrets('Authorization: Bearer abc.def-123', undefined)).toBe('Authorization: Bearer (redacted)');
    expect(scrubSecrets('join with abcdef.0123456789abcdef now', undefined)).toBe('join with (redacted) now');
    expect(scrubSecrets('vm stop default/web success', token)).toBe('vm stop default/web success');
  });
});
