import { allCommands, ENTRIES, isGroup, run, TOP_LEVEL } from './app.js';
import type { Io } from './command.js';
import type { Client } from './client.js';
import { ApiStatusError } from './errors.js';
import { applyBody, applyOutcome } from './commands/apply.js';
import { bashScript, complete, zshScript } from './commands/completion.js';
import { editAssignment, fileTable, normalizeListing } from './commands/pool.js';

function capture(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    isTTY: false,
    out(text: string) {
      io.stdout += `${text}\n`;
    },
    err(text: string) {
      io.stderr += `${text}\n`;
    },
    readStdin: async () => '',
  };
  return io;
}

async function qx(argv: string[]) {
  const io = capture();
  const clientFactory = async () => {
    throw new Error('no server in unit tests');
  };
  const code = await run(argv, { io, clientFactory });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('dispatch and help', () => {
  it('prints the overview (with exit codes) for no arguments, --help and help', async () => {
    for (const argv of [[], ['--help'], ['-h'], ['help']]) {
      const r = await qx(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Basic commands:');
      expect(r.stdout).toContain('7  timeout');
    }
  });

  it('the overview lists every command', async () => {
    const { stdout } = await qx(['--help']);
    const listed = new Set(stdout.split('\n').map((line) => line.match(/^ {2}(\S+(?: \S+)?) {2,}/)?.[1]));
    expect(ENTRIES.map((e) => e.name).filter((name) => !listed.has(name))).toEqual([]);
  });

  it('every verb has --help with usage and flags', async () => {
    const commands = await allCommands();
    expect(commands.map((c) => c.name)).toEqual(ENTRIES.map((e) => e.name));
    for (const cmd of commands) {
      const r = await qx([...cmd.name.split(' '), '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage:\n  qxctl ${cmd.usage}`);
      expect(r.stdout).toContain('Global flags:');
      for (const f of cmd.flags) expect(r.stdout).toContain(`--${f.name}`);
      const viaHelp = await qx(['help', ...cmd.name.split(' ')]);
      expect(viaHelp.stdout).toBe(r.stdout);
    }
  });

  it('groups list their verbs', async () => {
    for (const group of ['vm', 'pool', 'node']) {
      const help = await qx([group, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`qxctl ${group} COMMAND`);
      const bare = await qx([group]);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toMatch(new RegExp(`"qxctl ${group}" needs a command`));
    }
  });

  it.each([
    [['gti', 'vm'], /unknown command "gti" for "qxctl"\nDid you mean this\?\n\tget/],
    [['vm', 'strat', 'web'], /unknown command "strat" for "qxctl vm" \(commands: start, stop, restart, pause, resume, clone, snapshot, restore\)/],
    [['get', 'vm', '--bogus'], /unknown flag: --bogus\nSee 'qxctl get --help' for usage./],
    [['get'], /an argument is required: qxctl get TYPE/],
    [['vm', 'start'], /an argument is required/],
    [['pool', 'assign', 'local'], /at least 2 arguments are required/],
    [['version', 'extra'], /unexpected arguments: extra/],
    [['get', 'bogus'], /doesn't have a resource type "bogus"/],
    [['get', 'vm', '-o', 'table'], /must be one of wide, yaml, json, name/],
    [['--bogus'], /unknown flag: --bogus/],
    [['-n', 'x'], /no command given/],
    [['get', 'vm', 'a', '-w', '-l', 'x=y'], /names and selectors/],
    [['get', 'vm,sp', '-w'], /watch needs exactly one resource type/],
    [['completion', 'fish'], /unsupported shell "fish"/],
    [['help', 'nope'], /unknown help topic "nope"/],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const r = await qx(argv);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.code).toBe(2);
  });

  it('version --client needs no server', async () => {
    const r = await qx(['version', '--client']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Client Version: v\d+\.\d+\.\d+ \(qxctl/);
    const json = await qx(['version', '--client', '-o', 'json']);
    expect(JSON.parse(json.stdout).clientVersion.gitVersion).toMatch(/^v/);
  });

  it('one request id per command: given to the client, printed with -v, shown under an error from the server', async () => {
    const seen: (string | undefined)[] = [];
    const io = capture();
    const notFound = new ApiStatusError({
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Failure',
      reason: 'NotFound',
      code: 404,
      message: 'virtualmachines.quantix.io "web" not found',
    });
    const clientFactory = async (o: { requestId?: string }) => {
      seen.push(o.requestId);
      return { get: async () => Promise.reject(notFound), namespace: 'default' } as unknown as Client;
    };
    const code = await run(['get', 'vm', 'web', '-v'], { io, clientFactory });
    expect(code).toBe(3);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(io.stderr).toBe(`request id: ${seen[0]}\nError from server (NotFound): virtualmachines.quantix.io "web" not found\nrequest id: ${seen[0]}\n`);

    // Another command, another id; without -v only the error shows it.
    const again = capture();
    await run(['get', 'vm', 'web'], { io: again, clientFactory });
    expect(seen[1]).not.toBe(seen[0]);
    expect(again.stderr).toBe(`Error from server (NotFound): virtualmachines.quantix.io "web" not found\nrequest id: ${seen[1]}\n`);
  });

  it('an unexpected failure prints one line, exit 1', async () => {
    const r = await qx(['get', 'vm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: no server in unit tests\n');
  });
});

describe('completion', () => {
  const env = (names: Record<string, string[]> = {}) => ({
    commands: [] as Awaited<ReturnType<typeof allCommands>>,
    topLevel: TOP_LEVEL,
    isGroup,
    names: async (type: string, ns: string | undefined) => names[`${type}${ns ? `@${ns}` : ''}`] ?? [],
  });
  let commands: Awaited<ReturnType<typeof allCommands>>;
  beforeAll(async () => {
    commands = await allCommands();
  });

  it.each([
    [[''], TOP_LEVEL],
    [
      ['vm', ''],
      ['start', 'stop', 'restart', 'pause', 'resume', 'clone', 'snapshot', 'restore'],
    ],
    [
      ['pool', ''],
      ['assign', 'unassign', 'files'],
    ],
    [
      ['get', '-o', ''],
      ['wide', 'yaml', 'json', 'name'],
    ],
    [
      ['completion', ''],
      ['bash', 'zsh'],
    ],
    [
      ['vm', 'start', ''],
      ['web', 'db'],
    ],
    [['-n', 'prod', 'vm', 'stop', ''], ['prod-vm']],
    [['get', 'sp', ''], ['local']],
    [['describe', 'qn', ''], ['n1']],
    [['pool', 'assign', ''], ['local']],
    [['pool', 'assign', 'local', ''], ['n1']],
    [['pool', 'files', 'local', '--node', ''], ['n1']],
    [['apply', '-f', ''], []],
  ])('%j → %j', async (words, expected) => {
    const names = { virtualmachines: ['web', 'db'], 'virtualmachines@prod': ['prod-vm'], storagepools: ['local'], nodes: ['n1'] };
    expect(await complete(words, { ...env(names), commands })).toEqual(expected);
  });

  it('offers resource types and flags', async () => {
    const types = await complete(['get', ''], { ...env(), commands });
    expect(types).toEqual(expect.arrayContaining(['virtualmachines', 'vm', 'storagepools', 'sp', 'nodes', 'qn', 'quantix']));
    const flags = await complete(['get', 'vm', '--'], { ...env(), commands });
    expect(flags).toEqual(expect.arrayContaining(['--output', '-o', '--watch', '--selector', '--namespace', '--kubeconfig']));
  });

  it('scripts call back into qxctl __complete', () => {
    expect(bashScript).toContain('__complete');
    expect(bashScript).toContain('complete -o default -F _qxctl_complete qxctl');
    expect(zshScript).toContain('#compdef qxctl');
    expect(zshScript).toContain('__complete');
  });
});

describe('pool helpers', () => {
  it.each([
    [['a'], ['b'], true, ['a', 'b']],
    [['a'], ['a'], true, undefined],
    [['a'], ['b', 'b', 'a'], true, ['a', 'b']],
    [['a', 'b'], ['a'], false, ['b']],
    [['a'], ['c'], false, undefined],
  ])('edit %j with %j (assign %s) → %j', (current, nodes, assign, expected) => {
    expect(editAssignment(current, nodes, assign)).toEqual(expected);
  });

  it('reads both file-listing shapes and prints directories first', () => {
    const now = new Date('2026-01-01T00:10:00Z');
    const a = normalizeListing({
      path: 'images',
      items: [
        { name: 'b.qcow2', type: 'file', sizeBytes: 2048, modifiedTime: '2026-01-01T00:00:00Z' },
        { name: 'sub', type: 'dir', sizeBytes: 4096, modifiedTime: '2026-01-01T00:09:00Z' },
      ],
      truncated: true,
    });
    const b = normalizeListing({
      path: 'images',
      entries: [
        { name: 'b.qcow2', type: 'file', sizeBytes: 2048, modifiedAt: Date.parse('2026-01-01T00:00:00Z') },
        { name: 'sub', type: 'dir', sizeBytes: 4096, modifiedAt: '2026-01-01T00:09:00Z' },
      ],
      truncated: true,
    });
    expect(a).toEqual(b);
    expect(a.truncated).toBe(true);
    expect(fileTable(a, now)).toBe(['NAME      TYPE   SIZE   MODIFIED', 'sub/      dir    -      60s', 'b.qcow2   file   2Ki    10m'].join('\n'));
    expect(fileTable(a, now, true).split('\n')[2]).toBe('b.qcow2   file   2Ki    2048    2026-01-01T00:00:00.000Z');
  });
});

describe('apply helpers', () => {
  it('tells created / configured / unchanged apart', () => {
    expect(applyOutcome(201, undefined, '5')).toBe('created');
    expect(applyOutcome(200, '5', '5')).toBe('unchanged');
    expect(applyOutcome(200, '5', '6')).toBe('configured');
  });

  it('sends no server-owned metadata or status', () => {
    const body = applyBody(
      {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name: 'web', resourceVersion: '9', uid: 'u', managedFields: [], creationTimestamp: 'x', generation: 2, labels: { a: 'b' } },
        spec: {},
        status: { phase: 'Running' },
      },
      'prod',
    );
    expect(body).toEqual({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'web', labels: { a: 'b' }, namespace: 'prod' },
      spec: {},
    });
  });
});
