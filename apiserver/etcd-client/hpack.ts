/**
 * HPACK (RFC 7541) for the h2c client (h2c-connection.ts).
 *
 * - `HpackDecoder`: the full decoder — static table, dynamic table with eviction and
 *   size-update instructions, integer and string literals, Huffman decoding (a 4-bit
 *   state machine built at load time from the canonical code's 257 code lengths).
 * - `encodeHeaderBlock`: a stateless request encoder — indexed static entries where name
 *   and value match exactly, otherwise literals without indexing (indexed name when the
 *   static table has it), no Huffman. Being stateless, a block can be encoded once and sent
 *   on every request, and blocks can be concatenated (`Buffer.concat([constant, dynamic])`).
 *   It never touches the peer's dynamic table, so the peer's SETTINGS_HEADER_TABLE_SIZE does
 *   not matter to it.
 *
 * Header names and values are handled as latin1 strings (one char per byte), which is what
 * HTTP/2 field values are on the wire.
 */

/** A header list as decoded: [name0, value0, name1, value1, ...]. */
export type HeaderList = string[];

/** A decoding failure: the connection must end with COMPRESSION_ERROR. */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}

// ------------------------------------------------------------------ static table (Appendix A)

export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length; // 61

/** name → first static index (1-based); "name\0value" → static index. */
const staticName = new Map<string, number>();
const staticPair = new Map<string, number>();
STATIC_TABLE.forEach(([n, v], i) => {
  if (!staticName.has(n)) staticName.set(n, i + 1);
  if (v !== '') staticPair.set(`${n}\0${v}`, i + 1);
});

// ------------------------------------------------------------------ Huffman (Appendix B)

/**
 * Code lengths of the canonical Huffman code, by bit length: the symbols (0–255, 256 = EOS)
 * that have that length. Codes are assigned canonically (by length, then symbol), which is
 * how Appendix B's table is laid out, so the lengths alone determine the code.
 */
const HUFFMAN_LENGTHS: Record<number, readonly (number | string)[]> = {
  5: ['0', '1', '2', 'a', 'c', 'e', 'i', 'o', 's', 't'],
  6: [' ', '%', '-', '.', '/', '3', '4', '5', '6', '7', '8', '9', '=', 'A', '_', 'b', 'd', 'f', 'g', 'h', 'l', 'm', 'n', 'p', 'r', 'u'],
  7: [
    ':',
    'B',
    'C',
    'D',
    'E',
    'F',
    'G',
    'H',
    'I',
    'J',
    'K',
    'L',
    'M',
    'N',
    'O',
    'P',
    'Q',
    'R',
    'S',
    'T',
    'U',
    'V',
    'W',
    'Y',
    'j',
    'k',
    'q',
    'v',
    'w',
    'x',
    'y',
    'z',
  ],
  8: ['&', '*', ',', ';', 'X', 'Z'],
  10: ['!', '"', '(', ')', '?'],
  11: ["'", '+', '|'],
  12: ['#', '>'],
  13: [0, '$', '@', '[', ']', '~'],
  14: ['^', '}'],
  15: ['<', '`', '{'],
  19: ['\\', 195, 208],
  20: [128, 130, 131, 162, 184, 194, 224, 226],
  21: [153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230],
  22: [129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232, 233],
  23: [1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166, 168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239],
  24: [9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237],
  25: [199, 207, 234, 235],
  26: [192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255],
  27: [203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252, 253, 254],
  28: [2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127, 220, 249],
  30: [10, 13, 22, 256],
};

export const EOS = 256;

/** Bit length of each symbol's code (index = symbol, 0–256). */
export const huffmanCodeLengths: readonly number[] = (() => {
  const lengths = new Array<number>(257).fill(0);
  for (const [len, syms] of Object.entries(HUFFMAN_LENGTHS)) {
    for (const s of syms) {
      const sym = typeof s === 'string' ? s.charCodeAt(0) : s;
      if (lengths[sym] !== 0) throw new Error(`HPACK: Huffman symbol ${sym} listed twice`);
      lengths[sym] = Number(len);
    }
  }
  if (lengths.includes(0)) throw new Error('HPACK: Huffman symbol without a code length');
  return lengths;
})();

/** Canonical codes from the lengths: by increasing length, then symbol. */
export const huffmanCodes: readonly number[] = (() => {
  const order = Array.from({ length: 257 }, (_, i) => i).sort((a, b) => huffmanCodeLengths[a]! - huffmanCodeLengths[b]! || a - b);
  const codes = new Array<number>(257).fill(0);
  let code = 0;
  let prevLen = huffmanCodeLengths[order[0]!]!;
  for (const sym of order) {
    const len = huffmanCodeLengths[sym]!;
    code *= 2 ** (len - prevLen); // up to 30 bits: stay in float-safe integer math
    prevLen = len;
    codes[sym] = code;
    code++;
  }
  return codes;
})();

