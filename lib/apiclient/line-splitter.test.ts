import { LineSplitter } from './line-splitter.js';

describe('LineSplitter', () => {
  it('returns complete lines and holds a partial one', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}\n')).toEqual(['{"b":2}']);
  });

  it('skips blank lines and flushes a final line without newline', () => {
    const s = new LineSplitter();
    expect(s.push('\n\n{"a":1}\n\n{"c":3}')).toEqual(['{"a":1}']);
    expect(s.flush()).toEqual(['{"c":3}']);
    expect(s.flush()).toEqual([]);
  });

  it('handles a line split into many single characters', () => {
    const s = new LineSplitter();
    const text = '{"type":"ADDED"}\n';
    const out = [...text].flatMap((ch) => s.push(ch));
    expect(out).toEqual(['{"type":"ADDED"}']);
  });
});
