/**
 * HPACK (hpack.ts): RFC 7541 Appendix C vectors, the canonical Huffman code, integer
 * edge cases, malformed input, and the stateless request encoder.
 */
import {
  decodeInt,
  decodedEnd,
  encodeHeaderBlock,
  encodeInt,
  EOS,
  HeaderListTooLarge,
  HpackDecoder,
  HpackError,
  huffmanCodeLengths,
  huffmanCodes,
  huffmanDecode,
  huffmanEncode,
  STATIC_TABLE,
} from './hpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (list: string[]) => {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
};

describe('Huffman code (Appendix B)', () => {
  test('257 code lengths satisfy Kraft equality (a complete prefix code)', () => {
    expect(huffmanCodeLengths).toHaveLength(257);
    // sum of 2^-len == 1, in integers: sum of 2^(30 - len) == 2^30 (30 is the longest code).
    const sum = huffmanCodeLengths.reduce((acc, len) => acc + 2 ** (30 - len), 0);
    expect(sum).toBe(2 ** 30);
    expect(Math.min(...huffmanCodeLengths)).toBe(5);
    expect(Math.max(...huffmanCodeLengths)).toBe(30);
  });

  test('canonical codes match entries of the RFC table', () => {
    const code = (c: string | number) => {
      const sym = typeof c === 'string' ? c.charCodeAt(0) : c;
      return [huffmanCodes[sym], huffmanCodeLengths[sym]];
    };
    expect(code('0')).toEqual([0x0, 5]);
    expect(code('a')).toEqual([0x3, 5]);
    expect(code(' ')).toEqual([0x14, 6]);
    expect(code(':')).toEqual([0x5c, 7]);
    expect(code('&')).toEqual([0xf8, 8]);
    expect(code(0)).toEqual([0x1ff8, 13]);
    expect(code(1)).toEqual([0x7fffd8, 23]);
    expect(code('\\')).toEqual([0x7fff0, 19]);
    expect(code(255)).toEqual([0x3ffffee, 26]);
    expect(code(EOS)).toEqual([0x3fffffff, 30]);
  });

  test('decodes the RFC example strings', () => {
    expect(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'))).toBe('www.example.com');
    expect(huffmanDecode(hex('a8eb 1064 9cbf'))).toBe('no-cache');
    expect(huffmanDecode(hex('25a8 49e9 5ba9 7d7f'))).toBe('custom-key');
    expect(huffmanDecode(hex('25a8 49e9 5bb8 e8b4 bf'))).toBe('custom-value');
    expect(huffmanDecode(hex('6402'))).toBe('302');
    expect(huffmanDecode(Buffer.alloc(0))).toBe('');
  });

  test('every byte value round-trips', () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    expect(huffmanDecode(huffmanEncode(all))).toBe(all);
    for (let i = 0; i < 256; i++) {
      const s = String.fromCharCode(i).repeat(3) + 'x';
      expect(huffmanDecode(huffmanEncode(s))).toBe(s);
    }
  });

  test('EOS inside a string is an error', () => {
    // 30 one bits (EOS) then 2 bits of padding.
    expect(() => huffmanDecode(hex('ffffffff'))).toThrow(HpackError);
    // '0' (00000), then EOS.
    expect(() => huffmanDecode(hex('07ffffffff'))).toThrow(/EOS/);
  });

  test('padding must be fewer than 8 one bits', () => {
    // 'a' = 00011 + 111 padding: fine.
    expect(huffmanDecode(hex('1f'))).toBe('a');
    // 'a' + 11 one bits of padding (more than 7): error.
    expect(() => huffmanDecode(hex('1fff'))).toThrow(/padding/);
    // padding with zero bits: error.
    expect(() => huffmanDecode(hex('18'))).toThrow(/padding/);
    // a truncated code (first 8 bits of a 13-bit code): error.
    expect(() => huffmanDecode(hex('ff'))).toThrow(/padding/);
  });
});