/**
 * The decoding state machine: one state per internal node of the code tree (root = 0); for
 * each state and input nibble, the next state, the symbol emitted (at most one: every code
 * is at least 5 bits) and whether EOS was hit (an error).
 * Packed as: bits 0–8 next state, bits 9–17 symbol + 1 (0 = none), bit 18 failure.
 */
const HUFF_FAIL = 1 << 18;
const { huffTable, huffAccept } = (() => {
  // Build the tree: children[node*2 + bit] = child node (>= 0) or ~symbol (< 0) for a leaf.
  const children: number[] = [-0x7fffffff, -0x7fffffff];
  let nodes = 1;
  const depth: number[] = [0];
  const allOnes: boolean[] = [true];
  for (let sym = 0; sym <= 256; sym++) {
    const len = huffmanCodeLengths[sym]!;
    const code = huffmanCodes[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        if (children[slot] !== -0x7fffffff) throw new Error('HPACK: Huffman code is not prefix-free');
        children[slot] = ~sym;
      } else {
        let next = children[slot]!;
        if (next === -0x7fffffff) {
          next = nodes++;
          children[slot] = next;
          children.push(-0x7fffffff, -0x7fffffff);
          depth[next] = depth[node]! + 1;
          allOnes[next] = allOnes[node]! && bit === 1;
        } else if (next < 0) {
          throw new Error('HPACK: Huffman code is not prefix-free');
        }
        node = next;
      }
    }
  }
  if (nodes !== 256) throw new Error(`HPACK: Huffman tree has ${nodes} internal nodes, expected 256`);
  const table = new Uint32Array(nodes * 16);
  for (let s = 0; s < nodes; s++) {
    for (let nib = 0; nib < 16; nib++) {
      let cur = s;
      let out = 0;
      for (let i = 3; i >= 0; i--) {
        const c = children[cur * 2 + ((nib >> i) & 1)]!;
        if (c === -0x7fffffff) throw new Error('HPACK: incomplete Huffman tree');
        if (c < 0) {
          const sym = ~c;
          if (sym === EOS) out |= HUFF_FAIL;
          else out = (out & HUFF_FAIL) | ((sym + 1) << 9);
          cur = 0;
        } else {
          cur = c;
        }
      }
      table[s * 16 + nib] = out | cur;
    }
  }
  // A string may end in a state reached by fewer than 8 one bits since the last symbol
  // (a prefix of EOS used as padding).
  const accept = new Uint8Array(nodes);
  for (let s = 0; s < nodes; s++) accept[s] = allOnes[s] && depth[s]! <= 7 ? 1 : 0;
  return { huffTable: table, huffAccept: accept };
})();

let huffScratch = Buffer.allocUnsafe(4096);

/** Decodes Huffman-coded `src[start, end)` to a latin1 string. */
export function huffmanDecode(src: Uint8Array, start = 0, end = src.length): string {
  // Every code is at least 5 bits: at most 8/5 symbols per input byte.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (huffScratch.length < max) huffScratch = Buffer.allocUnsafe(Math.max(max, huffScratch.length * 2));
  const out = huffScratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let e = huffTable[state * 16 + (byte >> 4)]!;
    if (e & HUFF_FAIL) throw new HpackError('HPACK: EOS in Huffman string');
    if (e >>> 9) out[n++] = ((e >>> 9) & 0x1ff) - 1;
    state = e & 0x1ff;
    e = huffTable[state * 16 + (byte & 15)]!;
    if (e & HUFF_FAIL) throw new HpackError('HPACK: EOS in Huffman string');
    if (e >>> 9) out[n++] = ((e >>> 9) & 0x1ff) - 1;
    state = e & 0x1ff;
  }
  if (!huffAccept[state]) throw new HpackError('HPACK: invalid Huffman padding');
  return out.toString('latin1', 0, n);
}

