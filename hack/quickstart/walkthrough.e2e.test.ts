/**
 * The README walkthrough, end to end: `make up`'s own script (hack/up.sh, with a temp state
 * dir and free ports), qxctl as a subprocess on the shipped examples, the real libvirt
 * checked with virsh, then hack/down.sh. What the README shows is what this test runs.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../testenv/eventually.js';
import { run, type CommandResult } from '../testenv/apiserver.js';
import { keepUpStateLogs } from '../testenv/test-logs.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE_DOMAINS = ['default_small', 'default_pinned'];

async function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

async function virshDomains(): Promise<Map<string, string>> {
  const result = await run('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name']);
  const states = new Map<string, string>();
  for (const name of result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)) {
    const state = await run('virsh', ['-c', 'qemu:///system', 'domstate', name]);
    states.set(name, state.stdout.trim());
  }
  return states;
}

describe('README walkthrough (make up, qxctl, virsh, make down)', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'quantix-walkthrough-'));
  let env: NodeJS.ProcessEnv;
  const qxctl = (args: string[], input?: string): Promise<CommandResult> => run(join(ROOT, 'bin/qxctl'), args, { env, input, timeoutMs: 240_000 });

  beforeAll(async () => {
    const existing = await virshDomains();
    const clash = EXAMPLE_DOMAINS.filter((name) => existing.has(name));
    if (clash.length) throw new Error(`libvirt already has ${clash.join(', ')} (from a running Quantix?): run \`make down\` and remove them first`);
    const [etcdPort, etcdPeerPort, apiPort, gatewayPort, imagePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    env = {
      QUANTIX_STATE_DIR: stateDir,
      QUANTIX_ETCD_PORT: String(etcdPort),
      QUANTIX_ETCD_PEER_PORT: String(etcdPeerPort),
      QUANTIX_API_PORT: String(apiPort),
      QUANTIX_GATEWAY_PORT: String(gatewayPort),
      QUANTIX_IMAGE_PORT: String(imagePort),
      KUBECONFIG: join(stateDir, 'kubeconfig'),
    };
    const up = await run('bash', [join(ROOT, 'hack/up.sh')], { env, timeoutMs: 600_000 });
    if (up.code !== 0) throw new Error(`make up failed (${up.code}): ${up.stdout}\n${up.stderr}`);
    expect(up.stdout).toContain('Quantix is up.');
    expect(up.stdout).toContain(`kubeconfig:  ${stateDir}/kubeconfig`);
    // The acceleration the node uses, and the test image served for manifests/examples/guest/.
    expect(up.stdout).toMatch(/acceleration: (kvm|tcg) \((flag|probe): /);
    expect(up.stdout).toMatch(new RegExp(`test image:  http://127\\.0\\.0\\.1:${imagePort}/debian-12-guest\\.qcow2  \\(sha256 [0-9a-f]{64}\\)`));
    const head = await fetch(`http://127.0.0.1:${imagePort}/debian-12-guest.qcow2`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    // The local agent joined as any host does: a short-lived single-use bootstrap token (spent
    // now), then its own certificate; no static join token anywhere.
    expect(new X509Certificate(readFileSync(join(stateDir, 'agent/node.crt'))).subject).toBe('O=quantix:nodes\nCN=quantix:node:local');
    expect(readFileSync(join(stateDir, 'tokens.csv'), 'utf8')).not.toContain('node-join');
    const tokens = JSON.parse((await qxctl(['token', 'list', '-o', 'json'])).stdout) as {
      items: { spec: { singleUse: boolean }; status: { usedBy?: string } }[];
    };
    expect(tokens.items).toEqual([
      expect.objectContaining({ spec: expect.objectContaining({ singleUse: true }), status: expect.objectContaining({ usedBy: 'local' }) }),
    ]);
  }, 600_000);

  afterAll(async () => {
    // Leave nothing behind even when a step failed.
    if (env) await qxctl(['delete', '-f', join(ROOT, 'manifests/examples/'), '--timeout', '2m']).catch(() => undefined);
    for (const name of EXAMPLE_DOMAINS) {
      await run('virsh', ['-c', 'qemu:///system', 'destroy', name]);
      await run('virsh', ['-c', 'qemu:///system', 'undefine', name, '--nvram']);
    }
    if (env) await run('bash', [join(ROOT, 'hack/down.sh')], { env });
    keepUpStateLogs(stateDir, 'walkthrough'); // for the run's secrets check
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('applies the examples and waits until they converge', async () => {
    const applied = await qxctl(['apply', '-f', join(ROOT, 'manifests/examples/'), '--wait', '--timeout', '3m']);
    expect(applied.stderr).not.toMatch(/^error/m);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('storagepool.quantix.io/local created');
    expect(applied.stdout).toContain('virtualmachine.quantix.io/small created');
    expect(applied.stdout).toContain('virtualmachine.quantix.io/pinned created');
    const vms = await qxctl(['get', 'vms']);
    expect(vms.stdout).toMatch(/small\s+Running\s+local/);
    expect(vms.stdout).toMatch(/pinned\s+Running\s+local/);
    const pools = await qxctl(['get', 'sp']);
    expect(pools.stdout).toMatch(/local\s+dir\s+Ready\s+\S+\s+1\/1/);
  });

  it('shows the domains in virsh', async () => {
    const domains = await virshDomains();
    expect(domains.get('default_small')).toBe('running');
    expect(domains.get('default_pinned')).toBe('running');
  });

  it('stops and starts a VM', async () => {
    const stopped = await qxctl(['vm', 'stop', 'small', '--timeout', '3m']);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('stopped (phase Stopped)');
    expect((await virshDomains()).get('default_small')).toBe('shut off');
    const started = await qxctl(['vm', 'start', 'small', '--timeout', '3m']);
    expect(started.code).toBe(0);
    expect(started.stdout).toContain('started (phase Running)');
    expect((await virshDomains()).get('default_small')).toBe('running');
  });

  it('browses the pool and describes the VM', async () => {
    const files = await qxctl(['pool', 'files', 'local', '--node', 'local']);
    expect(files.code).toBe(0);
    expect(files.stdout).toMatch(/small_root_[0-9a-f]{8}\.qcow2\s+file/);
    const described = await qxctl(['describe', 'vm', 'small']);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/Phase:\s+Running/);
    expect(described.stdout).toContain('Events:');
  });

  it('deletes the VMs: domains and volumes gone, then the objects', async () => {
    const uid = JSON.parse((await qxctl(['get', 'vm', 'small', '-o', 'json'])).stdout).metadata.uid as string;
    const volume = `small_root_${uid.slice(0, 8)}`;
    expect((await qxctl(['pool', 'files', 'local', '--node', 'local'])).stdout).toContain(volume);
    const deleted = await qxctl(['delete', 'vm', 'small', 'pinned', '--timeout', '3m']);
    expect(deleted.code).toBe(0);
    const domains = await virshDomains();
    expect(domains.has('default_small')).toBe(false);
    expect(domains.has('default_pinned')).toBe(false);
    const missing = await qxctl(['get', 'vm', 'small']);
    expect(missing.code).toBe(3);
    await eventually(async () => !(await qxctl(['pool', 'files', 'local', '--node', 'local'])).stdout.includes(volume), {
      message: 'volume removed from the pool',
    });
  });
});