describe('integers (C.1)', () => {
  test('RFC examples encode and decode', () => {
    const enc = (v: number, n: number) => {
      const out: number[] = [];
      encodeInt(out, v, n, 0);
      return Buffer.from(out).toString('hex');
    };
    expect(enc(10, 5)).toBe('0a');
    expect(enc(1337, 5)).toBe('1f9a0a');
    expect(enc(42, 8)).toBe('2a');
    expect(decodeInt(hex('0a'), 0, 1, 5)).toBe(10);
    expect(decodeInt(hex('1f9a0a'), 0, 3, 5)).toBe(1337);
    expect(decodedEnd()).toBe(3);
    expect(decodeInt(hex('2a'), 0, 1, 8)).toBe(42);
  });

  test('prefix boundaries and large values round-trip', () => {
    for (const n of [4, 5, 6, 7, 8]) {
      const mask = (1 << n) - 1;
      for (const v of [0, 1, mask - 1, mask, mask + 1, mask + 127, mask + 128, 16383, 2 ** 21, 2 ** 31 - 1]) {
        const out: number[] = [];
        encodeInt(out, v, n, 0);
        expect(decodeInt(Buffer.from(out), 0, out.length, n)).toBe(v);
        expect(decodedEnd()).toBe(out.length);
      }
    }
  });

  test('the prefix ignores the flag bits above it', () => {
    expect(decodeInt(hex('ea'), 0, 1, 5)).toBe(10); // 111 01010
  });

  test('truncated and oversized integers are errors', () => {
    expect(() => decodeInt(hex('1f'), 0, 1, 5)).toThrow(/truncated/);
    expect(() => decodeInt(hex('1f9a'), 0, 2, 5)).toThrow(/truncated/);
    expect(() => decodeInt(hex(''), 0, 0, 5)).toThrow(/truncated/);
    expect(() => decodeInt(hex('1fffffffff0f'), 0, 6, 5)).toThrow(/overflow/);
    expect(() => decodeInt(hex('1f80808080808001'), 0, 8, 5)).toThrow(/overflow/);
  });
});

