/**
 * NetworkSyncer on the sim driver (which follows libvirt's network semantics): defines and
 * starts assigned Networks, reports failures and retries them with backoff, redefines on a
 * spec change only when no running VM is attached, removes only the networks it defined.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Network } from '../../api-types/generated/types.js';
import { createLogger, setLogLevel } from '../../lib/logging/logger.js';
import { SimDriver } from '../hypervisor/sim/driver.js';
import { StateDir } from '../identity.js';
import { defaultBridgeName } from './names.js';
import { NETWORK_RETRY_BASE_MS, NetworkSyncer } from './sync.js';

setLogLevel('error');

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function network(name: string, over: Partial<Network['spec']> = {}): Network {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Network',
    metadata: { name, uid: `uid-${name}`, generation: 1 },
    spec: { mode: 'isolated', ipv4: { address: '10.213.7.1', prefix: 24, dhcpStart: '10.213.7.10', dhcpEnd: '10.213.7.99' }, assignedNodes: ['n1'], ...over },
  };
}

async function setup(dir?: string) {
  const driver = new SimDriver({ hostname: 'n1' });
  await driver.connect();
  const stateDirPath = dir ?? mkdtempSync(join(tmpdir(), 'qx-networks-'));
  if (!dir) dirs.push(stateDirPath);
  const stateDir = new StateDir(stateDirPath);
  const clock = { ms: 0 };
  const networks = new Map<string, Network>();
  const usedBy = new Map<string, string[]>();
  const ready: string[] = [];
  let changes = 0;
  const syncer = new NetworkSyncer({
    driver,
    networks,
    stateDir,
    nodeName: () => 'n1',
    usedBy: (name) => usedBy.get(name) ?? [],
    now: () => clock.ms,
    log: createLogger('test'),
    onNetworkReady: (name) => ready.push(name),
    onReportChanged: () => changes++,
  });
  return { driver, stateDir, syncer, clock, networks, usedBy, ready, changes: () => changes };
}

describe('NetworkSyncer', () => {
  it('defines and starts an assigned Network as qx-<name> on its bridge, records it as its own, reports it active', async () => {
    const { driver, stateDir, syncer, networks, ready, changes } = await setup();
    networks.set('lan', network('lan'));
    expect(await syncer.sync('lan')).toBeUndefined();
    const net = await driver.getNetwork('qx-lan');
    expect(net).toMatchObject({ active: true, autostart: true, bridgeName: defaultBridgeName('lan'), mode: 'isolated' });
    expect(await driver.bridgeExists(defaultBridgeName('lan'))).toBe(true);
    expect([...stateDir.managedNetworks()]).toEqual(['lan']);
    expect(syncer.reports()).toEqual([
      { name: 'lan', defined: true, active: true, bridgeName: defaultBridgeName('lan'), dhcpRange: '10.213.7.10-10.213.7.99', message: '', removed: false },
    ]);
    expect(ready).toEqual(['lan']);
    expect(changes()).toBe(1);
    // A second pass: nothing to do, nothing new to report.
    await syncer.sync('lan');
    expect(changes()).toBe(1);
    expect(ready).toEqual(['lan']);
  });

  it("a start libvirt refuses is reported inactive with libvirt's message and retried with backoff, never thrown", async () => {
    const { driver, syncer, clock, networks } = await setup();
    networks.set('lan', network('lan'));
    const refused = 'internal error: Network is already in use by interface eth0';
    driver.injectFailure('startNetwork', 'OperationFailed', refused, 2);
    expect(await syncer.sync('lan')).toBe(NETWORK_RETRY_BASE_MS);
    expect(syncer.reports()[0]).toMatchObject({ defined: true, active: false, message: refused });
    // Within the backoff: no attempt, the rest of the wait returned.
    clock.ms += 1_000;
    expect(await syncer.sync('lan')).toBe(NETWORK_RETRY_BASE_MS - 1_000);
    // Fails again: the wait doubles.
    clock.ms += NETWORK_RETRY_BASE_MS;
    expect(await syncer.sync('lan')).toBe(2 * NETWORK_RETRY_BASE_MS);
    clock.ms += 2 * NETWORK_RETRY_BASE_MS;
    expect(await syncer.sync('lan')).toBeUndefined();
    expect(syncer.reports()[0]).toMatchObject({ active: true, message: '' });
    expect((await driver.getNetwork('qx-lan')).active).toBe(true);
  });

  it('unassigned: stopped and undefined; a removed report until a heartbeat carried it', async () => {
    const { driver, stateDir, syncer, networks } = await setup();
    networks.set('lan', network('lan'));
    await syncer.sync('lan');
    networks.delete('lan');
    await syncer.sync('lan');
    await expect(driver.getNetwork('qx-lan')).rejects.toMatchObject({ reason: 'NetworkNotFound' });
    expect(await driver.bridgeExists(defaultBridgeName('lan'))).toBe(false);
    expect([...stateDir.managedNetworks()]).toEqual([]);
    const sent = syncer.reports();
    expect(sent).toEqual([{ name: 'lan', defined: false, active: false, bridgeName: '', dhcpRange: '', message: '', removed: true }]);
    expect([...syncer.known()]).toEqual(['lan']);
    syncer.delivered(sent);
    expect(syncer.reports()).toEqual([]);
    expect([...syncer.known()]).toEqual([]);
  });

  it('a spec change redefines an active network, but not while a running VM is attached', async () => {
    const { driver, syncer, networks, usedBy } = await setup();
    networks.set('lan', network('lan'));
    await syncer.sync('lan');
    networks.set('lan', { ...network('lan', { ipv4: { address: '10.213.8.1', prefix: 24 } }), metadata: { name: 'lan', generation: 2 } });
    usedBy.set('lan', ['default/web']);
    await syncer.sync('lan');
    expect((await driver.getNetwork('qx-lan')).ipv4?.address).toBe('10.213.7.1');
    expect(syncer.reports()[0]).toMatchObject({
      active: true,
      message: 'the spec changed; the new definition applies once no VM uses the network: 1 running VM on this host uses it (default/web)',
    });
    usedBy.delete('lan');
    await syncer.sync('lan');
    expect(await driver.getNetwork('qx-lan')).toMatchObject({ active: true, ipv4: { address: '10.213.8.1', prefix: 24 } });
    expect(syncer.reports()[0]).toMatchObject({ active: true, dhcpRange: '', message: '' });
  });

  it('never touches a libvirt network it did not define: another definition is a conflict, and unassigning leaves it', async () => {
    const { driver, syncer, networks, stateDir } = await setup();
    await driver.defineNetwork({ name: 'qx-lan', mode: 'nat', bridgeName: 'virbr9', ipv4: { address: '192.168.9.1', prefix: 24 } });
    await driver.startNetwork('qx-lan');
    networks.set('lan', network('lan'));
    await syncer.sync('lan');
    expect(syncer.reports()[0]).toMatchObject({
      defined: true,
      active: false,
      message: expect.stringContaining('already exists on this host and was not defined by Quantix'),
    });
    networks.delete('lan');
    await syncer.sync('lan');
    expect(await driver.getNetwork('qx-lan')).toMatchObject({ active: true, mode: 'nat', bridgeName: 'virbr9' });
    expect([...stateDir.managedNetworks()]).toEqual([]);
  });

  it('remembers across restarts which networks it defined (managed-networks.json)', async () => {
    const first = await setup();
    first.networks.set('lan', network('lan'));
    await first.syncer.sync('lan');
    // A new agent on the same state dir and host: the network is its own, and goes when unassigned.
    const again = new NetworkSyncer({
      driver: first.driver,
      networks: new Map(),
      stateDir: new StateDir(first.stateDir.dir),
      nodeName: () => 'n1',
      usedBy: () => [],
      now: () => 0,
      log: createLogger('test'),
      onNetworkReady: () => undefined,
      onReportChanged: () => undefined,
    });
    expect([...again.known()]).toEqual(['lan']);
    await again.sync('lan');
    await expect(first.driver.getNetwork('qx-lan')).rejects.toMatchObject({ reason: 'NetworkNotFound' });
  });

  it('libvirtd away: the sync throws (the worker retries), the last report stays', async () => {
    const { driver, syncer, networks } = await setup();
    networks.set('lan', network('lan'));
    await syncer.sync('lan');
    driver.hypervisorDown();
    await expect(syncer.sync('lan')).rejects.toMatchObject({ reason: 'HypervisorUnavailable' });
    expect(syncer.reports()[0]).toMatchObject({ active: true });
  });
});
