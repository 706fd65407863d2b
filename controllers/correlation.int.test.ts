/**
 * One correlation id from a write to the agent, on the real apiserver and etcd, the real
 * controller manager and an agent on the sim driver: the controllers' writes caused by a
 * create keep its id (bind, finalizer), a Stop is a new write with a new id, and the vm
 * controller's reconcile lines and Event, and the agent's action, carry that id.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORRELATION_ID_ANNOTATION } from '../api-types/correlation.js';
import type { Event, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { SimDriver } from '../agent/hypervisor/sim/driver.js';
import { setLogLevel, setLogSink } from '../lib/logging/logger.js';
import type { LogRecord } from '../lib/logging/record.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../hack/testenv/agent.js';
import { adminClient, poolObject, vmObject } from '../hack/testenv/controllers.js';
import { eventually } from '../hack/testenv/eventually.js';
import type { HttpApiClient } from './runtime/client.js';
import type { ControllerManager } from './runtime/manager.js';
import { Events, StoragePools, VirtualMachines } from './runtime/resources.js';
import { startControllerManager } from './setup.js';

describe('one correlation id from the write to the agent (integration)', () => {
  let cp: TestControlPlane;
  let client: HttpApiClient;
  let manager: ControllerManager;
  let managerClient: { close(): void };
  let driver: SimDriver;
  let agent: TestAgent;
  let stateDir: string;
  const records: LogRecord[] = [];

  beforeAll(async () => {
    setLogSink((line) => records.push(JSON.parse(line) as LogRecord));
    setLogLevel('debug');
    cp = await startTestControlPlane();
    client = await adminClient(cp.env.kubeconfig);
    driver = new SimDriver({ hostname: 'sim-cid' });
    stateDir = mkdtempSync(join(tmpdir(), 'quantix-cid-'));
    agent = await startAgent(cp, { driver, hostname: 'sim-cid', stateDir });
    await client.create(StoragePools, poolObject('fast', ['sim-cid']));
    ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: cp.env.kubeconfig }));
    await eventually(async () => expect((await client.get<StoragePool>(StoragePools, undefined, 'fast')).status?.phase).toBe('Ready'), { timeoutMs: 20_000 });
  }, 90_000);

  afterAll(async () => {
    await manager?.stop();
    managerClient?.close();
    await agent?.stop().catch(() => undefined);
    await driver?.close().catch(() => undefined);
    client?.close();
    await cp?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    setLogLevel('error');
  });

  const getVm = () => client.get<VirtualMachine>(VirtualMachines, 'default', 'web');
  const idOf = (vm: VirtualMachine) => vm.metadata.annotations?.[CORRELATION_ID_ANNOTATION];
  const eventsOf = async (reason: string) =>
    (await client.list<Event>(Events, { namespace: 'default' })).items.filter((e) => e.involvedObject.name === 'web' && e.reason === reason);

  it("the scheduler's bind and the vm controller's finalizer keep the create's id; the Started Event and the agent's actions carry it", async () => {
    await client.withCorrelationId('cid-create').create(VirtualMachines, vmObject('web', { pools: ['fast'], memory: '256Mi' }));
    const running = await eventually(
      async () => {
        const vm = await getVm();
        expect(vm.status?.phase).toBe('Running');
        return vm;
      },
      { timeoutMs: 30_000 },
    );
    expect(running.spec.nodeName).toBe('sim-cid');
    expect(running.metadata.finalizers).toContain('quantix.io/vm-cleanup');
    expect(idOf(running)).toBe('cid-create');

    const [started] = await eventually(async () => {
      const found = await eventsOf('Started');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(started!.metadata.annotations?.[CORRELATION_ID_ANNOTATION]).toBe('cid-create');

    const agentActions = records.filter((r) => r.component === 'agent' && r.message === 'VM action' && r.vm === 'default/web');
    expect(agentActions.map((r) => r.action)).toContain('start');
    for (const r of agentActions) expect(r).toMatchObject({ correlationId: 'cid-create', node: 'sim-cid' });
  });

  it('a Stop is a new write with a new id: the reconcile lines, the Stopped Event and the agent shutdown carry it', async () => {
    const stopped = await client.withCorrelationId('cid-stop').patch<VirtualMachine>(VirtualMachines, 'default', 'web', { spec: { runStrategy: 'Halted' } });
    expect(idOf(stopped)).toBe('cid-stop');

    const [event] = await eventually(
      async () => {
        const found = await eventsOf('Stopped');
        expect(found).toHaveLength(1);
        return found;
      },
      { timeoutMs: 30_000 },
    );
    expect(event!.metadata.annotations?.[CORRELATION_ID_ANNOTATION]).toBe('cid-stop');
    expect((await getVm()).status?.phase).toBe('Stopped');
    expect(idOf(await getVm())).toBe('cid-stop');

    const stopLines = records.filter((r) => r.correlationId === 'cid-stop');
    // The vm controller reconciled under it, and the agent shut the domain down under it.
    expect(stopLines.some((r) => r.component === 'controller-manager' && r.controller === 'vm' && r.key === 'default/web')).toBe(true);
    expect(stopLines.some((r) => r.component === 'agent' && r.message === 'VM action' && r.action === 'shutdown' && r.node === 'sim-cid')).toBe(true);
    // Nothing the create did is logged under the stop's id.
    expect(stopLines.some((r) => r.message === 'VM action' && r.action === 'start')).toBe(false);
  });
});
