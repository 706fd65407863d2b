import { parseLogFlags } from './flags.js';

describe('log flags', () => {
  it('defaults to stderr only, 10Mi files and 5 rotated files', () => {
    expect(parseLogFlags({})).toEqual({ level: undefined, dir: undefined, maxBytes: 10 * 1024 * 1024, maxFiles: 5 });
  });

  it('parses a directory (made absolute), a size with a suffix and a count', () => {
    expect(parseLogFlags({ 'log-dir': '/var/log/quantix', 'log-max-size': '512Ki', 'log-max-files': '0', 'log-level': 'debug' })).toEqual({
      level: 'debug',
      dir: '/var/log/quantix',
      maxBytes: 512 * 1024,
      maxFiles: 0,
    });
    expect(parseLogFlags({ 'log-dir': 'logs' }).dir).toBe(`${process.cwd()}/logs`);
  });

  it.each([
    [{ 'log-max-size': '10MB' }, /^--log-max-size: invalid size "10MB"/],
    [{ 'log-max-size': '0' }, /^--log-max-size: invalid size "0"/],
    [{ 'log-max-files': '-1' }, /^--log-max-files: a whole number ≥ 0, got "-1"/],
    [{ 'log-max-files': 'five' }, /^--log-max-files: a whole number ≥ 0, got "five"/],
    [{ 'log-dir': '' }, /^--log-dir: an empty path/],
  ])('refuses %j naming the flag', (values, message) => {
    expect(() => parseLogFlags(values)).toThrow(message);
  });
});
