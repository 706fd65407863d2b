import { jsonErrorOffset } from './json-error-offset.js';
import { parseJsonBody } from './negotiation.js';

describe('jsonErrorOffset', () => {
  it.each(['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "x\\n\\u00e9"]} ', '"text"', '0', '{"nested": {"deep": [[{}]]}}'])(
    'accepts valid JSON %p',
    (text) => {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(jsonErrorOffset(text)).toBeUndefined();
    },
  );

  it.each([
    ['{"a": x}', 6],
    ['{"a": 1,}', 8],
    ['[1 2]', 3],
    ['{"a": ', 6],
    ['{"a" 1}', 5],
    ['{a: 1}', 1],
    ['[01]', 2],
    ['"\\q"', 2],
    ['"\\u12G4"', 5],
    ['{"a": tru}', 9],
    ['{} {}', 3],
    ['', 0],
    ['{"a": "line\nbreak"}', 11],
  ])('finds where %p breaks (offset %p), as JSON.parse refuses it', (text, offset) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorOffset(text)).toBe(offset);
  });
});

describe('parseJsonBody errors say where', () => {
  it.each([
    ['{\n  "kind": x\n}', 'line 2, column 11'],
    ['{"a": 1,}', 'line 1, column 9'],
    ['{\n  "a": ', 'at the end of the body (line 2, column 8)'],
  ])('%p → %p', (text, where) => {
    expect(() => parseJsonBody(text)).toThrow(expect.objectContaining({ code: 400, message: expect.stringContaining(where) }));
  });
});
