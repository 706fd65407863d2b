/**
 * The agent killed while VMs run (SIGKILL to its whole process group), on real libvirt with
 * the real apiserver and node gateway: the domains are untouched while it is away, and what
 * was changed by hand meanwhile (a domain destroyed, one started, one undefined) is what the
 * API shows once it is back. No domain is ever duplicated or started twice (a running domain
 * keeps its libvirt id). Tiny diskless TCG domains with nothing to boot; every name
 * `qxtest-…`, everything removed afterwards, also on failure. A domain defined by hand and
 * undefined while it runs stays a transient domain: its host-discovered record follows it
 * across the agent's restart (the full sync does not mark it Terminated) until it stops.
 * (libvirtd restarted under a running agent: agent/agent.e2e.test.ts.)
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { DISCOVERED_ON_LABEL } from '../api-types/proto/contract.js';
import { virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { kubectl } from '../hack/testenv/apiserver.js';
import { startFinalizerStandIn, startTestControlPlane, type TestControlPlane } from '../hack/testenv/agent.js';
import { killAgentProcess, startAgentProcess } from '../hack/testenv/agent-process.js';
import { eventually } from '../hack/testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh, virshQuiet } from '../hack/testenv/libvirt.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const ns = qxTestName('away');
const node = qxTestName('anode');
const workDir = path.join('/tmp', `${node}-work`);
const stateDir = path.join(workDir, 'state');
const cleanup = new LibvirtCleanup();

let cp: TestControlPlane;
let finalizers: { stop(): void };
let agent: ChildProcess | undefined;

const store = () => cp.env.apiserver.context.stores.get(VM);
const getVm = async (name: string) => (await store().get(ns, name)) as VirtualMachine;
const phaseOf = async (name: string) => (await getVm(name)).status?.phase;
const domainName = (vm: string) => `${ns}_${vm}`;
const domState = async (vm: string) => (await virsh('domstate', domainName(vm))).stdout.trim();
const domId = async (vm: string) => (await virsh('domid', domainName(vm))).stdout.trim();

async function apply(yaml: string): Promise<void> {
  const res = await kubectl(cp.env.kubeconfig, ['apply', '-f', '-'], yaml);
  if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
}

/** A diskless VM (nothing to boot: it sits in the firmware). */
function vmYaml(name: string, runStrategy: string): string {
  return `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  runStrategy: ${runStrategy}
  cpu: 1
  memory: 64Mi
  nodeName: ${node}
`;
}

/** The host-discovered record of the domain defined by hand (any namespace), if any. */
async function handRecord(): Promise<VirtualMachine | undefined> {
  const { items } = await store().list({ labelSelector: `${DISCOVERED_ON_LABEL}=${node}` });
  return (items as VirtualMachine[]).find((vm) => vm.status?.domainName === domainName('hand'));
}

/** The names of this suite's domains. */
async function ourDomains(): Promise<string[]> {
  const { stdout } = await virsh('list', '--all', '--name');
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((n) => n.startsWith(`${ns}_`));
}

beforeAll(async () => {
  await ensureLibvirt();
  mkdirSync(stateDir, { recursive: true });
  cleanup.path(workDir);
  cp = await startTestControlPlane();
  finalizers = startFinalizerStandIn(cp);
  writeFileSync(path.join(workDir, 'ca.crt'), cp.env.caCertPem);
  writeFileSync(path.join(workDir, 'join-token'), cp.joinToken);
}, 60_000);

afterAll(async () => {
  await killAgentProcess(agent);
  finalizers?.stop();
  for (const d of await ourDomains().catch(() => [])) cleanup.domain(d);
  await cleanup.run();
  await cp?.stop();
}, 60_000);

describe('the agent killed while VMs run', () => {
  it('domains are untouched while it is away; hand changes (destroy, start, undefine) are what the API shows on its return', async () => {
    agent = startAgentProcess({ cp, workDir, stateDir, hostname: node, extraArgs: ['--acceleration=tcg'] });
    // keep: left alone. stopme: destroyed by hand. startme: stopped before, started by hand.
    // gone: undefined by hand. Manual: the agent reports the domain's state and enforces none.
    await apply(['keep', 'stopme', 'startme', 'gone'].map((n) => vmYaml(n, n === 'keep' ? 'Always' : 'Manual')).join('---\n'));
    for (const n of ['keep', 'stopme', 'startme', 'gone'])
      await eventually(async () => (await phaseOf(n)) === 'Running', { timeoutMs: 60_000, message: `${n} Running` });
    await virsh('destroy', domainName('startme'));
    await eventually(async () => (await phaseOf('startme')) === 'Stopped', { timeoutMs: 30_000, message: 'startme Stopped' });
    // hand: defined and started by hand; the agent records it (host-discovered).
    const handXml = path.join(workDir, 'hand.xml');
    writeFileSync(
      handXml,
      `<domain type='qemu'><name>${domainName('hand')}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>`,
    );
    await virsh('define', handXml);
    await virsh('start', domainName('hand'));
    await eventually(async () => (await handRecord())?.status?.powerState === 'running', { timeoutMs: 30_000, message: 'hand recorded running' });
    const keepId = await domId('keep');
    const stopmeId = await domId('stopme');

    await killAgentProcess(agent);
    agent = undefined;
    // Away: nothing happened to the domains.
    expect(await domId('keep')).toBe(keepId);
    expect(await domId('stopme')).toBe(stopmeId);
    expect(await domState('startme')).toBe('shut off');
    // Changes by hand.
    await virsh('destroy', domainName('stopme'));
    await virsh('start', domainName('startme'));
    await virsh('destroy', domainName('gone'));
    await virsh('undefine', domainName('gone'));
    // hand: undefined while it runs (transient now), then paused.
    await virsh('undefine', domainName('hand'));
    await virsh('suspend', domainName('hand'));
    // The API still shows the old truth: nobody reported the changes.
    expect(await phaseOf('stopme')).toBe('Running');
    expect(await phaseOf('startme')).toBe('Stopped');

    agent = startAgentProcess({ cp, workDir, stateDir, hostname: node, extraArgs: ['--acceleration=tcg'] });
    await eventually(
      async () =>
        (await phaseOf('stopme')) === 'Stopped' &&
        (await phaseOf('startme')) === 'Running' &&
        (await phaseOf('gone')) === 'Lost' &&
        (await phaseOf('keep')) === 'Running' &&
        (await handRecord())?.status?.powerState === 'paused',
      { timeoutMs: 60_000, message: 'the API shows the hand changes' },
    );
    // The transient domain's record is live (not Terminated by the full sync) and says so.
    expect((await handRecord())?.status).toMatchObject({ phase: 'Paused', origin: 'host-discovered' });
    // Once it stops, the transient domain is gone, and its record Terminated.
    await virsh('destroy', domainName('hand'));
    await eventually(async () => (await handRecord())?.status?.phase === 'Terminated', { timeoutMs: 30_000, message: 'hand Terminated' });
    expect((await getVm('gone')).status?.lostReason).toMatch(/no longer defined on node/);
    // The agent changed nothing itself: the Manual VMs stay as left, keep was never restarted,
    // gone was not re-created, and no domain is duplicated.
    expect(await domState('stopme')).toBe('shut off');
    expect(await domState('startme')).toBe('running');
    expect(await domId('keep')).toBe(keepId);
    expect(await virshQuiet('dominfo', domainName('gone'))).toBe(false);
    const domains = await ourDomains();
    expect(domains.sort()).toEqual([domainName('keep'), domainName('startme'), domainName('stopme')]);
  }, 180_000);
});
