/**
 * FullSync (SyncFullState) on the sim driver: the status it reports for a VM is the one the
 * worker would report — never Deleted while a deletion step is still to run. A stub gateway
 * client records the SyncFullState requests; the desired state is a stand-in holding one VM.
 */
import { randomUUID } from 'node:crypto';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { agentStatusFromWire } from '../api-types/proto/agent-status.js';
import type { AgentStatus } from '../api-types/proto/contract.js';
import type { SyncFullStateRequest, VMChangeNotification } from '../api-types/proto/types.js';
import { createLogger, setLogLevel } from '../lib/logging/logger.js';
import type { DesiredState } from './desired-state.js';
import { DomainCache } from './domain-cache.js';
import { FullSync } from './full-sync.js';
import type { GatewayClient } from './gateway-client.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { Reporter } from './reporter.js';
import { VmSyncer } from './vm/sync.js';

setLogLevel('error');
const log = createLogger('test');

async function setup() {
  const driver = new SimDriver({ hostname: 'n1', acpiShutdownDelayMs: 0 });
  await driver.connect();
  await driver.definePool({ name: 'pool', type: 'dir', targetPath: '/var/lib/qx/pool' });
  await driver.startPool('pool');
  const sent: VMChangeNotification[] = [];
  const fullSyncs: SyncFullStateRequest[] = [];
  const client = {
    notifyVmChange: async (n: VMChangeNotification) => {
      sent.push(structuredClone(n));
      return { vm: '', phase: '' };
    },
    notifyStorageChange: async () => ({}),
    syncFullState: async (req: SyncFullStateRequest) => {
      fullSyncs.push(structuredClone(req));
      return {};
    },
  } as unknown as GatewayClient;
  const domains = new DomainCache(
    driver,
    () => undefined,
    () => undefined,
    () => undefined,
    log,
    0,
  );
  domains.start();
  await domains.relist();
  const reporter = new Reporter(client);
  const vms = new VmSyncer({ driver, domains, reporter, nodeName: () => 'n1', shutdownTimeoutMs: 5_000, now: () => Date.now(), log });
  const desiredVms = new Map<string, VirtualMachine>();
  const desired = {
    synced: true,
    vms: desiredVms,
    vmByUid: (uid: string) => [...desiredVms.values()].find((v) => v.metadata.uid === uid),
  } as unknown as DesiredState;
  const fullSync = new FullSync({ client, desired, domains, reporter, vms, log, running: () => true });
  /** The status of the VM in the last full sync. */
  const lastFullSyncStatus = (uid: string): AgentStatus => {
    const report = fullSyncs.at(-1)?.vms.find((r) => r.ownerUid === uid);
    if (!report) throw new Error(`no report of ${uid} in the last full sync`);
    return agentStatusFromWire(report.status);
  };
  return { driver, domains, vms, sent, desiredVms, fullSync, lastFullSyncStatus };
}

describe('FullSync', () => {
  it('a full sync between the undefine and the volume deletion does not report Deleted (Deleting until the volumes are gone)', async () => {
    const { driver, domains, vms, sent, desiredVms, fullSync, lastFullSyncStatus } = await setup();
    const uid = randomUUID();
    let vm: VirtualMachine = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'web', namespace: 'default', uid, resourceVersion: '5', finalizers: ['quantix.io/vm-cleanup'] },
      spec: { memory: '64Mi', nodeName: 'n1', disks: [{ name: 'root', storagePool: 'pool', size: '16Mi' }] },
      status: { phase: 'Scheduled' },
    };
    await vms.sync(vm);
    const created = agentStatusFromWire(sent.at(-1)!.vm!.status);
    expect(created.domainUUID).toBe(uid);
    // Deleting; the worker got as far as the undefine (then the agent stopped, or the full sync won the race).
    const createdStatus: AgentStatus = { ...created };
    delete createdStatus.synced;
    vm = { ...vm, metadata: { ...vm.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { ...vm.status, ...createdStatus } };
    desiredVms.set('default/web', vm);
    await driver.destroyDomain(uid);
    await driver.undefineDomain(uid);
    await domains.refresh(uid);

    await fullSync.run();
    expect(lastFullSyncStatus(uid).synced).toMatchObject({ status: 'False', reason: 'Deleting' });
    expect((await driver.listVolumes('pool')).map((v) => v.name)).toEqual([`web_root_${uid.slice(0, 8)}.qcow2`]);

    // The worker deletes the volumes: now, and only now, both paths say Deleted.
    await vms.sync(vm);
    expect(await driver.listVolumes('pool')).toEqual([]);
    expect(agentStatusFromWire(sent.at(-1)!.vm!.status).synced).toMatchObject({ status: 'True', reason: 'Deleted' });
    await fullSync.run();
    expect(lastFullSyncStatus(uid).synced).toMatchObject({ status: 'True', reason: 'Deleted' });
  });
});
