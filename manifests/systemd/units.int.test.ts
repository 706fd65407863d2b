/**
 * The systemd units of manifests/systemd/ (README.md, "Installing a host"), installed by the
 * real hack/install-host.sh into a temporary root and checked there by systemd's own
 * `systemd-analyze verify` and `security --offline`. The root holds what a host has: systemd's
 * unit files, /usr/bin/etcd, and the repository's launchers at the install prefix
 * (/opt/quantix/bin), so verify checks every ExecStart= against a real executable.
 */
import { execFile } from 'node:child_process';
import {
  accessSync,
  constants,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..', '..');
const SRC = path.join(REPO, 'manifests', 'systemd');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const PREFIX = '/opt/quantix';
const UNITS = readdirSync(SRC)
  .filter((f) => f.endsWith('.service'))
  .sort();

/** `[Section]` → key → values, in order (a unit file may repeat a key). */
type UnitFile = Map<string, Map<string, string[]>>;

function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]!) ?? new Map<string, string[]>();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit file line: ${raw}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The last value of `key` in [Service] (the one systemd uses), or undefined. */
function serviceValue(unit: UnitFile, key: string): string | undefined {
  return unit.get('Service')?.get(key)?.at(-1);
}

/** An EnvironmentFile= as systemd reads it: comments, KEY=VALUE, "quotes", backslash-newline continuation. */
function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.replace(/\\\n/g, '').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    const value = m[2]!.trim();
    env.set(m[1]!, value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value);
  }
  return env;
}

async function analyze(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(SYSTEMD_ANALYZE, args, { env: { ...process.env, SYSTEMD_COLORS: '0' } });
    return { code: 0, output: (stdout + stderr).trim() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

let root: string;
const verify = (...units: string[]) => analyze(['verify', '--man=no', `--root=${root}`, ...units.map((u) => `/etc/systemd/system/${u}`)]);

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'quantix-systemd-'));
  // What a Debian host has: systemd's own units, etcd (package etcd-server) ...
  cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  try {
    linkSync('/usr/bin/etcd', path.join(root, 'usr/bin/etcd'));
  } catch {
    copyFileSync('/usr/bin/etcd', path.join(root, 'usr/bin/etcd'));
  }
  // ... and the Quantix tree at the install prefix: the repository's own launchers.
  mkdirSync(path.join(root, PREFIX, 'bin'), { recursive: true });
  for (const f of readdirSync(path.join(REPO, 'bin'))) copyFileSync(path.join(REPO, 'bin', f), path.join(root, PREFIX, 'bin', f));
  await run('bash', [path.join(REPO, 'hack/install-host.sh'), '--root', root]);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test('manifests/systemd holds the units of the control plane and the agent', () => {
  expect(UNITS).toEqual([
    'quantix-agent.service',
    'quantix-apiserver.service',
    'quantix-controller-manager.service',
    'quantix-etcd.service',
    'quantix-pki.service',
  ]);
});

test('hack/install-host.sh installs every unit, the quantix user and the env files, and keeps an edited env file', async () => {
  for (const u of UNITS) expect(readFileSync(path.join(root, 'etc/systemd/system', u), 'utf8')).toBe(readFileSync(path.join(SRC, u), 'utf8'));
  expect(readFileSync(path.join(root, 'etc/passwd'), 'utf8')).toMatch(/^quantix:x:\d+:\d+:Quantix control plane:\/var\/lib\/quantix:\/usr\/sbin\/nologin$/m);
  for (const f of readdirSync(path.join(SRC, 'env'))) expect(existsSync(path.join(root, 'etc/quantix', f))).toBe(true);

  const edited = path.join(root, 'etc/quantix/agent.env');
  const original = readFileSync(edited, 'utf8');
  writeFileSync(edited, 'QUANTIX_AGENT_ARGS="--server https://10.0.0.1:6443"\n');
  try {
    await run('bash', [path.join(REPO, 'hack/install-host.sh'), '--root', root]);
    expect(readFileSync(edited, 'utf8')).toBe('QUANTIX_AGENT_ARGS="--server https://10.0.0.1:6443"\n');
    expect(readFileSync(path.join(root, 'etc/passwd'), 'utf8').match(/^quantix:/gm)).toHaveLength(1);
  } finally {
    writeFileSync(edited, original);
  }
});

