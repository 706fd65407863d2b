/**
 * Kubernetes resource quantities (`2Gi`, `512Mi`, `1G`, `1.5Gi`, `100M`, `1e3`, `1024`).
 * Arithmetic is exact (BigInt over the decimal mantissa), so `1.1G` is 1100000000 bytes and
 * `0.1Ki` is rejected as a fraction of a byte instead of being rounded.
 */

/** The Kubernetes quantity grammar (k8s.io/apimachinery resource.Quantity), unsigned. */
export const QUANTITY_PATTERN = '^(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$';

const GRAMMAR = /^([+-])?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

const BINARY: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

export class QuantityError extends Error {
  constructor(
    readonly input: unknown,
    reason: string,
  ) {
    super(reason);
    this.name = 'QuantityError';
  }
}

/** An exact rational value: numerator / denominator (denominator > 0). */
interface Rational {
  num: bigint;
  den: bigint;
}

function parseRational(input: string | number): Rational {
  const s = typeof input === 'number' ? numberToString(input) : input.trim();
  const m = GRAMMAR.exec(s);
  if (!m) throw new QuantityError(input, 'must be a quantity like 2Gi');
  const [, sign, mantissa, suffix] = m;
  const [intPart, fracPart = ''] = mantissa!.split('.');
  let num = BigInt((intPart || '0') + fracPart);
  let den = 10n ** BigInt(fracPart.length);
  if (suffix) {
    if (suffix in BINARY) {
      num *= 1024n ** BigInt(BINARY[suffix]!);
    } else {
      const exp = suffix in DECIMAL ? DECIMAL[suffix]! : Number(suffix.slice(1));
      if (Math.abs(exp) > 100) throw new QuantityError(input, 'must be a quantity like 2Gi (exponent out of range)');
      if (exp >= 0) num *= 10n ** BigInt(exp);
      else den *= 10n ** BigInt(-exp);
    }
  }
  if (sign === '-') num = -num;
  return { num, den };
}

function numberToString(n: number): string {
  if (!Number.isFinite(n)) throw new QuantityError(n, 'must be a finite number');
  return String(n);
}

/**
 * Parses any Kubernetes quantity to a number (may be negative or fractional: `-1`, `100m` = 0.1).
 * Throws QuantityError on garbage.
 */
export function parseQuantity(input: string | number): number {
  if (typeof input !== 'string' && typeof input !== 'number') {
    throw new QuantityError(input, 'must be a quantity like 2Gi');
  }
  const { num, den } = parseRational(input);
  return Number(num) / Number(den);
}

/**
 * Parses a quantity of bytes: non-negative, a whole number of bytes, at most
 * Number.MAX_SAFE_INTEGER. Throws QuantityError with a readable reason otherwise.
 */
export function parseBytes(input: string | number): number {
  if (typeof input !== 'string' && typeof input !== 'number') {
    throw new QuantityError(input, 'must be a quantity like 2Gi');
  }
  const { num, den } = parseRational(input);
  if (num < 0n) throw new QuantityError(input, 'must not be negative');
  if (num % den !== 0n) throw new QuantityError(input, 'must be a whole number of bytes');
  const bytes = num / den;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new QuantityError(input, 'is too large');
  return Number(bytes);
}

/** parseBytes without throwing: the byte count, or the reason it is not one. */
export function tryParseBytes(input: unknown): { bytes: number } | { error: string } {
  try {
    return { bytes: parseBytes(input as string | number) };
  } catch (err) {
    return { error: err instanceof QuantityError ? err.message : String(err) };
  }
}

/** True when `input` is a valid Kubernetes quantity string (any sign, any suffix). */
export function isQuantity(input: unknown): boolean {
  return typeof input === 'string' && GRAMMAR.test(input.trim());
}

const BINARY_DESC: [string, bigint][] = (['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const).map((s) => [s, 1024n ** BigInt(BINARY[s]!)]);
const DECIMAL_DESC: [string, bigint][] = (['E', 'P', 'T', 'G', 'M', 'k'] as const).map((s) => [s, 10n ** BigInt(DECIMAL[s]!)]);

/**
 * The shortest exact form of a byte count: the largest binary suffix that divides it
 * (`2147483648` → `2Gi`, `1536` → `1536` since 1.5Ki is not an integer mantissa), else a
 * decimal suffix that divides it (`1000000000` → `1G`), else the plain integer.
 * `parseBytes(formatBytes(n)) === n` always.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new QuantityError(bytes, 'must be a non-negative whole number of bytes');
  if (bytes === 0) return '0';
  const b = BigInt(bytes);
  for (const [suffix, mult] of BINARY_DESC) if (b % mult === 0n) return `${b / mult}${suffix}`;
  for (const [suffix, mult] of DECIMAL_DESC) if (b % mult === 0n) return `${b / mult}${suffix}`;
  return String(bytes);
}

/**
 * A short human rendering for Table cells: largest binary unit, at most one decimal
 * (`1610612736` → `1.5Gi`, `536870912` → `512Mi`, `1000` → `1000`, `1048575` → `1Mi`).
 * Not exact; use formatBytes where the value must round-trip.
 */
export function formatBytesHuman(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const rounded = Math.round(v * 10) / 10;
  if (rounded >= 1024 && i < units.length - 1) return `${sign}1${units[i + 1]}`;
  const text = i === 0 ? String(Math.round(v)) : Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(1);
  return `${sign}${text}${units[i]}`;
}

/** formatBytesHuman of a quantity string; the input unchanged when it does not parse. */
export function humanQuantity(q: unknown): string {
  if (q === undefined || q === null || q === '') return '';
  const r = tryParseBytes(q);
  return 'bytes' in r ? formatBytesHuman(r.bytes) : String(q);
}
