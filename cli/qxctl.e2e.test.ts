/**
 * End-to-end: bin/qxctl as a subprocess against a real etcd + quantix-apiserver, checking
 * exit codes and output of every verb.
 *
 *   1. "against the apiserver": convergence is driven by this test writing status through
 *      the /status subresource (what agents and controllers do), so every wait path is
 *      exercised deterministically, failures included.
 *   2. "with controllers and sim agents": the controller-manager and two agents on the sim
 *      hypervisor driver, in process; VMs and pools converge for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Event, Node, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { renderKubeconfig } from '../apiserver/pki/kubeconfig.js';
import { startControllerManager } from '../controllers/setup.js';
import { HttpApiClient } from '../controllers/runtime/client.js';
import { Events, Nodes, StoragePools, VirtualMachines } from '../controllers/runtime/resources.js';
import { kubectl, run, startTestApiserver, type CommandResult, type TestApiserver } from '../hack/testenv/apiserver.js';
import { startSimAgents, startTestControlPlane, type SimFleet, type TestControlPlane } from '../hack/testenv/agent.js';
import { eventually } from '../hack/testenv/eventually.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const QXCTL = join(ROOT, 'bin', 'qxctl');

interface QxOptions {
  kubeconfig?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** A qxctl started in the background (watches, waits the test completes). */
class Background {
  stdout = '';
  stderr = '';
  readonly done: Promise<CommandResult>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => (this.stdout += String(d)));
    child.stderr!.on('data', (d) => (this.stderr += String(d)));
    this.done = new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout: this.stdout, stderr: this.stderr })));
  }
  stop(): Promise<CommandResult> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.done;
  }
}

function makeQx(kubeconfig: () => string, home: () => string) {
  const envFor = (opts: QxOptions): NodeJS.ProcessEnv => ({ KUBECONFIG: opts.kubeconfig ?? kubeconfig(), HOME: home(), QXCTL_DEBUG: '', ...opts.env });
  const qx = (args: string[], opts: QxOptions = {}) => run(QXCTL, args, { env: envFor(opts), input: opts.input, timeoutMs: 100_000 });
  const bg = (args: string[], opts: QxOptions = {}) =>
    new Background(spawn(QXCTL, args, { env: { ...process.env, ...envFor(opts) }, stdio: ['ignore', 'pipe', 'pipe'] }));
  return { qx, bg };
}

const vmYaml = (
  name: string,
  o: {
    namespace?: string;
    cpu?: number;
    labels?: Record<string, string>;
    runStrategy?: string;
    nodeName?: string;
    nodeSelector?: Record<string, string>;
    pool?: string;
  } = {},
) => `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
${o.namespace ? `  namespace: ${o.namespace}\n` : ''}${o.labels ? `  labels: ${JSON.stringify(o.labels)}\n` : ''}spec:
  cpu: ${o.cpu ?? 1}
  memory: 256Mi
${o.runStrategy ? `  runStrategy: ${o.runStrategy}\n` : ''}${o.nodeName ? `  nodeName: ${o.nodeName}\n` : ''}${o.nodeSelector ? `  nodeSelector: ${JSON.stringify(o.nodeSelector)}\n` : ''}  disks:
    - name: root
      storagePool: ${o.pool ?? 'local'}
      size: 1Gi
`;

const poolYaml = (name: string, nodes: string[]) => `apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: ${name}
spec:
  type: dir
  dir:
    path: /var/lib/quantix/pools/${name}
  assignedNodes: ${JSON.stringify(nodes)}
`;

/** A local port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const lines = (text: string) => text.split('\n').filter(Boolean);

/** Per test: many qxctl subprocesses, on a shared and sometimes loaded machine. */
const SLOW = 240_000;

