import { isoMicros, isoSeconds } from './time.js';

describe('API timestamps', () => {
  const d = new Date('2026-01-12T10:00:00.123Z');
  it('metav1.Time drops the milliseconds', () => expect(isoSeconds(d)).toBe('2026-01-12T10:00:00Z'));
  it('metav1.MicroTime has six fractional digits', () => expect(isoMicros(d)).toBe('2026-01-12T10:00:00.123000Z'));
});
