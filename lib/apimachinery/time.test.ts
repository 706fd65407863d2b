import { isoMicros, isoSeconds } from './time.js';

describe('API timestamps', () => {
  const d = new Date('2026-01-12T10:00:00.123Z');
  it('metav1.Time drops the milliseconds', () => expect(isoSeconds(d)).toBe('2026-01-12T10:00:00Z'));
  it('metav1.MicroTime has six fractional digits', () => expect(isoMicros(d)).toBe('2026-01-12T10:00:00.123000Z'));
});

describe('isoSeconds (memoized per second)', () => {
  test('second precision, right after the previous second and across seconds', () => {
    expect(isoSeconds(new Date('2026-11-23T08:00:00.999Z'))).toBe('2026-11-23T08:00:00Z');
    expect(isoSeconds(new Date('2026-11-23T08:00:00.001Z'))).toBe('2026-11-23T08:00:00Z');
    expect(isoSeconds(new Date('2026-11-23T08:00:01.000Z'))).toBe('2026-11-23T08:00:01Z');
    expect(isoSeconds(new Date('1969-12-31T23:59:59.500Z'))).toBe('1969-12-31T23:59:59Z');
    expect(isoSeconds(new Date('+012026-01-01T00:00:00.250Z'))).toBe('+012026-01-01T00:00:00Z');
  });
  test('formats timestamps as RFC 3339 seconds in UTC', () => {
    expect(isoSeconds(new Date('2024-05-06T07:08:09.123Z'))).toBe('2024-05-06T07:08:09Z');
    expect(isoSeconds(new Date('2024-05-06T07:08:10.999Z'))).toBe('2024-05-06T07:08:10Z');
  });
});