/** Huffman-encodes a latin1 string (not used on requests; for tests and completeness). */
export function huffmanEncode(s: string): Buffer {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += huffmanCodeLengths[s.charCodeAt(i) & 0xff]!;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let acc = 0; // pending bits (< 8) held in the low bits of acc
  let accBits = 0;
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = huffmanCodeLengths[sym]!;
    const code = huffmanCodes[sym]!;
    while (len > 0) {
      const take = Math.min(len, 8 - accBits);
      const chunk = Math.floor(code / 2 ** (len - take)) & ((1 << take) - 1);
      acc = (acc << take) | chunk;
      accBits += take;
      len -= take;
      if (accBits === 8) {
        out[pos++] = acc;
        acc = 0;
        accBits = 0;
      }
    }
  }
  if (accBits > 0) out[pos++] = (acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1); // EOS-prefix padding
  return out;
}

// ------------------------------------------------------------------ decoder

/** Size of an entry as the dynamic table counts it (RFC 7541 §4.1). */
const entrySize = (name: string, value: string): number => name.length + value.length + 32;

export interface HpackDecoderOptions {
  /** SETTINGS_HEADER_TABLE_SIZE we advertise: the largest dynamic table the peer may use. Default 4096. */
  maxTableSize?: number;
  /** A header list larger than this (RFC 7541 sizes) is an error. Default 256 KiB. */
  maxHeaderListSize?: number;
}

/** A header list that exceeded the decoder's maxHeaderListSize (the block was still fully decoded). */
export class HeaderListTooLarge extends Error {
  override readonly name = 'HeaderListTooLarge';
}

export class HpackDecoder {
  /** Dynamic table, newest first (index 62 = entries[0]). */
  #names: string[] = [];
  #values: string[] = [];
  #size = 0;
  /** Current maximum (set by the peer's size updates, at most #limit). */
  #max: number;
  /** Our advertised limit. */
  readonly #limit: number;
  readonly #maxList: number;

  constructor(opts: HpackDecoderOptions = {}) {
    this.#limit = opts.maxTableSize ?? 4096;
    this.#max = this.#limit;
    this.#maxList = opts.maxHeaderListSize ?? 256 * 1024;
  }

  get tableSize(): number {
    return this.#size;
  }
  get maxTableSize(): number {
    return this.#max;
  }
  get tableLength(): number {
    return this.#names.length;
  }
  /** Dynamic table entries, newest first (for tests). */
  entries(): [string, string][] {
    return this.#names.map((n, i) => [n, this.#values[i]!]);
  }

  /**
   * Decodes one complete header block. Throws HpackError on malformed input (a connection
   * error) and, after decoding the whole block, HeaderListTooLarge if the list is over the limit.
   */
  decode(buf: Uint8Array, start = 0, end = buf.length): HeaderList {
    const out: HeaderList = [];
    let listSize = 0;
    let pos = start;
    let fieldsSeen = false;
    while (pos < end) {
      const b = buf[pos]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed header field.
        const idx = decodeInt(buf, pos, end, 7);
        pos = next;
        if (idx === 0) throw new HpackError('HPACK: index 0');
        if (idx <= STATIC_COUNT) {
          const e = STATIC_TABLE[idx - 1]!;
          name = e[0];
          value = e[1];
        } else {
          const d = this.#dynamicIndex(idx);
          name = this.#names[d]!;
          value = this.#values[d]!;
        }
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update: only before the first field of a block.
        if (fieldsSeen) throw new HpackError('HPACK: dynamic table size update after a header field');
        const size = decodeInt(buf, pos, end, 5);
        pos = next;
        if (size > this.#limit) throw new HpackError(`HPACK: table size update ${size} above the limit ${this.#limit}`);
        this.#max = size;
        this.#evict(0);
        continue;
      } else {
        const incremental = (b & 0xc0) === 0x40;
        const idx = decodeInt(buf, pos, end, incremental ? 6 : 4);
        pos = next;
        if (idx === 0) {
          name = decodeString(buf, pos, end);
          pos = next;
        } else if (idx <= STATIC_COUNT) {
          name = STATIC_TABLE[idx - 1]![0];
        } else {
          name = this.#names[this.#dynamicIndex(idx)]!;
        }
        value = decodeString(buf, pos, end);
        pos = next;
        if (incremental) this.#add(name, value);
      }
      fieldsSeen = true;
      listSize += name.length + value.length + 32;
      out.push(name, value);
    }
    if (listSize > this.#maxList) throw new HeaderListTooLarge(`header list of ${listSize} bytes exceeds ${this.#maxList}`);
    return out;
  }

  #dynamicIndex(idx: number): number {
    const d = idx - STATIC_COUNT - 1;
    if (d >= this.#names.length) throw new HpackError(`HPACK: index ${idx} beyond the dynamic table`);
    return d;
  }

  #add(name: string, value: string): void {
    const size = entrySize(name, value);
    if (size > this.#max) {
      // Larger than the whole table: empties it and is not added (§4.4).
      this.#names.length = 0;
      this.#values.length = 0;
      this.#size = 0;
      return;
    }
    this.#evict(size);
    this.#names.unshift(name);
    this.#values.unshift(value);
    this.#size += size;
  }