test.each(UNITS)('systemd-analyze verify accepts %s without a warning', async (unit) => {
  expect(await verify(unit)).toEqual({ code: 0, output: '' });
});

describe('systemd-analyze verify catches a broken unit', () => {
  const broken = (name: string, edit: (text: string) => string) => {
    const text = readFileSync(path.join(SRC, 'quantix-apiserver.service'), 'utf8');
    const changed = edit(text);
    expect(changed).not.toBe(text);
    writeFileSync(path.join(root, 'etc/systemd/system', name), changed);
  };
  afterEach(() => {
    for (const f of readdirSync(path.join(root, 'etc/systemd/system'))) if (f.startsWith('broken-')) rmSync(path.join(root, 'etc/systemd/system', f));
  });

  test('a misspelt directive', async () => {
    broken('broken-directive.service', (t) => t.replace('\nRestart=on-failure', '\nRestrat=on-failure'));
    const { output } = await verify('broken-directive.service');
    expect(output).toContain("Unknown key 'Restrat' in section [Service]");
  });

  test('a misspelt value', async () => {
    broken('broken-value.service', (t) => t.replace('ProtectSystem=strict', 'ProtectSystem=strickt'));
    const { output } = await verify('broken-value.service');
    expect(output).toMatch(/Failed to parse protect system value, ignoring: strickt/);
  });

  test('an ExecStart= launcher that is not installed', async () => {
    broken('broken-exec.service', (t) => t.replace('/opt/quantix/bin/quantix-apiserver', '/opt/quantix/bin/quantix-apiservr'));
    const { code, output } = await verify('broken-exec.service');
    expect(code).not.toBe(0);
    expect(output).toContain('Command /opt/quantix/bin/quantix-apiservr is not executable');
  });
});

/** What each unit must say: restart policy and the hardening chosen for it (README, Installing a host). */
const NODE_COMPONENT = { MemoryDenyWriteExecute: 'no', SystemCallFilter: '@system-service', SystemCallErrorNumber: 'EPERM' };
const CONTROL_PLANE = {
  User: 'quantix',
  NoNewPrivileges: 'yes',
  CapabilityBoundingSet: '',
  ProtectSystem: 'strict',
  ProtectHome: 'yes',
  PrivateTmp: 'yes',
  PrivateDevices: 'yes',
  ProtectKernelTunables: 'yes',
  ProtectKernelModules: 'yes',
  ProtectControlGroups: 'yes',
  LockPersonality: 'yes',
  RestrictNamespaces: 'yes',
  SystemCallArchitectures: 'native',
  Restart: 'on-failure',
};
const EXPECTED: Record<string, Record<string, string>> = {
  'quantix-pki.service': { ...CONTROL_PLANE, ...NODE_COMPONENT, Type: 'oneshot', StateDirectory: 'quantix/apiserver', RestrictAddressFamilies: 'AF_UNIX' },
  'quantix-etcd.service': {
    ...CONTROL_PLANE,
    Type: 'notify',
    ExecStart: '/usr/bin/etcd',
    StateDirectory: 'quantix/etcd',
    MemoryDenyWriteExecute: 'yes',
    SystemCallFilter: '@system-service',
    RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
  },
  'quantix-apiserver.service': {
    ...CONTROL_PLANE,
    ...NODE_COMPONENT,
    StateDirectory: 'quantix/apiserver',
    RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
  },
  'quantix-controller-manager.service': { ...CONTROL_PLANE, ...NODE_COMPONENT, RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6' },
  'quantix-agent.service': {
    ...NODE_COMPONENT,
    NoNewPrivileges: 'yes',
    // Root for the pool directories, with the file capabilities only (the unit says why).
    CapabilityBoundingSet: 'CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_CHOWN',
    ProtectSystem: 'full',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    PrivateDevices: 'no',
    ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes',
    ProtectControlGroups: 'yes',
    LockPersonality: 'yes',
    RestrictNamespaces: 'yes',
    SystemCallArchitectures: 'native',
    StateDirectory: 'quantix-agent',
    RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    Restart: 'on-failure',
  },
};

describe.each(UNITS)('%s', (unit) => {
  const parsed = parseUnit(readFileSync(path.join(SRC, unit), 'utf8'));

  test('restarts on failure after a pause, and has the hardening chosen for it', () => {
    const expected = EXPECTED[unit];
    expect(expected).toBeDefined();
    const actual = Object.fromEntries(Object.keys(expected!).map((k) => [k, serviceValue(parsed, k)]));
    expect(actual).toEqual(expected);
    expect(serviceValue(parsed, 'RestartSec')).toMatch(/^[1-9]\d*s$/);
    // The agent alone runs as root (no User=), for the pool directories.
    if (unit === 'quantix-agent.service') expect(serviceValue(parsed, 'User')).toBeUndefined();
  });

  test('systemd-analyze security --offline rates its exposure low', async () => {
    const { output } = await analyze(['security', '--offline=yes', `--root=${root}`, '--no-pager', `/etc/systemd/system/${unit}`]);
    const level = /Overall exposure level for \S+: (\d+\.\d+)/.exec(output);
    expect(level).not.toBeNull();
    // 10 is a unit without hardening; the agent keeps root's file capabilities and /dev.
    expect(Number(level![1])).toBeLessThanOrEqual(unit === 'quantix-agent.service' ? 3 : 2);
  });

  test('its environment file is installed and defines the variables ExecStart= uses', () => {
    const envFile = serviceValue(parsed, 'EnvironmentFile');
    if (unit === 'quantix-pki.service') return expect(envFile).toBeUndefined();
    expect(envFile).toMatch(/^\/etc\/quantix\/[a-z-]+\.env$/);
    const env = parseEnvFile(readFileSync(path.join(root, envFile!), 'utf8'));
    for (const [, name] of (serviceValue(parsed, 'ExecStart') ?? '').matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)) {
      expect([name, env.get(name!)]).toEqual([name, expect.stringMatching(/^--/)]);
    }
  });
});

