import { ApiClient } from '../api/client.js';
import { Events, Images, Networks, Nodes, StoragePools, VirtualMachines } from '../api/resources.js';
import { ConnectionManager, overallOf } from './connection-manager.js';
import { FakeApiserver } from './fake-apiserver.js';

describe('overallOf', () => {
  it.each([
    [[], 'idle'],
    [['live', 'live'], 'live'],
    [['live', 'connecting'], 'connecting'],
    [['connecting', 'reconnecting', 'live'], 'reconnecting'],
    [['reconnecting', 'error'], 'error'],
  ] as const)('%j → %s', (states, want) => {
    expect(overallOf(states)).toBe(want);
  });
});

describe('ConnectionManager stream budget', () => {
  const realFetch = globalThis.fetch;
  let server: FakeApiserver;
  let manager: ConnectionManager;

  beforeEach(() => {
    server = new FakeApiserver();
    globalThis.fetch = server.fetch as typeof fetch;
    manager = new ConnectionManager(new ApiClient('t0ken'), { lingerMs: 60_000, maxStreams: 4, backoff: { baseMs: 5, maxMs: 20 } });
  });
  afterEach(() => {
    manager.stopAll();
    server.closeWatches();
    globalThis.fetch = realFetch;
  });

  it('closes the longest-unused lingering stream to open a new one (HTTP/1.1 has 6 connections per origin)', () => {
    const vms = manager.acquire(VirtualMachines);
    const nodes = manager.acquire(Nodes);
    const pools = manager.acquire(StoragePools);
    manager.acquire(Events);
    nodes.release();
    pools.release();
    expect(manager.activeKeys()).toEqual(['virtualmachines', 'nodes', 'storagepools', 'events']); // lingering, still open

    manager.acquire(Images);
    expect(manager.activeKeys()).toEqual(['virtualmachines', 'storagepools', 'events', 'images']);
    manager.acquire(Networks);
    expect(manager.activeKeys()).toEqual(['virtualmachines', 'events', 'images', 'networks']);

    // Every stream in use: a page that needs one more still gets it.
    manager.acquire(Nodes);
    expect(manager.activeKeys()).toHaveLength(5);
    vms.release();
  });

  it('reuses a lingering stream instead of opening another', () => {
    const first = manager.acquire(Images);
    first.release();
    const again = manager.acquire(Images);
    expect(again.watch).toBe(first.watch);
    expect(manager.activeKeys()).toEqual(['images']);
  });
});
