/** Volumes in the simulated host's pools (they also appear in the pool's file tree). */
import path from 'node:path';
import type { VolumeInfo, VolumeSpec } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { validateName, validateVolumeSpec } from '../validate.js';
import type { SimHost, SimPool, SimVolume } from './host.js';
import type { SimPools } from './pools.js';

const VOLUME_ALLOCATION_BYTES = 196_608; // what an empty qcow2 occupies

export class SimVolumes {
  constructor(
    private readonly host: SimHost,
    private readonly pools: SimPools,
  ) {}

  private volumeInfo(p: SimPool, v: SimVolume): VolumeInfo {
    const volPath = path.join(p.spec.targetPath, v.name);
    return { pool: p.spec.name, name: v.name, path: volPath, key: volPath, type: 'file', capacityBytes: v.capacityBytes, allocationBytes: v.allocationBytes };
  }

  async listVolumes(poolName: string): Promise<VolumeInfo[]> {
    validateName('pool', poolName);
    await this.host.enter('listVolumes', poolName);
    const p = this.pools.mustPool(poolName, 'listVolumes');
    this.pools.assertUsable(p, 'listVolumes');
    return [...p.volumes.values()].map((v) => this.volumeInfo(p, v)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async createVolume(poolName: string, spec: VolumeSpec): Promise<VolumeInfo> {
    validateName('pool', poolName);
    validateVolumeSpec(spec);
    await this.host.enter('createVolume', `${poolName}/${spec.name}`);
    const p = this.pools.mustPool(poolName, 'createVolume');
    this.pools.assertUsable(p, 'createVolume');
    if (p.volumes.has(spec.name) || p.root.children.has(spec.name)) {
      throw new HypervisorError('VolumeExists', `storage volume '${spec.name}' exists already`, {
        operation: 'createVolume',
        target: `${poolName}/${spec.name}`,
      });
    }
    if (spec.backingPath !== undefined && !this.host.diskAvailable(spec.backingPath)) {
      throw new HypervisorError('OperationFailed', `Cannot access backing file '${spec.backingPath}'`, {
        operation: 'createVolume',
        target: `${poolName}/${spec.name}`,
      });
    }
    const v: SimVolume = { name: spec.name, capacityBytes: spec.capacityBytes, allocationBytes: VOLUME_ALLOCATION_BYTES };
    if (spec.backingPath !== undefined) v.backingPath = spec.backingPath;
    p.volumes.set(spec.name, v);
    p.root.children.set(spec.name, { type: 'file', sizeBytes: VOLUME_ALLOCATION_BYTES, modifiedAt: this.host.opts.now() });
    return this.volumeInfo(p, v);
  }

  async cloneVolume(poolName: string, source: string, spec: VolumeSpec): Promise<VolumeInfo> {
    validateName('pool', poolName);
    validateVolumeSpec(spec);
    await this.host.enter('cloneVolume', `${poolName}/${spec.name}`);
    const { p, v: from } = this.mustVolume(poolName, source, 'cloneVolume');
    if (p.volumes.has(spec.name) || p.root.children.has(spec.name)) {
      throw new HypervisorError('VolumeExists', `storage volume '${spec.name}' exists already`, {
        operation: 'cloneVolume',
        target: `${poolName}/${spec.name}`,
      });
    }
    // A flat copy: no backing file, the source's data, at least the source's size.
    const v: SimVolume = { name: spec.name, capacityBytes: Math.max(spec.capacityBytes, from.capacityBytes), allocationBytes: from.allocationBytes };
    p.volumes.set(spec.name, v);
    p.root.children.set(spec.name, { type: 'file', sizeBytes: from.allocationBytes, modifiedAt: this.host.opts.now() });
    return this.volumeInfo(p, v);
  }

  private mustVolume(poolName: string, name: string, operation: string): { p: SimPool; v: SimVolume } {
    validateName('pool', poolName);
    validateName('volume', name);
    const p = this.pools.mustPool(poolName, operation);
    this.pools.assertUsable(p, operation);
    const v = p.volumes.get(name);
    if (!v)
      throw new HypervisorError('VolumeNotFound', `Storage volume not found: no storage vol with matching name '${name}'`, {
        operation,
        target: `${poolName}/${name}`,
      });
    return { p, v };
  }

  async deleteVolume(poolName: string, name: string): Promise<void> {
    await this.host.enter('deleteVolume', `${poolName}/${name}`);
    const { p } = this.mustVolume(poolName, name, 'deleteVolume');
    p.volumes.delete(name);
    p.root.children.delete(name);
  }

  async getVolume(poolName: string, name: string): Promise<VolumeInfo> {
    await this.host.enter('getVolume', `${poolName}/${name}`);
    const { p, v } = this.mustVolume(poolName, name, 'getVolume');
    return this.volumeInfo(p, v);
  }

  async volumePath(poolName: string, name: string): Promise<string> {
    await this.host.enter('volumePath', `${poolName}/${name}`);
    const { p, v } = this.mustVolume(poolName, name, 'volumePath');
    return this.volumeInfo(p, v).path;
  }
}
