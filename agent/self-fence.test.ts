import { createLogger, setLogLevel } from '../lib/logging/logger.js';
import type { StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import type { DomainInfo } from './hypervisor/driver.js';
import { checkIntervalMs, domainsToStop, SelfFence, selfFenceDue } from './self-fence.js';

setLogLevel('error');

describe('selfFenceDue', () => {
  it.each([
    ['renewed within the timeout', 1_000, 30_999, 30_000, false],
    ['timeout reached', 1_000, 31_000, 30_000, true],
    ['off (0)', 0, 10_000_000, 0, false],
  ])('%s', (_name, last, now, timeout, want) => {
    expect(selfFenceDue(last, now, timeout)).toBe(want);
  });

  it('checks every tenth of the timeout, at most every second', () => {
    expect(checkIntervalMs(60_000)).toBe(1_000);
    expect(checkIntervalMs(3_000)).toBe(300);
  });
});

describe('SelfFence', () => {
  function setup(timeoutMs = 30_000) {
    let now = 1_000;
    const calls = { stops: 0, relists: 0, lifted: 0 };
    let finishRelist: () => void = () => undefined;
    const fence = new SelfFence({
      timeoutMs,
      now: () => now,
      stopManagedDomains: async () => {
        calls.stops++;
        return 1;
      },
      relistDesiredState: () => {
        calls.relists++;
        return new Promise<void>((resolve) => (finishRelist = resolve));
      },
      onLifted: () => calls.lifted++,
      log: createLogger('test'),
    });
    return { fence, calls, advance: (ms: number) => (now += ms), at: () => now, relisted: () => finishRelist() };
  }

  it('reports itself for Node status', () => {
    expect(setup(45_500).fence.report()).toEqual({ enabled: true, timeoutSeconds: 46 });
    expect(setup(0).fence.report()).toEqual({ enabled: false, timeoutSeconds: 0 });
  });

  it('fences at the timeout after the last renewal sent, stops domains at every check while fenced', async () => {
    const { fence, calls, advance, at } = setup();
    fence.renewed(at() + 1_000); // counted from a second before it was sent (lastHeartbeatTime's precision)
    advance(29_999);
    await fence.check();
    expect(fence.fenced).toBe(false);
    expect(calls.stops).toBe(0);
    advance(1);
    await fence.check();
    expect(fence.fenced).toBe(true);
    expect(calls.stops).toBe(1);
    await fence.check();
    expect(calls.stops).toBe(2);
  });

  it('a renewal sent before the fence does not lift it; one after relists, and the fence lifts once the list is complete', async () => {
    const { fence, calls, advance, at, relisted } = setup();
    const before = at();
    advance(30_000);
    await fence.check();
    expect(fence.fenced).toBe(true);
    fence.renewed(before); // a slow answer to a heartbeat sent before the fence
    expect(calls.relists).toBe(0);
    advance(5_000);
    fence.renewed(at());
    fence.renewed(at()); // one relist at a time
    expect(calls.relists).toBe(1);
    expect(fence.fenced).toBe(true);
    relisted();
    await new Promise((r) => setImmediate(r));
    expect(fence.fenced).toBe(false);
    expect(calls.lifted).toBe(1);
  });

  it('off: never fences', async () => {
    const { fence, calls, advance } = setup(0);
    advance(10_000_000);
    await fence.check();
    expect(fence.fenced).toBe(false);
    expect(calls.stops).toBe(0);
  });
});

describe('domainsToStop', () => {
  const pool = (name: string, shared: boolean): StoragePool =>
    ({ metadata: { name }, spec: { type: 'dir', dir: { path: `/p/${name}` }, shared } }) as StoragePool;
  const pools = new Map([
    ['shared', pool('shared', true)],
    ['local', pool('local', false)],
  ]);
  const vm = (uid: string, poolName: string, runStrategy: 'Always' | 'Manual' = 'Always'): VirtualMachine =>
    ({
      metadata: { uid, name: uid, namespace: 'default' },
      spec: { runStrategy, disks: [{ name: 'root', storagePool: poolName, size: '1Gi' }] },
    }) as VirtualMachine;
  const dom = (uuid: string, state: DomainInfo['state'], owned = true): DomainInfo =>
    ({ uuid, state, owner: owned ? { namespace: 'default', name: uuid, uid: uuid } : null }) as DomainInfo;
  const vms = new Map([
    ['shared-always', vm('shared-always', 'shared')],
    ['local-always', vm('local-always', 'local')],
    ['shared-manual', vm('shared-manual', 'shared', 'Manual')],
    ['off', vm('off', 'shared')],
  ]);

  it('stops running domains of recoverable VMs and of VMs it no longer knows; leaves the rest running', () => {
    const domains = [
      dom('shared-always', 'Running'),
      dom('local-always', 'Running'),
      dom('shared-manual', 'Paused'),
      dom('off', 'Shutoff'),
      dom('unknown-vm', 'Running'),
      dom('foreign', 'Running', false),
    ];
    expect(domainsToStop(domains, (uid) => vms.get(uid), pools)).toEqual(['shared-always', 'unknown-vm']);
  });
});
