/** Parsing qemu-img's progress output (pure). */
import { lastPercent } from './qemu-img.js';

describe('lastPercent', () => {
  it('takes the last "(N/100%)" of a chunk of -p output', () => {
    expect(lastPercent('    (0.00/100%)\r    (1.33/100%)\r    (2.67/100%)\r')).toBe(2.67);
    expect(lastPercent('    (100.00/100%)\r\n')).toBe(100);
    expect(lastPercent('')).toBeUndefined();
    expect(lastPercent('    (12.')).toBeUndefined();
  });
});