describe('decoder: Appendix C', () => {
  test('C.2 single representations', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual(['custom-key', 'custom-header']);
    expect(d.tableSize).toBe(55);
    const d2 = new HpackDecoder();
    expect(d2.decode(hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([':path', '/sample/path']);
    expect(d2.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual(['password', 'secret']);
    expect(d2.decode(hex('82'))).toEqual([':method', 'GET']);
    expect(d2.tableLength).toBe(0);
  });

  const requests = [
    [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'],
    [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'],
    [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'],
  ];
  const requestTables: [[string, string][], number][] = [
    [[[':authority', 'www.example.com']], 57],
    [
      [
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      110,
    ],
    [
      [
        ['custom-key', 'custom-value'],
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      164,
    ],
  ];

  test('C.3 requests without Huffman', () => {
    const d = new HpackDecoder();
    const blocks = [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ];
    blocks.forEach((b, i) => {
      expect(d.decode(hex(b))).toEqual(requests[i]);
      expect(d.entries()).toEqual(requestTables[i]![0]);
      expect(d.tableSize).toBe(requestTables[i]![1]);
    });
  });

  test('C.4 requests with Huffman', () => {
    const d = new HpackDecoder();
    const blocks = [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ];
    blocks.forEach((b, i) => {
      expect(d.decode(hex(b))).toEqual(requests[i]);
      expect(d.entries()).toEqual(requestTables[i]![0]);
      expect(d.tableSize).toBe(requestTables[i]![1]);
    });
  });

  const responses = [
    [':status', '302', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com'],
    [':status', '307', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com'],
    [
      ':status',
      '200',
      'cache-control',
      'private',
      'date',
      'Mon, 21 Oct 2013 20:13:22 GMT',
      'location',
      'https://www.example.com',
      'content-encoding',
      'gzip',
      'set-cookie',
      'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
    ],
  ];
  const responseTables: [[string, string][], number][] = [
    [
      [
        ['location', 'https://www.example.com'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['cache-control', 'private'],
        [':status', '302'],
      ],
      222,
    ],
    [
      [
        [':status', '307'],
        ['location', 'https://www.example.com'],
        ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
        ['cache-control', 'private'],
      ],
      222,
    ],
    [
      [
        ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
        ['content-encoding', 'gzip'],
        ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
      ],
      215,
    ],
  ];

  test('C.5 responses without Huffman, 256-byte table with eviction', () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    const blocks = [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120
       474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
      '4803 3330 37c1 c0bf',
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738
       666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33
       3630 303b 2076 6572 7369 6f6e 3d31`,
    ];
    blocks.forEach((b, i) => {
      expect(d.decode(hex(b))).toEqual(responses[i]);
      expect(d.entries()).toEqual(responseTables[i]![0]);
      expect(d.tableSize).toBe(responseTables[i]![1]);
    });
  });

  test('C.6 responses with Huffman, 256-byte table with eviction', () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    const blocks = [
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718
       63c7 8f0b 97c8 e9ae 82ae 43d3`,
      '4883 640e ffc1 c0bf',
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7
       b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    ];
    blocks.forEach((b, i) => {
      expect(d.decode(hex(b))).toEqual(responses[i]);
      expect(d.entries()).toEqual(responseTables[i]![0]);
      expect(d.tableSize).toBe(responseTables[i]![1]);
    });
  });
});

describe('decoder: dynamic table and errors', () => {
  test('size updates evict, and may not exceed the advertised limit', () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')); // 55 bytes
    expect(d.tableLength).toBe(1);
    // Size update to 0 (001 00000): empties the table.
    expect(d.decode(hex('20'))).toEqual([]);
    expect(d.tableLength).toBe(0);
    expect(d.maxTableSize).toBe(0);
    // Back to 100 (3f 45), then an entry that fits.
    d.decode(hex('3f45 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    expect(d.maxTableSize).toBe(100);
    expect(d.tableSize).toBe(55);
    // Above the advertised 256: an error.
    expect(() => d.decode(hex('3fe2 01'))).toThrow(/above the limit/);
  });

  test('a size update after a header field is an error', () => {
    expect(() => new HpackDecoder().decode(hex('82 20'))).toThrow(/size update after/);
  });

  test('an entry larger than the table empties it and is not added', () => {
    const d = new HpackDecoder({ maxTableSize: 64 });
    d.decode(hex('4003 6162 6303 7879 7a')); // abc: xyz, 38 bytes
    expect(d.tableLength).toBe(1);
    const long = 'v'.repeat(40);
    const block = Buffer.concat([hex('4003 6162 63'), Buffer.from([long.length]), Buffer.from(long)]);
    expect(d.decode(block)).toEqual(['abc', long]);
    expect(d.tableLength).toBe(0);
    expect(d.tableSize).toBe(0);
  });

  test('indexes out of range and index 0 are errors', () => {
    const d = new HpackDecoder();
    expect(() => d.decode(hex('80'))).toThrow(/index 0/);
    expect(() => d.decode(hex('be'))).toThrow(/beyond the dynamic table/); // 62, table empty
    expect(() => d.decode(hex('7f00 0161'))).toThrow(/beyond/); // literal with name index 63
    expect(d.decode(hex('bd'))).toEqual(['www-authenticate', '']); // 61: the last static entry
  });

  test('truncated strings are errors', () => {
    const d = new HpackDecoder();
    expect(() => d.decode(hex('4003 6162'))).toThrow(/truncated/);
    expect(() => d.decode(hex('04'))).toThrow(/truncated/);
    expect(() => d.decode(hex('0485 f1e3'))).toThrow(/truncated/);
  });

  test('Huffman errors inside a block are HpackErrors', () => {
    expect(() => new HpackDecoder().decode(hex('0481 ff'))).toThrow(HpackError);
  });

  test('an oversized header list is reported after the block is fully decoded', () => {
    const d = new HpackDecoder({ maxHeaderListSize: 100 });
    const block = encodeHeaderBlock([['x-a', 'a'.repeat(80)]]);
    const indexed = Buffer.concat([hex('4003 6162 6303 7879 7a'), block]);
    expect(() => d.decode(indexed)).toThrow(HeaderListTooLarge);
    expect(d.entries()).toEqual([['abc', 'xyz']]); // the table stays in sync
  });
});

describe('encodeHeaderBlock', () => {
  test('uses static indexes where exact, literals without indexing otherwise, no Huffman', () => {
    const block = encodeHeaderBlock([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/etcdserverpb.KV/Range'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    expect(block.subarray(0, 2).toString('hex')).toBe('8386');
    expect(block[2]).toBe(0x04); // literal without indexing, name index 4 (:path)
    expect(block.includes(Buffer.from('/etcdserverpb.KV/Range'))).toBe(true);
    const d = new HpackDecoder();
    expect(pairs(d.decode(block))).toEqual([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/etcdserverpb.KV/Range'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    expect(d.tableLength).toBe(0); // nothing indexed
  });

  test('blocks are stateless: concatenations decode to the concatenated lists', () => {
    const a = encodeHeaderBlock({ ':method': 'GET', ':path': '/' });
    const b = encodeHeaderBlock({ 'x-n': 7, 'x-long': 'z'.repeat(300) });
    expect(a.toString('hex')).toBe('8284');
    expect(new HpackDecoder().decode(Buffer.concat([a, b]))).toEqual([':method', 'GET', ':path', '/', 'x-n', '7', 'x-long', 'z'.repeat(300)]);
  });

  test('every static entry round-trips', () => {
    const list = STATIC_TABLE.map(([n, v]) => [n, v || 'x'] as [string, string]);
    const sorted = [...list.filter(([n]) => n.startsWith(':')), ...list.filter(([n]) => !n.startsWith(':'))];
    expect(pairs(new HpackDecoder().decode(encodeHeaderBlock(sorted)))).toEqual(sorted);
  });

  test('rejects invalid names and values, and pseudo-headers after regular ones', () => {
    expect(() => encodeHeaderBlock({ 'Content-Type': 'x' })).toThrow(/invalid header name/);
    expect(() => encodeHeaderBlock({ 'x-a': 'a\r\nb' })).toThrow(/invalid value/);
    expect(() =>
      encodeHeaderBlock([
        ['x-a', '1'],
        [':path', '/'],
      ]),
    ).toThrow(/pseudo-header/);
  });
});