describe('qxctl against the apiserver', () => {
  let env: TestApiserver;
  let api: HttpApiClient;
  const { qx, bg } = makeQx(
    () => env.kubeconfig,
    () => env.dataDir,
  );
  const file = (name: string, text: string) => {
    const path = join(env.dataDir, name);
    writeFileSync(path, text);
    return path;
  };
  const getVm = (name: string, ns = 'default') => api.get<VirtualMachine>(VirtualMachines, ns, name);
  const setVmStatus = (name: string, status: Record<string, unknown>, ns = 'default') =>
    api.patch(VirtualMachines, ns, name, { status }, { subresource: 'status' });

  beforeAll(async () => {
    env = await startTestApiserver();
    api = await HttpApiClient.fromFile(env.kubeconfig, { userAgent: 'qxctl-e2e' });
    // Warm the bundle cache once, so later timings are not the first build.
    await qx(['version', '--client']);
  });
  afterAll(async () => {
    api?.close();
    await env?.stop();
  });

  it(
    'get lists in pages (--chunk-size, default 500, as kubectl): every object once, in order, for tables, -o name and -w',
    async () => {
      const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
      const applied = await qx(['apply', '-f', '-', '-n', 'paging'], { input: names.map((n) => vmYaml(n)).join('---\n') });
      expect(applied.code).toBe(0);
      const lists: URLSearchParams[] = [];
      const seen = (req: { url?: string }) => {
        const url = new URL(req.url ?? '/', 'https://x');
        if (url.pathname === '/apis/quantix.io/v1alpha1/namespaces/paging/virtualmachines' && url.searchParams.get('watch') !== 'true')
          lists.push(url.searchParams);
      };
      env.apiserver.server.on('request', seen);
      try {
        const byName = await qx(['get', 'vm', '-n', 'paging', '--chunk-size', '2', '-o', 'name']);
        expect(byName.code).toBe(0);
        expect(lines(byName.stdout)).toEqual(names.map((n) => `virtualmachine.quantix.io/${n}`));
        // Three pages of at most 2: the first without a continue token, the others with the one the server gave.
        expect(lists.map((q) => [q.get('limit'), q.has('continue')])).toEqual([
          ['2', false],
          ['2', true],
          ['2', true],
        ]);

        lists.length = 0;
        const table = await qx(['get', 'vm', '-n', 'paging', '--chunk-size', '2']);
        expect(lines(table.stdout)[0]).toMatch(/^NAME\s+PHASE/);
        expect(
          lines(table.stdout)
            .slice(1)
            .map((l) => l.split(/\s+/)[0]),
        ).toEqual(names);
        expect(lists).toHaveLength(3);

        lists.length = 0;
        expect(lines((await qx(['get', 'vm', '-n', 'paging', '-o', 'name'])).stdout)).toHaveLength(5);
        expect(lists.map((q) => q.get('limit'))).toEqual(['500']);
        lists.length = 0;
        expect(lines((await qx(['get', 'vm', '-n', 'paging', '--chunk-size', '0', '-o', 'name'])).stdout)).toHaveLength(5);
        expect(lists.map((q) => q.get('limit'))).toEqual([null]);

        // -w: the initial list in pages too, then the watch.
        lists.length = 0;
        const watch = bg(['get', 'vm', '-n', 'paging', '--chunk-size', '3', '-w']);
        await eventually(() => names.every((n) => new RegExp(`^${n}\\s`, 'm').test(watch.stdout)), { timeoutMs: 60_000, message: 'the watch listed all five' });
        await watch.stop();
        expect(lists.map((q) => q.get('limit'))).toEqual(['3', '3']);

        const bad = await qx(['get', 'vm', '-n', 'paging', '--chunk-size', '-1']);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/--chunk-size: expected 0 \(no paging\) or a positive number of objects/);
      } finally {
        env.apiserver.server.off('request', seen);
        await qx(['delete', 'vm', '--all', '-n', 'paging']);
      }
    },
    SLOW,
  );

  it(
    'version: client and server',
    async () => {
      const r = await qx(['version']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Client Version: v\d+\.\d+\.\d+ \(qxctl/m);
      expect(r.stdout).toMatch(/^Server Version: v1\.32\.\d+\S* \(https:\/\/127\.0\.0\.1:\d+/m);
      const json = await qx(['version', '-o', 'json']);
      expect(JSON.parse(json.stdout).serverVersion).toMatchObject({ major: '1', minor: '32' });
    },
    SLOW,
  );

  it(
    'every verb answers --help (exit 0, usage)',
    async () => {
      const verbs = [
        'apply',
        'get',
        'describe',
        'delete',
        'vm start',
        'vm stop',
        'vm restart',
        'vm pause',
        'vm resume',
        'vm clone',
        'pool assign',
        'pool unassign',
        'pool files',
        'node cordon',
        'node uncordon',
        'node fence',
        'node unfence',
        'node check',
        'version',
        'completion',
      ];
      for (let i = 0; i < verbs.length; i += 4) {
        const results = await Promise.all(verbs.slice(i, i + 4).map((v) => qx([...v.split(' '), '--help'])));
        results.forEach((r, j) => {
          expect(r.code).toBe(0);
          expect(r.stdout).toContain(`Usage:\n  qxctl ${verbs[i + j]}`);
        });
      }
      const top = await qx([]);
      expect(top.code).toBe(0);
      expect(top.stdout).toContain('Exit codes:');
    },
    SLOW,
  );

  it(
    'apply: created, configured, unchanged; stdin; dry run; -o name',
    async () => {
      const pool = file('pool.yaml', poolYaml('local', ['node-a']));
      const vms = file('vms.yaml', `${vmYaml('web', { labels: { app: 'web' } })}---\n${vmYaml('db', { labels: { app: 'db' }, runStrategy: 'Halted' })}`);
      let r = await qx(['apply', '-f', pool, '-f', vms]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(lines(r.stdout)).toEqual([
        'storagepool.quantix.io/local created',
        'virtualmachine.quantix.io/web created',
        'virtualmachine.quantix.io/db created',
      ]);

      r = await qx(['apply', '-f', pool, '-f', vms]);
      expect(lines(r.stdout)).toEqual([
        'storagepool.quantix.io/local unchanged',
        'virtualmachine.quantix.io/web unchanged',
        'virtualmachine.quantix.io/db unchanged',
      ]);

      r = await qx(['apply', '-f', '-'], { input: vmYaml('web', { cpu: 2, labels: { app: 'web' } }) });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('virtualmachine.quantix.io/web configured\n');
      expect((await getVm('web')).spec.cpu).toBe(2);

      r = await qx(['apply', '-f', '-', '--dry-run=server'], { input: vmYaml('web', { cpu: 4, labels: { app: 'web' } }) });
      expect(r.stdout).toBe('virtualmachine.quantix.io/web configured (server dry run)\n');
      expect((await getVm('web')).spec.cpu).toBe(2);

      r = await qx(['apply', '-f', '-', '-o', 'name', '-n', 'prod'], { input: vmYaml('api') });
      expect(r.stdout).toBe('virtualmachine.quantix.io/api\n');
      expect((await getVm('api', 'prod')).metadata.namespace).toBe('prod');
      // The manifest's field manager is qxctl, with server-side apply.
      expect((await getVm('api', 'prod')).metadata.managedFields?.some((m) => m.manager === 'qxctl' && m.operation === 'Apply')).toBe(true);
    },
    SLOW,
  );

  it(
    'apply: directories (-R), bad manifests and rejected objects',
    async () => {
      const dir = join(env.dataDir, 'manifests');
      await run('mkdir', ['-p', join(dir, 'nested')]);
      writeFileSync(join(dir, 'a.yaml'), vmYaml('dir-a'));
      writeFileSync(join(dir, 'nested', 'b.yaml'), vmYaml('dir-b'));
      let r = await qx(['apply', '-f', dir]);
      expect(lines(r.stdout)).toEqual(['virtualmachine.quantix.io/dir-a created']);
      r = await qx(['apply', '-R', '-f', dir]);
      expect(lines(r.stdout)).toEqual(['virtualmachine.quantix.io/dir-a unchanged', 'virtualmachine.quantix.io/dir-b created']);

      // The server's validation: exit 5, reason and the field.
      r = await qx(['apply', '-f', '-'], { input: vmYaml('bad').replace('memory: 256Mi', 'memory: lots') });
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^Error from server \(Invalid\): VirtualMachine "bad" is invalid: .*spec\.memory/);
      expect(r.stderr).not.toMatch(/\n\s+at /);

      // One bad object does not stop the others; the exit code is the failure's.
      r = await qx(['apply', '-f', '-'], { input: `${vmYaml('good-one')}---\n${vmYaml('bad-two').replace('cpu: 1', 'cpu: -3')}` });
      expect(r.code).toBe(5);
      expect(r.stdout).toBe('virtualmachine.quantix.io/good-one created\n');
      expect(r.stderr).toContain('spec.cpu');

      // Client-side problems: exit 2.
      r = await qx(['apply', '-f', '-'], { input: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n' });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('error: <stdin>: no matches for kind "Deployment" in version "apps/v1"\n');
      r = await qx(['apply', '-f', '-'], { input: 'kind: [' });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: error parsing <stdin>: /);
      r = await qx(['apply', '-f', join(env.dataDir, 'missing.yaml')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/the path ".*missing.yaml" does not exist/);
      r = await qx(['apply', '-f', '-', '-n', 'other'], { input: vmYaml('x', { namespace: 'prod' }) });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('the namespace from the object ("prod") does not match --namespace "other"');
    },
    SLOW,
  );

  it(
    'apply: a field another manager owns is a conflict (exit 4) until --force-conflicts',
    async () => {
      const other = await kubectl(env.kubeconfig, ['apply', '--server-side', '--field-manager=someone-else', '-f', '-'], vmYaml('contested', { cpu: 2 }));
      expect(other.code).toBe(0);
      let r = await qx(['apply', '-f', '-'], { input: vmYaml('contested', { cpu: 3 }) });
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^Error from server \(Conflict\): .*spec\.cpu/s);
      r = await qx(['apply', '-f', '-', '--force-conflicts'], { input: vmYaml('contested', { cpu: 3 }) });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('virtualmachine.quantix.io/contested configured\n');
    },
    SLOW,
  );

  it(
    'get: the server printer columns (same as kubectl), wide, name, yaml, json, selectors, -A',
    async () => {
      await setVmStatus('web', {
        phase: 'Running',
        nodeName: 'node-a',
        powerState: 'running',
        conditions: [{ type: 'Ready', status: 'True', reason: 'Running', lastTransitionTime: new Date().toISOString() }],
      });
      const r = await qx(['get', 'vm']);
      expect(r.code).toBe(0);
      const k = await kubectl(env.kubeconfig, ['get', 'vm']);
      expect(lines(r.stdout)[0]).toBe(lines(k.stdout)[0]);
      expect(lines(r.stdout)[0]).toMatch(/^NAME\s+PHASE\s+NODE\s+IP\s+CPU\s+MEMORY\s+READY\s+AGE$/);
      expect(r.stdout).toMatch(/^web\s+Running\s+node-a\s+2\s+256Mi\s+True\s+\d+s$/m);

      const wide = await qx(['get', 'vm', 'web', '-o', 'wide']);
      expect(lines(wide.stdout)[0]).toMatch(/AGE\s+POWER\s+RUN-STRATEGY\s+ORIGIN\s+MANAGED$/);
      expect(lines(wide.stdout)[1]).toMatch(/running\s+Always/);

      expect((await qx(['get', 'vm', '-l', 'app=web', '-o', 'name'])).stdout).toBe('virtualmachine.quantix.io/web\n');
      expect((await qx(['get', 'vm', '--field-selector', 'status.phase=Running', '-o', 'name'])).stdout).toBe('virtualmachine.quantix.io/web\n');

      const yaml = await qx(['get', 'vm', 'web', '-o', 'yaml']);
      expect(yaml.stdout).toMatch(/^apiVersion: quantix.io\/v1alpha1\nkind: VirtualMachine\nmetadata:\n/);
      expect(yaml.stdout).not.toContain('managedFields');
      const json = JSON.parse((await qx(['get', 'vm', '-o', 'json'])).stdout);
      expect(json.kind).toBe('List');
      expect(json.items.map((i: VirtualMachine) => i.metadata.name)).toEqual(expect.arrayContaining(['web', 'db']));
      expect(json.items[0].kind).toBe('VirtualMachine');

      const all = await qx(['get', 'vm', '-A']);
      expect(lines(all.stdout)[0]).toMatch(/^NAMESPACE\s+NAME\s+PHASE/);
      expect(all.stdout).toMatch(/^prod\s+api\s/m);

      const several = await qx(['get', 'sp,vm/web']);
      expect(several.code).toBe(2); // mixing forms is a usage error
      const two = await qx(['get', 'sp/local', 'vm/web']);
      expect(two.stdout).toMatch(/^storagepool.quantix.io\/local\s+dir/m);
      expect(two.stdout).toMatch(/^virtualmachine.quantix.io\/web\s+Running/m);
    },
    SLOW,
  );

  it(
    'get: not found (exit 3), unknown types (exit 2), empty lists',
    async () => {
      let r = await qx(['get', 'vm', 'nope']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^Error from server \(NotFound\): virtualmachines\.quantix\.io "nope" not found\nrequest id: [0-9a-f-]{36}\n$/);
      r = await qx(['get', 'vm', 'web', 'nope', 'nada']);
      expect(r.code).toBe(3);
      expect(r.stdout).toMatch(/^web\s/m);
      // One line per missing name, then the command's request id.
      expect(lines(r.stderr)).toHaveLength(3);
      expect(lines(r.stderr)[2]).toMatch(/^request id: [0-9a-f-]{36}$/);
      r = await qx(['get', 'widgets']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: the server doesn't have a resource type "widgets"/);
      r = await qx(['get', 'vm', '-n', 'empty']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('No resources found in empty namespace.\n');
    },
    SLOW,
  );

  it(
    'get -w: prints changes and keeps watching across an apiserver restart',
    async () => {
      const w = bg(['get', 'vm', 'db', '-w']);
      try {
        await eventually(() => /^db\s/m.test(w.stdout), { timeoutMs: 30_000, message: `initial row (${w.stdout}${w.stderr})` });
        expect(lines(w.stdout)[0]).toMatch(/^NAME\s+PHASE/);
        await setVmStatus('db', { phase: 'Starting' });
        await eventually(() => /^db\s+Starting/m.test(w.stdout), { timeoutMs: 30_000, message: 'Starting row' });

        await env.stopApiserver();
        await env.restartApiserver();
        await setVmStatus('db', { phase: 'Stopped' });
        await eventually(() => /^db\s+Stopped/m.test(w.stdout), { timeoutMs: 60_000, message: `Stopped row after reconnect (${w.stdout}${w.stderr})` });
        expect(w.stderr).toContain('(watch:');
        expect(lines(w.stdout).filter((l) => l.startsWith('NAME'))).toHaveLength(1);
      } finally {
        await w.stop();
      }
      const named = bg(['get', 'vm', '-w', '-o', 'name', '-l', 'app=db']);
      try {
        await eventually(() => named.stdout.includes('virtualmachine.quantix.io/db'), { timeoutMs: 30_000 });
        await api.patch(VirtualMachines, 'default', 'db', { metadata: { labels: { touched: 'yes' } } });
        await eventually(() => lines(named.stdout).length >= 2, { timeoutMs: 30_000 });
      } finally {
        await named.stop();
      }
    },
    SLOW,
  );

  it(
    'describe: spec, status, conditions, per-host pool table, node allocation, Events',
    async () => {
      const vm = await getVm('web');
      await api.create<Event>(Events, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'web.started', namespace: 'default' },
        involvedObject: { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', name: 'web', namespace: 'default', uid: vm.metadata.uid },
        reason: 'Started',
        message: 'VM running on node node-a',
        type: 'Normal',
        count: 1,
        firstTimestamp: new Date().toISOString(),
        lastTimestamp: new Date().toISOString(),
        source: { component: 'quantix-vm-controller' },
      });
      let r = await qx(['describe', 'vm', 'web']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Name:\s+web$/m);
      expect(r.stdout).toMatch(/Run Strategy:\s+Always/);
      expect(r.stdout).toMatch(/root\s+local\s+1Gi\s+virtio/);
      expect(r.stdout).toMatch(/Phase:\s+Running/);
      expect(r.stdout).toMatch(/Ready\s+True\s+Running/);
      expect(r.stdout).toMatch(/Normal\s+Started\s+\d+s\s+quantix-vm-controller\s+VM running on node node-a/);

      await api.create<Node>(Nodes, { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'node-a' }, spec: {} });
      await api.patch(
        Nodes,
        undefined,
        'node-a',
        {
          status: {
            capacity: { cpu: 8, memoryBytes: 16 * 2 ** 30 },
            allocatable: { cpu: 8, memoryBytes: 16 * 2 ** 30 },
            conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady' }],
          },
        },
        { subresource: 'status' },
      );
      await api.patch(
        StoragePools,
        undefined,
        'local',
        { status: { phase: 'Degraded', hosts: { 'node-a': { health: 'ERROR', message: 'permission denied', lastReported: new Date().toISOString() } } } },
        { subresource: 'status' },
      );
      const vmsOnNode = await api.list<VirtualMachine>(VirtualMachines, { fieldSelector: 'spec.nodeName=node-a' });
      r = await qx(['describe', 'sp', 'local']);
      expect(r.stdout).toMatch(/Phase:\s+Degraded/);
      expect(r.stdout).toMatch(/node-a\s+ERROR\s+.*permission denied/);
      r = await qx(['describe', 'qn/node-a']);
      expect(r.stdout).toMatch(/Allocatable:\n\s+CPU:\s+8\n\s+Memory:\s+16Gi/);
      expect(r.stdout).toMatch(/Virtual Machines:/);
      expect(r.stdout).toMatch(new RegExp(`VMs:\\s+${vmsOnNode.items.length}`));

      r = await qx(['describe', 'vm', 'nope']);
      expect(r.code).toBe(3);
    },
    SLOW,
  );

  it(
    'vm start/stop/pause/resume patch the spec and wait for the phase the agent reports',
    async () => {
      // stop: runStrategy Halted, then waits for Stopped.
      let p = bg(['vm', 'stop', 'web', '--timeout', '60s']);
      await eventually(async () => (await getVm('web')).spec.runStrategy === 'Halted', { timeoutMs: 30_000 });
      await eventually(() => p.stderr.includes('want phase Stopped'), { timeoutMs: 30_000 });
      await setVmStatus('web', { phase: 'Stopped' });
      let r = await p.done;
      expect(r.code).toBe(0);
      expect(lines(r.stdout)).toEqual(['virtualmachine.quantix.io/web stop requested', 'virtualmachine.quantix.io/web stopped (phase Stopped)']);

      // start: Always (and not paused), then Running.
      p = bg(['vm', 'start', 'web']);
      await eventually(async () => (await getVm('web')).spec.runStrategy === 'Always', { timeoutMs: 30_000 });
      await setVmStatus('web', { phase: 'Running' });
      r = await p.done;
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('virtualmachine.quantix.io/web started (phase Running)');

      p = bg(['vm', 'pause', 'web']);
      await eventually(async () => (await getVm('web')).spec.paused === true, { timeoutMs: 30_000 });
      await setVmStatus('web', { phase: 'Paused' });
      expect((await p.done).stdout).toContain('paused (phase Paused)');

      p = bg(['vm', 'resume', 'web']);
      await eventually(async () => (await getVm('web')).spec.paused === false, { timeoutMs: 30_000 });
      await setVmStatus('web', { phase: 'Running' });
      expect((await p.done).code).toBe(0);

      // Already in the asked state: nothing to patch, returns once the phase matches.
      r = await qx(['vm', 'start', 'web']);
      expect(lines(r.stdout)).toEqual(['virtualmachine.quantix.io/web runStrategy is already Always', 'virtualmachine.quantix.io/web started (phase Running)']);

      r = await qx(['vm', 'stop', 'web', '--no-wait']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('virtualmachine.quantix.io/web stop requested\n');
      r = await qx(['vm', 'start', 'web', '--wait=false']);
      expect(r.stdout).toBe('virtualmachine.quantix.io/web start requested\n');

      r = await qx(['vm', 'start', 'nope']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^Error from server \(NotFound\): virtualmachines\.quantix\.io "nope" not found\nrequest id: [0-9a-f-]{36}\n$/);
    },
    SLOW,
  );

  it(
    'vm restart sets the restart annotation and waits for a counted restart',
    async () => {
      await setVmStatus('web', { phase: 'Running', restartCount: 1 });
      const p = bg(['vm', 'restart', 'web']);
      await eventually(async () => Boolean((await getVm('web')).metadata.annotations?.['quantix.io/restart-requested-at']), { timeoutMs: 30_000 });
      const requested = (await getVm('web')).metadata.annotations!['quantix.io/restart-requested-at']!;
      expect(Date.parse(requested)).toBeGreaterThan(Date.now() - 120_000);
      await setVmStatus('web', { phase: 'Starting', restartCount: 2 });
      await setVmStatus('web', { phase: 'Running', restartCount: 2 });
      const r = await p.done;
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('virtualmachine.quantix.io/web restarted (phase Running)');
    },
    SLOW,
  );

  it(
    'a wait that does not converge exits 7 naming the phase, conditions and last Events',
    async () => {
      await setVmStatus('db', {
        phase: 'Failed',
        conditions: [
          { type: 'Ready', status: 'False', reason: 'StartFailed', message: 'qemu: could not open disk image', lastTransitionTime: new Date().toISOString() },
        ],
      });
      const db = await getVm('db');
      await api.create<Event>(Events, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'db.failed', namespace: 'default' },
        involvedObject: { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', name: 'db', namespace: 'default', uid: db.metadata.uid },
        reason: 'FailedStart',
        message: 'domain start failed: could not open disk image',
        type: 'Warning',
        lastTimestamp: new Date().toISOString(),
      });
      const r = await qx(['vm', 'start', 'db', '--timeout', '2s']);
      expect(r.code).toBe(7);
      expect(r.stdout).toBe('virtualmachine.quantix.io/db start requested\n');
      expect(r.stderr).toContain('error: timed out after 2s; it did not converge:');
      expect(r.stderr).toContain(
        'virtualmachine.quantix.io/db (namespace default): phase Failed (StartFailed: qemu: could not open disk image); want phase Running',
      );
      expect(r.stderr).toContain('condition Ready=False (StartFailed: qemu: could not open disk image)');
      expect(r.stderr).toMatch(/event \d+s ago Warning FailedStart: domain start failed: could not open disk image/);

      // A Lost VM will not start by itself: qxctl says so at once.
      await setVmStatus('db', { phase: 'Lost', lostReason: 'domain missing on node-a' });
      const lost = await qx(['vm', 'start', 'db', '--timeout', '60s']);
      expect(lost.code).toBe(7);
      expect(lost.stderr).toMatch(/did not converge: the VM is Lost: domain missing on node-a/);
    },
    SLOW,
  );

  it(
    'apply --wait: waits for VMs and pools with progress, or times out naming them',
    async () => {
      const manifest = file(
        'wait.yaml',
        `${poolYaml('waitpool', ['node-a'])}---\n${vmYaml('waitvm', { pool: 'waitpool' })}---\n${vmYaml('waitoff', { pool: 'waitpool', runStrategy: 'Halted' })}`,
      );
      const w = bg(['apply', '-f', manifest, '--wait', '--timeout', '60s']);
      await eventually(() => w.stdout.includes('virtualmachine.quantix.io/waitoff created'), { timeoutMs: 30_000 });
      await api.patch(
        StoragePools,
        undefined,
        'waitpool',
        { status: { phase: 'Ready', hosts: { 'node-a': { health: 'HEALTHY' } } } },
        { subresource: 'status' },
      );
      await setVmStatus('waitvm', { phase: 'Running', nodeName: 'node-a' });
      await setVmStatus('waitoff', { phase: 'Stopped', nodeName: 'node-a' });
      const r = await w.done;
      expect(r.code).toBe(0);
      expect(lines(r.stdout).slice(3).sort()).toEqual([
        'storagepool.quantix.io/waitpool phase Ready (node-a HEALTHY)',
        'virtualmachine.quantix.io/waitoff phase Stopped on node-a',
        'virtualmachine.quantix.io/waitvm phase Running on node-a',
      ]);
      expect(r.stderr).toMatch(/waiting \(.*\) for /);

      // Timeout: the pool never becomes Ready; only what did not converge is named.
      const t = await qx(['apply', '-f', '-', '--wait', '--timeout', '2s'], {
        input: `${poolYaml('neverready', ['node-z'])}---\n${vmYaml('waitvm', { pool: 'waitpool' })}`,
      });
      expect(t.code).toBe(7);
      expect(t.stderr).toContain('timed out after 2s; 1 of 2 objects did not converge:');
      expect(t.stderr).toContain('storagepool.quantix.io/neverready: phase not reported (node-z not reported); want phase Ready');
    },
    SLOW,
  );

  it(
    'pool assign/unassign edit assignedNodes without losing concurrent edits',
    async () => {
      const nodes = ['n1', 'n2', 'n3', 'n4'];
      const results = await Promise.all(nodes.map((n) => qx(['pool', 'assign', 'local', n])));
      for (const r of results) expect(r.code).toBe(0);
      const pool = await api.get<StoragePool>(StoragePools, undefined, 'local');
      expect([...(pool.spec.assignedNodes ?? [])].sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'node-a']);

      let r = await qx(['pool', 'assign', 'local', 'n1']);
      expect(r.stdout).toBe(`storagepool.quantix.io/local already assigned to n1 (assigned: ${(pool.spec.assignedNodes ?? []).join(', ')})\n`);
      r = await qx(['pool', 'unassign', 'local', 'n1', 'n2', 'n3', 'n4']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('storagepool.quantix.io/local unassigned from n1, n2, n3, n4 (assigned: node-a)\n');

      const wait = bg(['pool', 'assign', 'local', 'n5', '--wait', '--timeout', '60s']);
      await eventually(async () => (await api.get<StoragePool>(StoragePools, undefined, 'local')).spec.assignedNodes?.includes('n5') === true, {
        timeoutMs: 30_000,
      });
      await api.patch(
        StoragePools,
        undefined,
        'local',
        { status: { phase: 'Ready', hosts: { 'node-a': { health: 'HEALTHY' }, n5: { health: 'HEALTHY' } } } },
        { subresource: 'status' },
      );
      expect((await wait.done).code).toBe(0);

      r = await qx(['pool', 'assign', 'nope', 'n1']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^Error from server \(NotFound\): storagepools\.quantix\.io "nope" not found\nrequest id: [0-9a-f-]{36}\n$/);
    },
    SLOW,
  );

  it(
    'node cordon/uncordon set spec.unschedulable',
    async () => {
      let r = await qx(['node', 'cordon', 'node-a']);
      expect(r.stdout).toBe('node.quantix.io/node-a cordoned\n');
      expect((await api.get<Node>(Nodes, undefined, 'node-a')).spec?.unschedulable).toBe(true);
      r = await qx(['node', 'cordon', 'node-a']);
      expect(r.stdout).toBe('node.quantix.io/node-a already cordoned\n');
      r = await qx(['node', 'uncordon', 'node-a']);
      expect(r.stdout).toBe('node.quantix.io/node-a uncordoned\n');
      expect((await api.get<Node>(Nodes, undefined, 'node-a')).spec?.unschedulable).toBe(false);
      r = await qx(['node', 'cordon', 'node-zz']);
      expect(r.code).toBe(3);
    },
    SLOW,
  );

  it(
    'node fence/unfence set spec.fenced; fencing a heartbeating node warns; an unknown node is NotFound',
    async () => {
      let r = await qx(['node', 'fence', 'node-a']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('node.quantix.io/node-a fenced\n');
      const ready = (await api.get<Node>(Nodes, undefined, 'node-a')).status?.conditions?.find((c) => c.type === 'Ready')?.status;
      expect(r.stderr).toBe(
        ready === 'Unknown' ? '' : `warning: node node-a is heartbeating (Ready=${ready ?? 'none'}): its VMs are recovered only once it stops\n`,
      );
      expect((await api.get<Node>(Nodes, undefined, 'node-a')).spec?.fenced).toBe(true);
      r = await qx(['node', 'fence', 'node-a']);
      expect(r.stdout).toBe('node.quantix.io/node-a already fenced\n');
      r = await qx(['get', 'qn', 'node-a']);
      expect(r.stdout).toContain(',Fenced');
      r = await qx(['node', 'unfence', 'node-a']);
      expect(r.stdout).toBe('node.quantix.io/node-a unfenced\n');
      expect((await api.get<Node>(Nodes, undefined, 'node-a')).spec?.fenced).toBe(false);
      r = await qx(['node', 'fence', 'node-zz']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/NotFound.*"node-zz" not found/);
    },
    SLOW,
  );

  it(
    'delete: by name, selector and file; waits for finalizers unless --wait=false',
    async () => {
      await qx(['apply', '-f', '-'], {
        input: `${vmYaml('del-a', { labels: { del: 'yes' } })}---\n${vmYaml('del-b', { labels: { del: 'yes' } })}---\n${vmYaml('del-c')}---\n${vmYaml('del-d')}`,
      });
      let r = await qx(['delete', 'vm', 'del-c']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('virtualmachine.quantix.io "del-c" deleted\n');

      r = await qx(['delete', 'vm', '-l', 'del=yes']);
      expect(lines(r.stdout).sort()).toEqual(['virtualmachine.quantix.io "del-a" deleted', 'virtualmachine.quantix.io "del-b" deleted']);

      // A finalizer holds the VM: delete waits until it is released.
      await api.patch(VirtualMachines, 'default', 'del-d', { metadata: { finalizers: ['quantix.io/vm-cleanup'] } });
      const p = bg(['delete', 'vm/del-d', '--timeout', '60s']);
      await eventually(async () => Boolean((await getVm('del-d')).metadata.deletionTimestamp), { timeoutMs: 30_000 });
      await eventually(() => p.stderr.includes('waiting for finalizers quantix.io/vm-cleanup'), { timeoutMs: 30_000 });
      expect(p.stdout).toBe('');
      await api.patch(VirtualMachines, 'default', 'del-d', { metadata: { finalizers: null } });
      r = await p.done;
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('virtualmachine.quantix.io "del-d" deleted\n');

      // --wait=false returns while the finalizer still holds it; a timeout names the finalizer.
      await qx(['apply', '-f', '-'], { input: vmYaml('del-e') });
      await api.patch(VirtualMachines, 'default', 'del-e', { metadata: { finalizers: ['quantix.io/vm-cleanup'] } });
      r = await qx(['delete', 'vm', 'del-e', '--timeout', '1s']);
      expect(r.code).toBe(7);
      expect(r.stderr).toContain('being deleted, waiting for finalizers quantix.io/vm-cleanup; want deleted');
      r = await qx(['delete', 'vm', 'del-e', '--wait=false']);
      expect(r.code).toBe(0);
      expect((await getVm('del-e')).metadata.deletionTimestamp).toBeDefined();
      await api.patch(VirtualMachines, 'default', 'del-e', { metadata: { finalizers: null } });

      const f = file('del.yaml', vmYaml('del-f'));
      await qx(['apply', '-f', f]);
      r = await qx(['delete', '-f', f]);
      expect(r.stdout).toBe('virtualmachine.quantix.io "del-f" deleted\n');
      r = await qx(['delete', '-f', f]);
      expect(r.code).toBe(3);
      r = await qx(['delete', '-f', f, '--ignore-not-found']);
      expect(r.code).toBe(0);
      r = await qx(['delete', 'vm']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/resource name\(s\) may not be empty/);
    },
    SLOW,
  );

  it(
    'kubeconfig handling and auth failures: contexts, forbidden, unauthorized, unreachable',
    async () => {
      await Promise.all([qx(['apply', '-f', '-'], { input: vmYaml('kc-web') }), qx(['apply', '-n', 'kc', '-f', '-'], { input: vmYaml('kc-api') })]);
      await api.create<Node>(Nodes, { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'kc-node' }, spec: {} });
      // KUBECONFIG with two files is merged; the first file's context is current.
      const both = `${env.kubeconfig}:${env.viewerKubeconfig}`;
      let r = await qx(['get', 'vm', 'kc-web', '-o', 'name'], { kubeconfig: both });
      expect(r.stdout).toBe('virtualmachine.quantix.io/kc-web\n');
      r = await qx(['--context', 'viewer@quantix', 'node', 'cordon', 'kc-node'], { kubeconfig: both });
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/^Error from server \(Forbidden\): /);
      r = await qx(['get', 'vm', '--context', 'nobody'], { kubeconfig: both });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('context "nobody" does not exist');

      // The context's namespace is the default namespace.
      const kcConfig = file(
        'kc.kubeconfig',
        renderKubeconfig({ server: env.apiserver.url, caCertPem: env.caCertPem, token: env.tokens.admin, user: 'admin', namespace: 'kc' }),
      );
      r = await qx(['--kubeconfig', kcConfig, 'get', 'vm', '-o', 'name'], { kubeconfig: '/nonexistent' });
      expect(r.stdout).toBe('virtualmachine.quantix.io/kc-api\n');

      const badToken = file('bad.kubeconfig', renderKubeconfig({ server: env.apiserver.url, caCertPem: env.caCertPem, token: 'wrong', user: 'x' }));
      r = await qx(['get', 'vm'], { kubeconfig: badToken });
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/^Error from server \(Unauthorized\)/);

      const port = await closedPort();
      const down = file('down.kubeconfig', renderKubeconfig({ server: `https://127.0.0.1:${port}`, caCertPem: env.caCertPem, token: 'x', user: 'x' }));
      r = await qx(['get', 'vm'], { kubeconfig: down });
      expect(r.code).toBe(8);
      expect(r.stderr).toBe(
        `error: cannot connect to the server at https://127.0.0.1:${port}: connection refused — is it running? (check KUBECONFIG / --kubeconfig)\n`,
      );

      r = await qx(['get', 'vm'], { kubeconfig: join(env.dataDir, 'nope.kubeconfig') });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: none of the KUBECONFIG files exist \(.*nope.kubeconfig\)/);
      r = await qx(['get', 'vm', '--kubeconfig', join(env.dataDir, 'nope.kubeconfig')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: kubeconfig .*nope.kubeconfig does not exist/);
    },
    SLOW,
  );

  it(
    'completion: scripts, and names from the server',
    async () => {
      const bash = await qx(['completion', 'bash']);
      expect(bash.code).toBe(0);
      expect(bash.stdout).toContain('complete -o default -F _qxctl_complete qxctl');
      const syntax = await run('bash', ['-n'], { input: bash.stdout });
      expect(syntax.code).toBe(0);
      const zsh = await qx(['completion', 'zsh']);
      expect(zsh.stdout).toContain('#compdef qxctl');
      await qx(['apply', '-n', 'comp', '-f', '-'], { input: `${vmYaml('comp-a')}---\n${vmYaml('comp-b')}` });
      const names = await qx(['__complete', '-n', 'comp', 'vm', 'start', '']);
      expect(lines(names.stdout)).toEqual(['comp-a', 'comp-b']);
      const verbs = await qx(['__complete', '']);
      expect(lines(verbs.stdout)).toEqual(expect.arrayContaining(['apply', 'get', 'vm', 'pool']));
    },
    SLOW,
  );
});

describe('qxctl with controllers and sim agents', () => {
  let cp: TestControlPlane;
  let fleet: SimFleet;
  let manager: Awaited<ReturnType<typeof startControllerManager>>;
  let api: HttpApiClient;
  const { qx, bg } = makeQx(
    () => cp.env.kubeconfig,
    () => cp.env.dataDir,
  );

  beforeAll(async () => {
    cp = await startTestControlPlane();
    manager = await startControllerManager({ kubeconfig: cp.env.kubeconfig });
    fleet = await startSimAgents(cp, 2);
    api = await HttpApiClient.fromFile(cp.env.kubeconfig, { userAgent: 'qxctl-e2e' });
    await eventually(
      async () => (await api.list<Node>(Nodes)).items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length === 2,
      {
        timeoutMs: 60_000,
        message: 'both sim nodes Ready',
      },
    );
  });
  afterAll(async () => {
    api?.close();
    await fleet?.stop();
    await manager?.manager.stop();
    manager?.client.close();
    await cp?.stop();
  });

  it(
    'apply --wait converges a pool and a VM; get shows them',
    async () => {
      const r = await qx(['apply', '-f', '-', '--wait', '--timeout', '90s'], { input: `${poolYaml('local', fleet.hostnames)}---\n${vmYaml('web')}` });
      expect(r.stderr).toMatch(/waiting \(/);
      expect(r.code).toBe(0);
      expect(lines(r.stdout).slice(0, 2)).toEqual(['storagepool.quantix.io/local created', 'virtualmachine.quantix.io/web created']);
      expect(r.stdout).toMatch(/^storagepool.quantix.io\/local phase Ready \(sim-node-0 HEALTHY, sim-node-1 HEALTHY\)$/m);
      expect(r.stdout).toMatch(/^virtualmachine.quantix.io\/web phase Running on sim-node-\d$/m);
      const get = await qx(['get', 'vm,sp']);
      expect(get.stdout).toMatch(/^virtualmachine.quantix.io\/web\s+Running\s+sim-node-\d\s+1\s+256Mi\s+True/m);
      expect(get.stdout).toMatch(/^storagepool.quantix.io\/local\s+dir\s+Ready\s+\S+\s+2\/2/m);
    },
    SLOW,
  );

  it(
    'vm stop / start / pause / resume converge through the agent',
    async () => {
      for (const [verb, phase] of [
        ['stop', 'Stopped'],
        ['start', 'Running'],
        ['pause', 'Paused'],
        ['resume', 'Running'],
      ] as const) {
        const r = await qx(['vm', verb, 'web', '--timeout', '90s']);
        expect(r.stderr).not.toMatch(/^error/m);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(`(phase ${phase})`);
      }
    },
    SLOW,
  );

  it(
    'pool files lists the VM volume on its node; bad paths and nodes are errors',
    async () => {
      const vm = await api.get<VirtualMachine>(VirtualMachines, 'default', 'web');
      const node = vm.status!.nodeName!;
      let r = await qx(['pool', 'files', 'local', '--node', node]);
      expect(r.code).toBe(0);
      expect(lines(r.stdout)[0]).toMatch(/^NAME\s+TYPE\s+SIZE\s+MODIFIED$/);
      expect(r.stdout).toMatch(/^web_root_\S+\s+file\s+\S+\s+\d+[smhd]/m);
      const json = JSON.parse((await qx(['pool', 'files', 'local', '--node', node, '-o', 'json'])).stdout);
      expect(json.items.length).toBeGreaterThan(0);

      r = await qx(['pool', 'files', 'local', 'no/such/dir', '--node', node]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^Error from server \(NotFound\)/);
      r = await qx(['pool', 'files', 'local', '--node', 'elsewhere']);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain('storage pool "local" is not assigned to node "elsewhere"');
      r = await qx(['pool', 'files', 'local']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--node is required: pool "local" is assigned to several nodes (sim-node-0, sim-node-1)');
    },
    SLOW,
  );

  it(
    'node check lists an orphan volume and an orphan Quantix domain (exit 9), deletes nothing, exits 0 once they are gone',
    async () => {
      const vm = await api.get<VirtualMachine>(VirtualMachines, 'default', 'web');
      const node = vm.status!.nodeName!;
      const driver = fleet.drivers[fleet.hostnames.indexOf(node)]!;
      let r = await qx(['node', 'check', node]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`no orphans on ${node} (pools checked: local)\n`);

      // A volume named as the agent names them, for a VM that never existed; and a domain
      // whose Quantix owner metadata names a uid no VM has.
      await driver.createVolume('local', { name: 'ghost_root_deadbeef.qcow2', capacityBytes: 1 << 20, format: 'qcow2' });
      const uuid = '0badc0de-1111-4222-8333-444444444444';
      await driver.defineDomain({
        uuid,
        name: 'default_gone',
        vcpus: 1,
        memoryBytes: 256 << 20,
        disks: [],
        networks: [],
        owner: { namespace: 'default', name: 'gone', uid: uuid },
      });
      await eventually(async () => (await qx(['node', 'check', node])).stdout.includes('domain'), {
        timeoutMs: 60_000,
        intervalMs: 500,
        message: 'the orphan domain is recorded by the gateway',
      });
      r = await qx(['node', 'check', node]);
      expect(r.code).toBe(9);
      expect(lines(r.stdout)[0]).toMatch(/^KIND\s+NAME\s+POOL\/DOMAIN\s+REASON$/);
      expect(r.stdout).toMatch(/^volume\s+ghost_root_deadbeef\.qcow2\s+local\s+no VM named "ghost" exists/m);
      expect(r.stdout).toMatch(
        new RegExp(`^domain\\s+default_gone\\s+default/\\S+\\s+owner metadata names default/gone \\(uid ${uuid}\\), which has no VM$`, 'm'),
      );
      expect(lines(r.stdout).filter((l) => l.includes('web_root'))).toEqual([]);
      const json = JSON.parse((await qx(['node', 'check', node, '-o', 'json'])).stdout);
      expect(json.findings.map((f: { kind: string; name: string }) => `${f.kind} ${f.name}`)).toEqual([
        'volume ghost_root_deadbeef.qcow2',
        'domain default_gone',
      ]);
      // Read-only: both are still there.
      expect((await driver.listVolumes('local')).map((v) => v.name)).toContain('ghost_root_deadbeef.qcow2');
      expect((await driver.getDomain(uuid)).name).toBe('default_gone');

      await driver.deleteVolume('local', 'ghost_root_deadbeef.qcow2');
      await driver.undefineDomain(uuid);
      await eventually(async () => (await qx(['node', 'check', node])).code === 0, { timeoutMs: 60_000, intervalMs: 500, message: 'node check clean again' });
      r = await qx(['node', 'check', node]);
      expect(r.stdout).toBe(`no orphans on ${node} (pools checked: local)\n`);
      expect((await qx(['node', 'check', 'no-such-node'])).code).toBe(3);
    },
    SLOW,
  );

  it(
    'describe shows the node allocation and the VM events from the controllers',
    async () => {
      const vm = await api.get<VirtualMachine>(VirtualMachines, 'default', 'web');
      let r = await qx(['describe', 'qn', vm.status!.nodeName!]);
      expect(r.stdout).toMatch(/Hypervisor:\s+sim/);
      expect(r.stdout).toMatch(/default\s+web\s+Running\s+1\s+256Mi/);
      r = await qx(['describe', 'vm', 'web']);
      expect(r.stdout).toMatch(/Normal\s+Scheduled\s+.*Successfully assigned default\/web/);
      r = await qx(['describe', 'sp', 'local']);
      expect(r.stdout).toMatch(/sim-node-0\s+HEALTHY/);
    },
    SLOW,
  );

  it(
    'apply --wait names why an unschedulable VM did not converge',
    async () => {
      const r = await qx(['apply', '-f', '-', '--wait', '--timeout', '5s'], { input: vmYaml('nowhere', { nodeSelector: { disk: 'nvme' } }) });
      expect(r.code).toBe(7);
      expect(r.stderr).toContain('virtualmachine.quantix.io/nowhere (namespace default): phase Pending');
      expect(r.stderr).toMatch(/condition (Scheduled|Ready)=False/);
      await qx(['delete', 'vm', 'nowhere']);
    },
    SLOW,
  );

  it(
    'delete waits for the agent to clean up the domain',
    async () => {
      const p = bg(['delete', 'vm', 'web', '--timeout', '90s']);
      const r = await p.done;
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('virtualmachine.quantix.io "web" deleted\n');
      await expect(api.get(VirtualMachines, 'default', 'web')).rejects.toThrow();
      const domains = (await Promise.all(fleet.drivers.map((d) => d.listDomains()))).flat();
      expect(domains.filter((d) => d.name.includes('web'))).toEqual([]);
    },
    SLOW,
  );
});
