/**
 * Storage pools on the simulated host: dir and nfs, fake capacity, defining an identical
 * pool again is a no-op, a target path used by another pool conflicts. Knobs:
 * setPoolMountFailure (startPool fails like an unreachable NFS server), setPoolFault.
 */
import { randomUUID } from 'node:crypto';
import type { PoolInfo, PoolSpec, PoolState } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { validateName, validatePoolSpec } from '../validate.js';
import { fileBytes, type SimHost, type SimPool } from './host.js';

export class SimPools {
  constructor(private readonly host: SimHost) {}

  /** Makes startPool of this pool fail like an unreachable NFS server; null clears. */
  setPoolMountFailure(name: string, message: string | null): void {
    this.mustPool(name, 'setPoolMountFailure').mountFailure = message;
  }

  /** A running pool becomes Degraded/Inaccessible (e.g. the NFS server went away); null heals. */
  setPoolFault(name: string, fault: { state: 'Degraded' | 'Inaccessible'; message: string } | null): void {
    this.mustPool(name, 'setPoolFault').fault = fault;
  }

  mustPool(name: string, operation: string): SimPool {
    const p = this.host.pools.get(name);
    if (!p) throw new HypervisorError('PoolNotFound', `Storage pool not found: no storage pool with matching name '${name}'`, { operation, target: name });
    return p;
  }

  private poolState(p: SimPool): PoolState {
    if (!p.active) return 'Inactive';
    return p.fault?.state ?? 'Running';
  }

  poolInfo(p: SimPool): PoolInfo {
    const state = this.poolState(p);
    const up = state === 'Running' || state === 'Degraded';
    let allocation = 0;
    if (up) {
      for (const v of p.volumes.values()) allocation += v.allocationBytes;
      allocation += fileBytes(p.root);
    }
    const capacity = up ? this.host.opts.poolCapacityBytes : 0;
    const out: PoolInfo = {
      name: p.spec.name,
      uuid: p.uuid,
      type: p.spec.type === 'nfs' ? 'netfs' : 'dir',
      state,
      capacityBytes: capacity,
      allocationBytes: allocation,
      availableBytes: up ? Math.max(0, capacity - allocation) : 0,
      targetPath: p.spec.targetPath,
      volumeCount: up ? p.volumes.size : 0,
      autostart: p.autostart,
    };
    if (p.spec.type === 'nfs') out.source = { ...p.spec.source };
    return out;
  }

  async listPools(): Promise<PoolInfo[]> {
    await this.host.enter('listPools');
    return [...this.host.pools.values()].map((p) => this.poolInfo(p));
  }

  async getPool(name: string): Promise<PoolInfo> {
    validateName('pool', name);
    await this.host.enter('getPool', name);
    return this.poolInfo(this.mustPool(name, 'getPool'));
  }

  async definePool(spec: PoolSpec): Promise<PoolInfo> {
    validatePoolSpec(spec);
    await this.host.enter('definePool', spec.name);
    const existing = this.host.pools.get(spec.name);
    if (existing) {
      if (samePoolSpec(existing.spec, spec)) return this.poolInfo(existing);
      if (existing.active) {
        throw new HypervisorError('PoolExists', `pool ${spec.name} is running with a different definition; stop it before changing it`, {
          operation: 'definePool',
          target: spec.name,
        });
      }
      existing.spec = spec;
      this.host.events.poolEvent(spec.name, 'Defined');
      return this.poolInfo(existing);
    }
    for (const p of this.host.pools.values()) {
      if (p.spec.targetPath === spec.targetPath) {
        throw new HypervisorError('PoolExists', `operation failed: Storage source conflict with pool: '${p.spec.name}'`, {
          operation: 'definePool',
          target: spec.name,
        });
      }
    }
    const p: SimPool = {
      spec,
      uuid: randomUUID(),
      active: false,
      fault: null,
      mountFailure: null,
      ...(spec.type === 'dir' && this.host.sharedStorage
        ? this.host.sharedStorage.at(spec.targetPath, this.host.opts.now())
        : { volumes: new Map(), root: { type: 'dir' as const, children: new Map(), modifiedAt: this.host.opts.now() } }),
      autostart: false,
    };
    this.host.pools.set(spec.name, p);
    this.host.events.poolEvent(spec.name, 'Defined');
    return this.poolInfo(p);
  }

  async startPool(name: string): Promise<PoolInfo> {
    validateName('pool', name);
    await this.host.enter('startPool', name);
    const p = this.mustPool(name, 'startPool');
    if (!p.active) {
      this.host.events.poolEvent(name, 'Created');
      if (p.mountFailure !== null) {
        const src = p.spec.type === 'nfs' ? `${p.spec.source.host}:${p.spec.source.dir}` : p.spec.targetPath;
        throw new HypervisorError('PoolMountFailed', `cannot mount ${src} on ${p.spec.targetPath}: ${p.mountFailure}`, {
          operation: 'startPool',
          target: name,
        });
      }
      p.active = true;
      this.host.events.poolEvent(name, 'Started');
    }
    return this.poolInfo(p);
  }

  async stopPool(name: string): Promise<void> {
    validateName('pool', name);
    await this.host.enter('stopPool', name);
    const p = this.mustPool(name, 'stopPool');
    if (!p.active) return;
    p.active = false;
    p.fault = null;
    this.host.events.poolEvent(name, 'Stopped');
  }

  async undefinePool(name: string): Promise<void> {
    validateName('pool', name);
    await this.host.enter('undefinePool', name);
    const p = this.mustPool(name, 'undefinePool');
    if (p.active)
      throw new HypervisorError('InvalidState', `pool ${name} is running; stop it before undefining it`, { operation: 'undefinePool', target: name });
    this.host.pools.delete(name);
    this.host.events.poolEvent(name, 'Undefined');
  }

  async refreshPool(name: string): Promise<PoolInfo> {
    validateName('pool', name);
    await this.host.enter('refreshPool', name);
    const p = this.mustPool(name, 'refreshPool');
    this.assertUsable(p, 'refreshPool');
    return this.poolInfo(p);
  }

  assertUsable(p: SimPool, operation: string): void {
    if (!p.active)
      throw new HypervisorError('PoolInactive', `pool ${p.spec.name} is not running: storage pool '${p.spec.name}' is not active`, {
        operation,
        target: p.spec.name,
      });
    if (p.fault?.state === 'Inaccessible') {
      throw new HypervisorError('OperationFailed', `pool ${p.spec.name} is inaccessible: ${p.fault.message}`, { operation, target: p.spec.name });
    }
  }
}

function samePoolSpec(a: PoolSpec, b: PoolSpec): boolean {
  if (a.type !== b.type || a.targetPath !== b.targetPath) return false;
  if (a.type === 'nfs' && b.type === 'nfs') return a.source.host === b.source.host && a.source.dir === b.source.dir;
  return true;
}
