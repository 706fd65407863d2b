/**
 * Storage pools through libvirtd: dir, and nfs as libvirt netfs. Defining an identical
 * pool again is a no-op; starting builds the target directory (nothing is formatted) and
 * turns an nfs mount error into PoolMountFailed; stopping and undefining never delete data.
 */
import type { PoolInfo, PoolSpec } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { bytesToUuid, validateName, validatePoolSpec } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import { PoolStateNames, Procs, type RemotePool } from './protocol.js';
import { buildPoolXml, parsePoolXml } from './xml.js';

export class LibvirtPools {
  constructor(
    private readonly conn: LibvirtConnection,
    /** Timeout of pool start/build/stop (nfs mounts can hang), ms. */
    private readonly poolStartTimeoutMs: number,
  ) {}

  /** The pool's handle (for volumes.ts too). */
  async lookupPool(name: string, operation: string): Promise<RemotePool> {
    validateName('pool', name);
    return this.conn.call(Procs.storagePoolLookupByName, { name }, { operation, target: name });
  }

  private async describePool(pool: RemotePool, operation: string): Promise<PoolInfo> {
    const ctx = { operation, target: pool.name };
    const [info, xml, autostart] = await Promise.all([
      this.conn.call(Procs.storagePoolGetInfo, { pool }, ctx),
      this.conn.call(Procs.storagePoolGetXmlDesc, { pool, flags: 0 }, ctx),
      this.conn.call(Procs.storagePoolGetAutostart, { pool }, ctx),
    ]);
    const parsed = parsePoolXml(xml);
    const state = PoolStateNames[info.state] ?? 'Inaccessible';
    let volumeCount = 0;
    if (state === 'Running' || state === 'Degraded') {
      try {
        volumeCount = await this.conn.call(Procs.storagePoolNumOfVolumes, { pool }, ctx);
      } catch (err) {
        if (!(err instanceof HypervisorError && err.reason === 'InvalidState')) throw err;
      }
    }
    const out: PoolInfo = {
      name: pool.name,
      uuid: bytesToUuid(pool.uuid),
      type: parsed.type,
      state,
      capacityBytes: info.capacity,
      allocationBytes: info.allocation,
      availableBytes: info.available,
      targetPath: parsed.targetPath,
      volumeCount,
      autostart,
    };
    if (parsed.source) out.source = parsed.source;
    return out;
  }

  async listPools(): Promise<PoolInfo[]> {
    const pools = await this.conn.call(Procs.connectListAllStoragePools, { flags: 0 }, { operation: 'listPools' });
    const out = await Promise.all(
      pools.map(async (p) => {
        try {
          return await this.describePool(p, 'listPools');
        } catch (err) {
          if (err instanceof HypervisorError && err.reason === 'PoolNotFound') return null;
          throw err;
        }
      }),
    );
    return out.filter((p): p is PoolInfo => p !== null);
  }

  async getPool(name: string): Promise<PoolInfo> {
    const pool = await this.lookupPool(name, 'getPool');
    return this.describePool(pool, 'getPool');
  }

  async definePool(spec: PoolSpec): Promise<PoolInfo> {
    validatePoolSpec(spec);
    const operation = 'definePool';
    let existing: RemotePool | null = null;
    try {
      existing = await this.lookupPool(spec.name, operation);
    } catch (err) {
      if (!(err instanceof HypervisorError && err.reason === 'PoolNotFound')) throw err;
    }
    if (existing) {
      const current = parsePoolXml(await this.conn.call(Procs.storagePoolGetXmlDesc, { pool: existing, flags: 0 }, { operation, target: spec.name }));
      const wantType = spec.type === 'nfs' ? 'netfs' : 'dir';
      const same =
        current.type === wantType &&
        current.targetPath === spec.targetPath &&
        (spec.type !== 'nfs' || (current.source?.host === spec.source.host && current.source?.dir === spec.source.dir));
      if (same) return this.describePool(existing, operation);
      const active = await this.conn.call(Procs.storagePoolIsActive, { pool: existing }, { operation, target: spec.name });
      if (active) {
        throw new HypervisorError('PoolExists', `pool ${spec.name} is running with a different definition; stop it before changing it`, {
          operation,
          target: spec.name,
        });
      }
      const pool = await this.conn.call(
        Procs.storagePoolDefineXml,
        { xml: buildPoolXml(spec, bytesToUuid(existing.uuid)), flags: 0 },
        { operation, target: spec.name },
      );
      return this.describePool(pool, operation);
    }
    const pool = await this.conn.call(Procs.storagePoolDefineXml, { xml: buildPoolXml(spec), flags: 0 }, { operation, target: spec.name });
    return this.describePool(pool, operation);
  }

