import { formatBytes, formatBytesHuman, humanQuantity, isQuantity, parseBytes, parseQuantity, QuantityError, tryParseBytes } from './quantity.js';

describe('parseBytes', () => {
  test.each([
    ['2Gi', 2 * 2 ** 30],
    ['512Mi', 512 * 2 ** 20],
    ['1G', 1e9],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['100M', 100e6],
    ['1024', 1024],
    ['0', 0],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1.1G', 1_100_000_000],
    ['.5Ki', 512],
    ['1k', 1000],
    ['1Ki', 1024],
    ['2Ti', 2 * 2 ** 40],
    ['1Pi', 2 ** 50],
    ['3000m', 3],
    [4096, 4096],
  ])('%s → %d', (input, bytes) => {
    expect(parseBytes(input)).toBe(bytes);
  });

  test.each([
    ['', 'must be a quantity like 2Gi'],
    ['2GB', 'must be a quantity like 2Gi'],
    ['Gi', 'must be a quantity like 2Gi'],
    ['1.2.3', 'must be a quantity like 2Gi'],
    ['2 Gi', 'must be a quantity like 2Gi'],
    ['1K', 'must be a quantity like 2Gi'],
    ['-1Gi', 'must not be negative'],
    ['0.1Ki', 'must be a whole number of bytes'],
    ['1.5', 'must be a whole number of bytes'],
    ['100m', 'must be a whole number of bytes'],
    ['1e-1', 'must be a whole number of bytes'],
    ['9Ei', 'is too large'],
  ])('rejects %j: %s', (input, reason) => {
    expect(() => parseBytes(input)).toThrow(new QuantityError(input, reason));
    expect(tryParseBytes(input)).toEqual({ error: reason });
  });

  test('rejects non-strings', () => {
    expect(tryParseBytes(undefined)).toEqual({ error: 'must be a quantity like 2Gi' });
    expect(tryParseBytes({})).toEqual({ error: 'must be a quantity like 2Gi' });
    expect(tryParseBytes(-5)).toEqual({ error: 'must not be negative' });
  });
});

describe('parseQuantity', () => {
  test('allows signs and fractions', () => {
    expect(parseQuantity('-1Ki')).toBe(-1024);
    expect(parseQuantity('100m')).toBeCloseTo(0.1);
    expect(parseQuantity('+2')).toBe(2);
    expect(() => parseQuantity('abc')).toThrow(QuantityError);
  });
  test('isQuantity', () => {
    expect(isQuantity('2Gi')).toBe(true);
    expect(isQuantity('2gi')).toBe(false);
    expect(isQuantity(2)).toBe(false);
  });
});

describe('formatBytes', () => {
  test.each([
    [2147483648, '2Gi'],
    [0, '0'],
    [1024, '1Ki'],
    [1536, '1536'],
    [1610612736, '1536Mi'],
    [536870912, '512Mi'],
    [1e9, '1G'],
    [1000, '1k'],
    [123, '123'],
    [2 ** 50, '1Pi'],
  ])('%d → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
    expect(parseBytes(text)).toBe(bytes);
  });
  test('round-trips', () => {
    for (const n of [1, 7, 1023, 1025, 4096, 10 ** 12, 3 * 2 ** 30 + 1, Number.MAX_SAFE_INTEGER]) {
      expect(parseBytes(formatBytes(n))).toBe(n);
    }
  });
  test('rejects what is not a byte count', () => {
    expect(() => formatBytes(-1)).toThrow(QuantityError);
    expect(() => formatBytes(1.5)).toThrow(QuantityError);
  });
});

describe('formatBytesHuman', () => {
  test.each([
    [1610612736, '1.5Gi'],
    [2147483648, '2Gi'],
    [536870912, '512Mi'],
    [120 * 2 ** 30, '120Gi'],
    [1000, '1000'],
    [0, '0'],
    [2 ** 20 - 1, '1Mi'],
  ])('%d → %s', (bytes, text) => {
    expect(formatBytesHuman(bytes)).toBe(text);
  });
  test('humanQuantity', () => {
    expect(humanQuantity('1536Mi')).toBe('1.5Gi');
    expect(humanQuantity('junk')).toBe('junk');
    expect(humanQuantity(undefined)).toBe('');
  });
});
