/**
 * The vm controller against a real etcd + apiserver: the cleanup finalizer contract with
 * the agent, forced cleanup, RerunOnFailure, and transition events.
 */
import type { Event, Node, VirtualMachine } from '../../api-types/generated/types.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { adminClient, poolObject, SimulatedNodeAgents, vmObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { HttpApiClient } from '../runtime/client.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import type { ControllerManager } from '../runtime/manager.js';
import { Events, Nodes, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { startControllerManager } from '../setup.js';
import { CLEANUP_FINALIZER, FORCE_CLEANUP_ANNOTATION } from './vm_status.js';

describe('vm controller (integration)', () => {
  let env: TestApiserver;
  let client: HttpApiClient;
  let manager: ControllerManager;
  let managerClient: { close(): void };

  beforeAll(async () => {
    setLogLevel('warn');
    env = await startTestApiserver();
    client = await adminClient(env.kubeconfig);
    await client.create(StoragePools, poolObject('fast', ['n1', 'n2']));
    const agents = new SimulatedNodeAgents(client);
    await agents.register('n1', { pools: { fast: { health: 'HEALTHY' } } });
    await agents.register('n2', { pools: { fast: { health: 'HEALTHY' } } });
    ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: env.kubeconfig, enabled: ['scheduler', 'vm'] }));
  }, 60_000);

  afterAll(async () => {
    await manager?.stop();
    managerClient?.close();
    client?.close();
    await env?.stop();
  });

  const get = (name: string) => client.get<VirtualMachine>(VirtualMachines, 'default', name);
  const gone = async (name: string) => {
    try {
      await get(name);
      return false;
    } catch (err) {
      return isNotFound(err);
    }
  };
  /** What the agent writes through the gateway (status only). */
  const agentReports = (name: string, status: Record<string, unknown>) => client.patch(VirtualMachines, 'default', name, { status }, { subresource: 'status' });

  it("adds the finalizer on create; deletion waits for the agent's Synced=True/Deleted report", async () => {
    await client.create(VirtualMachines, vmObject('web', { nodeName: 'n1' }));
    await eventually(async () => expect((await get('web')).metadata.finalizers).toEqual([CLEANUP_FINALIZER]));
    await agentReports('web', { phase: 'Running', powerState: 'running', nodeName: 'n1' });
    await eventually(async () => expect((await get('web')).status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True'));

    await client.delete(VirtualMachines, 'default', 'web');
    await eventually(async () => {
      const v = await get('web');
      expect(v.metadata.deletionTimestamp).toBeTruthy();
      expect(v.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Deleting' });
    });
    expect(await gone('web')).toBe(false);

    // The agent undefines the domain, deletes the volumes, and says so.
    const v = await get('web');
    const conditions = [
      ...(v.status?.conditions ?? []).filter((c) => c.type !== 'Synced'),
      { type: 'Synced', status: 'True', reason: 'Deleted', message: 'domain undefined, 1 volume deleted', lastTransitionTime: new Date().toISOString() },
    ];
    await agentReports('web', { conditions, domainUUID: null, powerState: null });
    await eventually(() => gone('web'), { message: 'VM deleted once the finalizer is released' });
    await eventually(async () => {
      const events = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=web' });
      expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['Started', 'CleanedUp']));
    });
  });

  it('a never-scheduled VM is deleted at once', async () => {
    await client.create(VirtualMachines, vmObject('nowhere', { pools: ['missing'] }));
    await eventually(async () => expect((await get('nowhere')).metadata.finalizers).toEqual([CLEANUP_FINALIZER]));
    await client.delete(VirtualMachines, 'default', 'nowhere');
    await eventually(() => gone('nowhere'));
  });

  it('force-cleanup is refused while the node is Ready and honoured once it is gone', async () => {
    await client.create(VirtualMachines, vmObject('stuck', { nodeName: 'n2' }));
    await eventually(async () => expect((await get('stuck')).metadata.finalizers).toEqual([CLEANUP_FINALIZER]));
    await client.patch(VirtualMachines, 'default', 'stuck', { metadata: { annotations: { [FORCE_CLEANUP_ANNOTATION]: 'true' } } });
    await client.delete(VirtualMachines, 'default', 'stuck');
    await eventually(async () =>
      expect((await get('stuck')).status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain('force-cleanup ignored: node n2 is Ready'),
    );
    await client.delete(Nodes, undefined, 'n2');
    await eventually(() => gone('stuck'), { message: 'forced release after the node is deleted' });
    await eventually(async () => {
      const events = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=stuck,reason=ForcedCleanup' });
      expect(events.items[0]).toMatchObject({ type: 'Warning' });
    });
  });

  it('RerunOnFailure: a failed VM is asked to restart on the same node (phase Scheduled) after the backoff', async () => {
    await client.create(VirtualMachines, vmObject('flaky', { nodeName: 'n1', runStrategy: 'RerunOnFailure' }));
    await eventually(async () => expect((await get('flaky')).status?.phase).toBe('Scheduled'));
    // The agent reports a crash; the Ready condition says it failed 11 s ago (as if the
    // controller had seen it then), past the first 10 s backoff.
    const failedAt = new Date(Date.now() - 11_000).toISOString();
    const v = await get('flaky');
    const conditions = (v.status?.conditions ?? []).map((c) =>
      c.type === 'Ready' ? { ...c, reason: 'Failed', message: 'qemu crashed', lastTransitionTime: failedAt } : c,
    );
    await agentReports('flaky', { phase: 'Failed', powerState: 'crashed', conditions });
    await eventually(async () => {
      const after = await get('flaky');
      expect(after.status?.phase).toBe('Scheduled');
      expect(after.spec.nodeName).toBe('n1');
    });
    // Events are recorded asynchronously, after the status write.
    await eventually(async () => {
      const events = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=flaky,reason=Restarting' });
      expect(events.items).toHaveLength(1);
    });
  });

  it('a Lost VM stays Lost on its node: nothing reschedules it', async () => {
    await client.create(VirtualMachines, vmObject('ghost', { nodeName: 'n1' }));
    await eventually(async () => expect((await get('ghost')).status?.phase).toBe('Scheduled'));
    await agentReports('ghost', { phase: 'Lost', lostReason: 'domain missing on full sync', lostAt: new Date().toISOString() });
    await eventually(async () => expect((await get('ghost')).status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'Lost' }));
    const v = await get('ghost');
    expect(v.spec.nodeName).toBe('n1');
    expect(v.status?.phase).toBe('Lost');
    const node = await client.get<Node>(Nodes, undefined, 'n1');
    expect(node.metadata.name).toBe('n1');
  });
});
