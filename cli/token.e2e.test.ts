/**
 * `qxctl token` end to end: the real qxctl against the real apiserver and gateway (real
 * etcd), and the join command it prints run as it is, by a real `quantix-agent` process
 * (on the sim driver: this is about trust, not libvirt).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayClient } from '../agent/gateway-client.js';
import type { Node } from '../api-types/generated/types.js';
import { run } from '../hack/testenv/apiserver.js';
import { startTestControlPlane, type TestControlPlane } from '../hack/testenv/agent.js';
import { eventually } from '../hack/testenv/eventually.js';
import { keepProcessOutput, recordTestSecrets } from '../hack/testenv/test-logs.js';
import { caCertHash } from '../lib/pki/ca-cert-hash.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const QXCTL = join(ROOT, 'bin', 'qxctl');

let cp: TestControlPlane;
let workDir: string;
let agent: ChildProcess | undefined;

beforeAll(async () => {
  cp = await startTestControlPlane();
  workDir = mkdtempSync(join(tmpdir(), 'quantix-token-'));
});

afterAll(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    // 'close': its output is drained (and kept for the secrets check) before the suite ends.
    const gone = new Promise((resolve) => agent!.once('close', resolve));
    process.kill(-agent.pid!, 'SIGKILL');
    await gone;
  }
  await cp?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

const qx = (args: string[], kubeconfig = cp.env.kubeconfig) => run(QXCTL, args, { env: { KUBECONFIG: kubeconfig, HOME: workDir }, timeoutMs: 100_000 });

async function nodeNames(): Promise<string[]> {
  const def = [...cp.env.apiserver.context.served.keys()].find((d) => d.plural === 'nodes')!;
  return (await cp.env.apiserver.context.stores.get(def).list({})).items.map((n) => n.metadata.name!);
}

describe('qxctl token', () => {
  it('creates a token whose printed join command joins a host; list shows it used; delete removes it', async () => {
    const created = await qx(['token', 'create', '--ttl', '10m', '--single-use', '--description', 'e2e host']);
    expect(created.code).toBe(0);
    const command = /quantix-agent join (.+)$/m.exec(created.stdout)?.[1];
    expect(command).toBeDefined();
    const args = command!.trim().split(/\s+/);
    expect(args).toEqual([
      '--server',
      cp.env.apiserver.url,
      '--token',
      expect.stringMatching(/^[a-z0-9]{6}\.[a-z0-9]{16}$/),
      '--ca-cert-hash',
      caCertHash(cp.env.caCertPem),
    ]);
    const id = args[3]!.split('.')[0]!;
    expect(created.stdout).toContain(`Bootstrap token ${id} created: valid for`);
    expect(created.stdout).toContain('single use');

    // The printed command, as a host runs it (plus where this test's gateway and state are).
    agent = spawn(
      join(ROOT, 'node_modules/.bin/tsx'),
      [
        'agent/main.ts',
        'join',
        ...args,
        `--gateway=${cp.gatewayAddress}`,
        `--state-dir=${join(workDir, 'agent')}`,
        '--driver=sim',
        '--hostname=token-e2e',
        '--startup-jitter=0',
      ],
      { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QUANTIX_LOG_FORMAT: 'json' } },
    );
    recordTestSecrets(args[3]);
    let output = '';
    agent.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    agent.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    agent.once('close', () => keepProcessOutput('token-e2e-agent', output));
    await eventually(async () => (await nodeNames()).includes('token-e2e'), { timeoutMs: 60_000, message: 'the host to join' });

    const listed = await eventually(async () => {
      const res = await qx(['token', 'list']);
      return res.stdout.includes('used by token-e2e') ? res : false;
    });
    expect(listed.code).toBe(0);
    const row = listed.stdout.split('\n').find((l) => l.startsWith(id))!;
    expect(row).toContain('e2e host');
    expect(row).not.toContain(args[3]!.split('.')[1]!); // never the secret

    const deleted = await qx(['token', 'delete', id]);
    expect(deleted).toMatchObject({ code: 0, stdout: `bootstrap token ${id} deleted\n` });
    expect((await qx(['token', 'list'])).stdout).not.toContain(id);
    const again = await qx(['token', 'delete', id]);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`bootstraptokens.quantix.io "${id}" not found`);
  }, 180_000);

  it('prints only the token with -o token', async () => {
    const res = await qx(['token', 'create', '--ttl', '1m', '-o', 'token']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}\n$/);
  }, 60_000);

  it('refuses a viewer (exit 6, the refusal named) and a bad --ttl (exit 2), creating nothing', async () => {
    const before = (await qx(['token', 'list', '-o', 'json'])).stdout;
    const viewer = await qx(['token', 'create'], cp.env.viewerKubeconfig);
    expect(viewer.code).toBe(6);
    expect(viewer.stderr).toContain('User "viewer" cannot create resource "bootstraptokens"');
    const tooLong = await qx(['token', 'create', '--ttl', '200h']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('--ttl: from 1s to 168h');
    expect(JSON.parse((await qx(['token', 'list', '-o', 'json'])).stdout).items).toEqual(JSON.parse(before).items);
  }, 60_000);
});

describe('qxctl node approve and node revoke', () => {
  let manual: TestControlPlane;
  let gateway: GatewayClient | undefined;
  beforeAll(async () => {
    manual = await startTestControlPlane({ gateway: { nodeApproval: 'manual' } });
  });
  afterAll(async () => {
    gateway?.close();
    await manual?.stop();
  });
  const qxManual = (args: string[]) => run(QXCTL, args, { env: { KUBECONFIG: manual.env.kubeconfig, HOME: workDir }, timeoutMs: 100_000 });
  const node = async (name: string) => {
    const def = [...manual.env.apiserver.context.served.keys()].find((d) => d.plural === 'nodes')!;
    return (await manual.env.apiserver.context.stores.get(def).get(undefined, name)) as Node;
  };

  it('keeps a newly joined Node unschedulable until approved; revoke refuses its credential at once', async () => {
    gateway = new GatewayClient({ address: manual.gatewayAddress, caPem: manual.env.caCertPem, serverName: 'localhost' });
    const res = await gateway.registerNode({ hostname: 'pending-1', machineId: 'machine-pending-1' }, manual.joinToken);
    expect((await node('pending-1')).spec?.unschedulable).toBe(true);
    expect((await node('pending-1')).metadata.annotations?.['quantix.io/approval']).toBe('pending');

    const approved = await qxManual(['node', 'approve', 'pending-1']);
    expect(approved).toMatchObject({ code: 0, stdout: 'node.quantix.io/pending-1 approved\n' });
    expect((await node('pending-1')).spec?.unschedulable).toBe(false);
    expect((await node('pending-1')).metadata.annotations?.['quantix.io/approval']).toBeUndefined();
    expect((await qxManual(['node', 'approve', 'pending-1'])).stdout).toBe('node.quantix.io/pending-1 is not waiting for approval\n');

    gateway.setToken(res.credential);
    await expect(gateway.heartbeat({ stateHash: '', hypervisorReady: true })).resolves.toBeDefined();
    const revoked = await qxManual(['node', 'revoke', 'pending-1']);
    expect(revoked).toMatchObject({ code: 0, stdout: 'node.quantix.io/pending-1 revoked\n' });
    await expect(gateway.heartbeat({ stateHash: '', hypervisorReady: true })).rejects.toMatchObject({ reason: 'Unauthorized' });
    const unknown = await qxManual(['node', 'revoke', 'no-such-node']);
    expect(unknown.code).toBe(3);
    const viewer = await run(QXCTL, ['node', 'revoke', 'pending-1'], { env: { KUBECONFIG: manual.env.viewerKubeconfig, HOME: workDir } });
    expect(viewer.code).toBe(6);
  }, 120_000);
});