/** `--help` of a launcher (or etcd), listing the flags it takes. */
async function helpOf(command: string): Promise<string> {
  const { stdout, stderr } = await run(command, ['--help'], { cwd: tmpdir(), maxBuffer: 4 * 1024 * 1024 });
  return stdout + stderr;
}

describe('every flag in the example env files is one the component takes', () => {
  test.each([
    ['apiserver.env', 'QUANTIX_APISERVER_ARGS', 'quantix-apiserver'],
    ['controller-manager.env', 'QUANTIX_CONTROLLER_MANAGER_ARGS', 'quantix-controller-manager'],
    ['agent.env', 'QUANTIX_AGENT_ARGS', 'quantix-agent'],
  ])('%s (%s, through bin/%s --help)', async (file, variable, launcher) => {
    const args = parseEnvFile(readFileSync(path.join(SRC, 'env', file), 'utf8')).get(variable);
    expect(args).toBeDefined();
    const flags = args!.split(/\s+/).filter((a) => a.startsWith('--'));
    expect(flags.length).toBeGreaterThan(0);
    const help = await helpOf(path.join(REPO, 'bin', launcher));
    expect(flags.filter((f) => !new RegExp(`^\\s+${f}\\b`, 'm').test(help))).toEqual([]);
  });

  test('etcd.env (ETCD_* variables, through etcd --help)', async () => {
    const vars = [...parseEnvFile(readFileSync(path.join(SRC, 'env', 'etcd.env'), 'utf8')).keys()];
    expect(vars.length).toBeGreaterThan(0);
    const help = await helpOf('/usr/bin/etcd');
    const flags = vars.map(
      (v) =>
        `--${v
          .replace(/^ETCD_/, '')
          .toLowerCase()
          .replace(/_/g, '-')}`,
    );
    expect(flags.filter((f) => !new RegExp(`^\\s+${f}\\b`, 'm').test(help))).toEqual([]);
  });
});

test('every ExecStart= runs an executable the repository ships at bin/ (or Debian etcd)', () => {
  for (const unit of UNITS) {
    const command = serviceValue(parseUnit(readFileSync(path.join(SRC, unit), 'utf8')), 'ExecStart')!.split(/\s+/)[0]!;
    const file = command.startsWith(`${PREFIX}/bin/`) ? path.join(REPO, 'bin', path.basename(command)) : command;
    expect([unit, file]).toEqual([unit, unit === 'quantix-etcd.service' ? '/usr/bin/etcd' : expect.stringContaining(path.join(REPO, 'bin'))]);
    expect(() => accessSync(file, constants.X_OK)).not.toThrow();
  }
});