  async startPool(name: string): Promise<PoolInfo> {
    const operation = 'startPool';
    const pool = await this.lookupPool(name, operation);
    const ctx = { operation, target: name, timeoutMs: this.poolStartTimeoutMs };
    const active = await this.conn.call(Procs.storagePoolIsActive, { pool }, ctx);
    if (!active) {
      const parsed = parsePoolXml(await this.conn.call(Procs.storagePoolGetXmlDesc, { pool, flags: 0 }, ctx));
      // dir and netfs builds only create the target directory; nothing is formatted.
      if (parsed.type === 'dir' || parsed.type === 'netfs') await this.conn.call(Procs.storagePoolBuild, { pool, flags: 0 }, ctx);
      try {
        await this.conn.call(Procs.storagePoolCreate, { pool, flags: 0 }, ctx);
      } catch (err) {
        if (err instanceof HypervisorError && parsed.type === 'netfs' && err.reason !== 'HypervisorUnavailable' && err.reason !== 'InvalidState') {
          const src = parsed.source ? `${parsed.source.host}:${parsed.source.dir}` : 'nfs source';
          throw new HypervisorError('PoolMountFailed', `cannot mount ${src} on ${parsed.targetPath}: ${err.message}`, err.details);
        }
        if (err instanceof HypervisorError && err.reason === 'InvalidState') {
          // Started concurrently by someone else: fine.
          const nowActive = await this.conn.call(Procs.storagePoolIsActive, { pool }, ctx);
          if (!nowActive) throw err;
        } else {
          throw err;
        }
      }
    }
    return this.describePool(pool, operation);
  }

  async stopPool(name: string): Promise<void> {
    const operation = 'stopPool';
    const pool = await this.lookupPool(name, operation);
    const active = await this.conn.call(Procs.storagePoolIsActive, { pool }, { operation, target: name });
    if (!active) return;
    try {
      await this.conn.call(Procs.storagePoolDestroy, { pool }, { operation, target: name, timeoutMs: this.poolStartTimeoutMs });
    } catch (err) {
      if (err instanceof HypervisorError && err.reason === 'InvalidState') {
        const still = await this.conn.call(Procs.storagePoolIsActive, { pool }, { operation, target: name });
        if (!still) return;
      }
      throw err;
    }
  }

  async undefinePool(name: string): Promise<void> {
    const operation = 'undefinePool';
    const pool = await this.lookupPool(name, operation);
    const active = await this.conn.call(Procs.storagePoolIsActive, { pool }, { operation, target: name });
    if (active) throw new HypervisorError('InvalidState', `pool ${name} is running; stop it before undefining it`, { operation, target: name });
    await this.conn.call(Procs.storagePoolUndefine, { pool }, { operation, target: name });
  }

  async refreshPool(name: string): Promise<PoolInfo> {
    const operation = 'refreshPool';
    const pool = await this.lookupPool(name, operation);
    try {
      await this.conn.call(Procs.storagePoolRefresh, { pool, flags: 0 }, { operation, target: name });
    } catch (err) {
      if (err instanceof HypervisorError && err.reason === 'InvalidState') {
        throw new HypervisorError('PoolInactive', `pool ${name} is not running: ${err.message}`, err.details);
      }
      throw err;
    }
    return this.describePool(pool, operation);
  }
}