  /** Evicts oldest entries until `room` more bytes fit under the maximum. */
  #evict(room: number): void {
    while (this.#size + room > this.#max && this.#names.length > 0) {
      this.#size -= entrySize(this.#names.pop()!, this.#values.pop()!);
    }
  }
}

/** Position after the last integer or string decoded (saves a tuple allocation per call). */
let next = 0;

/** Decodes an HPACK integer with an N-bit prefix at buf[pos]; the position after it is in `decodedEnd()`. */
export function decodeInt(buf: Uint8Array, pos: number, end: number, prefixBits: number): number {
  if (pos >= end) throw new HpackError('HPACK: truncated integer');
  const mask = (1 << prefixBits) - 1;
  let value = buf[pos++]! & mask;
  if (value < mask) {
    next = pos;
    return value;
  }
  let m = 0;
  for (;;) {
    if (pos >= end) throw new HpackError('HPACK: truncated integer');
    const b = buf[pos++]!;
    value += (b & 0x7f) * 2 ** m;
    m += 7;
    // Nothing here needs more than 2^31 (sizes, indexes, lengths): larger is an attack.
    if (value > 0x7fffffff) throw new HpackError('HPACK: integer overflow');
    if ((b & 0x80) === 0) {
      next = pos;
      return value;
    }
    if (m > 28) throw new HpackError('HPACK: integer overflow');
  }
}

/** The position after the integer last decoded by decodeInt. */
export function decodedEnd(): number {
  return next;
}

function decodeString(buf: Uint8Array, pos: number, end: number): string {
  if (pos >= end) throw new HpackError('HPACK: truncated string');
  const huffman = (buf[pos]! & 0x80) !== 0;
  const len = decodeInt(buf, pos, end, 7);
  const p = next;
  const stop = p + len;
  if (stop > end) throw new HpackError('HPACK: truncated string');
  const value = huffman ? huffmanDecode(buf, p, stop) : latin1(buf, p, stop);
  next = stop;
  return value;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.isBuffer(buf) ? buf.toString('latin1', start, end) : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', start, end);
}

// ------------------------------------------------------------------ encoder

/** Appends an HPACK integer with an N-bit prefix (first byte ORed with `flags`). */
export function encodeInt(out: number[], value: number, prefixBits: number, flags: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(flags | value);
    return;
  }
  out.push(flags | mask);
  value -= mask;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function encodeRawString(out: number[], s: string): void {
  encodeInt(out, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
}

const INVALID_VALUE = /[\0\r\n]|[^\0-\xff]/;
const INVALID_NAME = /[^!#$%&'*+\-.^_`|~0-9a-z]/;

/**
 * Encodes header fields (in order) as a stateless HPACK block: static indexed entries when
 * name and value match exactly, else literals without indexing, no Huffman. Names must be
 * lowercase; pseudo-headers (":method", ...) must come first.
 */
export function encodeHeaderBlock(headers: Record<string, string | number> | readonly (readonly [string, string | number])[]): Buffer {
  const list: readonly (readonly [string, string | number])[] = Array.isArray(headers) ? headers : Object.entries(headers);
  const out: number[] = [];
  let regularSeen = false;
  for (const [name, raw] of list) {
    const value = String(raw);
    const pseudo = name.startsWith(':');
    if (pseudo && regularSeen) throw new Error(`HPACK: pseudo-header ${name} after a regular header`);
    if (!pseudo) regularSeen = true;
    if (name.length === 0 || INVALID_NAME.test(pseudo ? name.slice(1) : name)) {
      throw new Error(`HPACK: invalid header name ${JSON.stringify(name)} (lowercase token characters only)`);
    }
    if (INVALID_VALUE.test(value)) throw new Error(`HPACK: invalid value for header ${name}`);
    const exact = staticPair.get(`${name}\0${value}`);
    if (exact !== undefined) {
      encodeInt(out, exact, 7, 0x80);
      continue;
    }
    const nameIdx = staticName.get(name);
    if (nameIdx !== undefined) {
      encodeInt(out, nameIdx, 4, 0x00); // literal without indexing, indexed name
    } else {
      out.push(0x00); // literal without indexing, new name
      encodeRawString(out, name);
    }
    encodeRawString(out, value);
  }
  return Buffer.from(out);
}
