/**
 * XDR (RFC 4506) encoding and decoding, limited to what libvirt's remote protocol uses:
 * int / unsigned int / hyper / unsigned hyper, double, bool-as-int, fixed and variable opaque,
 * strings, optional data ("pointer" = bool + value) and arrays.
 *
 * Every item is a multiple of 4 bytes, big-endian. Note that rpcgen encodes C `char`,
 * `unsigned char` and `short` as full 4-byte ints, so a `char model[32]` is 128 bytes.
 */

export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XdrError';
  }
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  get length(): number {
    return this.pos;
  }

  int(v: number): this {
    if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw new XdrError(`int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  uint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new XdrError(`unsigned int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  hyper(v: bigint | number): this {
    const b = BigInt(v);
    if (b < -(1n << 63n) || b >= 1n << 63n) throw new XdrError(`hyper out of range: ${v}`);
    this.ensure(8);
    this.buf.writeBigInt64BE(b, this.pos);
    this.pos += 8;
    return this;
  }

  uhyper(v: bigint | number): this {
    const b = BigInt(v);
    if (b < 0n || b >= 1n << 64n) throw new XdrError(`unsigned hyper out of range: ${v}`);
    this.ensure(8);
    this.buf.writeBigUInt64BE(b, this.pos);
    this.pos += 8;
    return this;
  }

  /** IEEE 754 double, 8 bytes big-endian. */
  double(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  /** Fixed-length opaque: exactly `data.length` bytes plus padding, no length prefix. */
  fixedOpaque(data: Uint8Array, expectedLength?: number): this {
    if (expectedLength !== undefined && data.length !== expectedLength) {
      throw new XdrError(`fixed opaque must be ${expectedLength} bytes, got ${data.length}`);
    }
    const p = pad4(data.length);
    this.ensure(data.length + p);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    this.buf.fill(0, this.pos, this.pos + p);
    this.pos += p;
    return this;
  }

  /** Variable-length opaque: length prefix, bytes, padding. */
  opaque(data: Uint8Array, max?: number): this {
    if (max !== undefined && data.length > max) throw new XdrError(`opaque longer than ${max} bytes`);
    this.uint(data.length);
    return this.fixedOpaque(data);
  }

  string(s: string, max?: number): this {
    return this.opaque(Buffer.from(s, 'utf8'), max);
  }

  /** Optional data (`type *name`): a bool "present" followed by the value when present. */
  optional<T>(v: T | null | undefined, write: (w: XdrWriter, v: T) => void): this {
    if (v === null || v === undefined) return this.bool(false);
    this.bool(true);
    write(this, v);
    return this;
  }

  array<T>(items: readonly T[], write: (w: XdrWriter, v: T) => void, max?: number): this {
    if (max !== undefined && items.length > max) throw new XdrError(`array longer than ${max} items`);
    this.uint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

export class XdrReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    offset = 0,
  ) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The unread bytes as they are (a stream message's raw payload), consuming them. */
  rest(): Buffer {
    const out = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return out;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new XdrError(`truncated XDR data: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`);
    }
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bool(): boolean {
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrError(`invalid XDR bool ${v}`);
    return v === 1;
  }

  hyper(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Unsigned hyper as a JS number; values above 2^53 lose precision (byte counts never get there). */
  uhyperNumber(): number {
    return Number(this.uhyper());
  }

  hyperNumber(): number {
    return Number(this.hyper());
  }

  double(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  fixedOpaque(length: number): Buffer {
    const p = pad4(length);
    this.need(length + p);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + length));
    this.pos += length + p;
    return out;
  }

  opaque(max?: number): Buffer {
    const len = this.uint();
    if (max !== undefined && len > max) throw new XdrError(`opaque length ${len} exceeds ${max}`);
    return this.fixedOpaque(len);
  }

  string(max?: number): string {
    return this.opaque(max).toString('utf8');
  }

  optional<T>(read: (r: XdrReader) => T): T | null {
    return this.bool() ? read(this) : null;
  }

  array<T>(read: (r: XdrReader) => T, max?: number): T[] {
    const n = this.uint();
    if (max !== undefined && n > max) throw new XdrError(`array length ${n} exceeds ${max}`);
    // Every element takes at least 4 bytes: refuse absurd counts before allocating.
    if (n * 4 > this.remaining) throw new XdrError(`array length ${n} larger than the remaining data`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }
}
