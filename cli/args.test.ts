import { formatDuration, parseArgs, parseDuration, splitCommand, type FlagSpec } from './args.js';
import { UsageError } from './errors.js';

const specs: FlagSpec[] = [
  { name: 'namespace', short: 'n', type: 'string', description: '' },
  { name: 'output', short: 'o', type: 'string', choices: ['yaml', 'json', 'wide', 'name'], description: '' },
  { name: 'all-namespaces', short: 'A', type: 'boolean', description: '' },
  { name: 'watch', short: 'w', type: 'boolean', description: '' },
  { name: 'wait', type: 'boolean', default: true, description: '' },
  { name: 'filename', short: 'f', type: 'strings', description: '' },
  { name: 'timeout', type: 'duration', default: 30_000, description: '' },
  { name: 'limit', type: 'int', description: '' },
];

describe('parseArgs', () => {
  it.each([
    [['-n', 'prod'], 'prod'],
    [['-nprod'], 'prod'],
    [['-n=prod'], 'prod'],
    [['--namespace', 'prod'], 'prod'],
    [['--namespace=prod'], 'prod'],
  ])('reads a string flag in every spelling: %j', (argv, expected) => {
    expect(parseArgs(argv, specs).flags.namespace).toBe(expected);
  });

  it('takes flags anywhere among positionals and keeps `--` rest verbatim', () => {
    const p = parseArgs(['vm', '-o', 'yaml', 'web', '--', '-notaflag'], specs);
    expect(p.positionals).toEqual(['vm', 'web', '-notaflag']);
    expect(p.flags.output).toBe('yaml');
  });

  it('handles booleans: bare, =false, --no-, grouped shorthands; defaults', () => {
    expect(parseArgs([], specs).flags).toMatchObject({ wait: true, watch: false, 'all-namespaces': false, timeout: 30_000, filename: [] });
    expect(parseArgs(['--wait=false'], specs).flags.wait).toBe(false);
    expect(parseArgs(['--no-wait'], specs).flags.wait).toBe(false);
    expect(parseArgs(['--wait'], specs).flags.wait).toBe(true);
    expect(parseArgs(['-Aw'], specs).flags).toMatchObject({ 'all-namespaces': true, watch: true });
  });

  it('collects repeated list flags and records what was explicit', () => {
    const p = parseArgs(['-f', 'a.yaml', '--filename=b.yaml', '-fc.yaml'], specs);
    expect(p.flags.filename).toEqual(['a.yaml', 'b.yaml', 'c.yaml']);
    expect(p.explicit.has('filename')).toBe(true);
    expect(p.explicit.has('namespace')).toBe(false);
  });

  it('converts durations and integers', () => {
    expect(parseArgs(['--timeout', '90s'], specs).flags.timeout).toBe(90_000);
    expect(parseArgs(['--timeout=1m30s'], specs).flags.timeout).toBe(90_000);
    expect(parseArgs(['--limit', '5'], specs).flags.limit).toBe(5);
  });

  it.each([
    [['--bogus'], /unknown flag: --bogus/],
    [['-x'], /unknown shorthand flag: 'x'/],
    [['-n'], /flag needs an argument/],
    [['--output', 'table'], /invalid value "table" for --output: must be one of yaml, json, wide, name/],
    [['--wait=maybe'], /expected true or false/],
    [['--timeout', 'soon'], /invalid duration "soon"/],
    [['--limit', 'many'], /expected an integer/],
    [['-An', 'x'], /needs an argument and cannot be grouped/],
  ])('rejects %j as a usage error', (argv, message) => {
    let err: unknown;
    try {
      parseArgs(argv, specs, 'qxctl get');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(message);
    expect((err as UsageError).command).toBe('qxctl get');
    expect((err as UsageError).exitCode).toBe(2);
  });

  it('does not mistake negative numbers for flags', () => {
    expect(parseArgs(['-5'], specs).positionals).toEqual(['-5']);
  });
});

describe('durations', () => {
  it.each([
    ['30', 30_000],
    ['30s', 30_000],
    ['1500ms', 1500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2.5s', 2500],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'm', '5x', '5m junk', '-5s'])('rejects %j', (text) => expect(() => parseDuration(text)).toThrow(/invalid duration/));

  it.each([
    [500, '500ms'],
    [3000, '3s'],
    [120_000, '2m0s'],
    [3_725_000, '1h2m5s'],
  ])('formats %d ms as %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('splitCommand', () => {
  const global: FlagSpec[] = [
    { name: 'namespace', short: 'n', type: 'string', description: '' },
    { name: 'help', short: 'h', type: 'boolean', description: '' },
  ];
  const isGroup = (w: string) => ['vm', 'pool', 'node'].includes(w);

  it.each([
    [['get', 'vm', 'web'], ['get'], ['vm', 'web']],
    [['-n', 'prod', 'get', 'vm'], ['get'], ['-n', 'prod', 'vm']],
    [
      ['vm', 'start', 'web', '--no-wait'],
      ['vm', 'start'],
      ['web', '--no-wait'],
    ],
    [['-n', 'prod', 'vm', '-h'], ['vm'], ['-n', 'prod', '-h']],
    [['--help'], [], ['--help']],
    [
      ['pool', '-n', 'x', 'files', 'p'],
      ['pool', 'files'],
      ['-n', 'x', 'p'],
    ],
  ])('%j → words %j, rest %j', (argv, words, rest) => {
    expect(splitCommand(argv, global, isGroup)).toEqual({ words, rest });
  });
});
