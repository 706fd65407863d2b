/** Volumes in storage pools through libvirtd (qcow2, optionally with a backing file). */
import type { VolumeInfo, VolumeSpec } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { validateName, validateVolumeSpec } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import type { LibvirtPools } from './pools.js';
import { Procs, VolTypeNames, type RemoteVol } from './protocol.js';
import { buildVolumeXml } from './xml.js';

export class LibvirtVolumes {
  constructor(
    private readonly conn: LibvirtConnection,
    private readonly pools: LibvirtPools,
  ) {}

  private async describeVolume(vol: RemoteVol, operation: string): Promise<VolumeInfo> {
    const ctx = { operation, target: `${vol.pool}/${vol.name}` };
    const [path, info] = await Promise.all([this.conn.call(Procs.storageVolGetPath, { vol }, ctx), this.conn.call(Procs.storageVolGetInfo, { vol }, ctx)]);
    return {
      pool: vol.pool,
      name: vol.name,
      path,
      key: vol.key,
      type: VolTypeNames[info.type] ?? 'unknown',
      capacityBytes: info.capacity,
      allocationBytes: info.allocation,
    };
  }

  private inactivePool(err: unknown, pool: string): unknown {
    if (err instanceof HypervisorError && err.reason === 'InvalidState') {
      return new HypervisorError('PoolInactive', `pool ${pool} is not running: ${err.message}`, err.details);
    }
    return err;
  }

  async listVolumes(poolName: string): Promise<VolumeInfo[]> {
    const operation = 'listVolumes';
    const pool = await this.pools.lookupPool(poolName, operation);
    let vols: RemoteVol[];
    try {
      vols = await this.conn.call(Procs.storagePoolListAllVolumes, { pool, flags: 0 }, { operation, target: poolName });
    } catch (err) {
      throw this.inactivePool(err, poolName);
    }
    const out = await Promise.all(
      vols.map(async (v) => {
        try {
          return await this.describeVolume(v, operation);
        } catch (err) {
          if (err instanceof HypervisorError && err.reason === 'VolumeNotFound') return null;
          throw err;
        }
      }),
    );
    return out.filter((v): v is VolumeInfo => v !== null).sort((a, b) => a.name.localeCompare(b.name));
  }

  async createVolume(poolName: string, spec: VolumeSpec): Promise<VolumeInfo> {
    validateVolumeSpec(spec);
    const operation = 'createVolume';
    const pool = await this.pools.lookupPool(poolName, operation);
    let vol: RemoteVol;
    try {
      vol = await this.conn.call(Procs.storageVolCreateXml, { pool, xml: buildVolumeXml(spec), flags: 0 }, { operation, target: `${poolName}/${spec.name}` });
    } catch (err) {
      throw this.inactivePool(err, poolName);
    }
    return this.describeVolume(vol, operation);
  }

  async cloneVolume(poolName: string, source: string, spec: VolumeSpec): Promise<VolumeInfo> {
    validateVolumeSpec(spec);
    const operation = 'cloneVolume';
    const clone = await this.lookupVolume(poolName, source, operation);
    const pool = await this.pools.lookupPool(poolName, operation);
    // No backing store in the XML: libvirt's qemu-img convert then writes a flat copy.
    const xml = buildVolumeXml({ name: spec.name, capacityBytes: spec.capacityBytes, format: spec.format ?? 'qcow2' });
    let vol: RemoteVol;
    try {
      vol = await this.conn.call(Procs.storageVolCreateXmlFrom, { pool, xml, clone, flags: 0 }, { operation, target: `${poolName}/${spec.name}` });
    } catch (err) {
      throw this.inactivePool(err, poolName);
    }
    return this.describeVolume(vol, operation);
  }

  private async lookupVolume(poolName: string, name: string, operation: string): Promise<RemoteVol> {
    validateName('volume', name);
    const pool = await this.pools.lookupPool(poolName, operation);
    try {
      return await this.conn.call(Procs.storageVolLookupByName, { pool, name }, { operation, target: `${poolName}/${name}` });
    } catch (err) {
      throw this.inactivePool(err, poolName);
    }
  }

  async deleteVolume(poolName: string, name: string): Promise<void> {
    const vol = await this.lookupVolume(poolName, name, 'deleteVolume');
    await this.conn.call(Procs.storageVolDelete, { vol, flags: 0 }, { operation: 'deleteVolume', target: `${poolName}/${name}` });
  }

  async getVolume(poolName: string, name: string): Promise<VolumeInfo> {
    const vol = await this.lookupVolume(poolName, name, 'getVolume');
    return this.describeVolume(vol, 'getVolume');
  }

  async volumePath(poolName: string, name: string): Promise<string> {
    const vol = await this.lookupVolume(poolName, name, 'volumePath');
    return this.conn.call(Procs.storageVolGetPath, { vol }, { operation: 'volumePath', target: `${poolName}/${name}` });
  }
}
