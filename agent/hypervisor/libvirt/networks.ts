/**
 * libvirt-managed networks (nat, isolated) through libvirtd, in the shape of pools.ts:
 * defining an identical network again is a no-op, a changed definition replaces an inactive
 * network and is refused for an active one; starting sets autostart (the network comes back
 * with libvirtd), stopping clears it; undefining needs a stopped network.
 *
 * Also whether a host bridge exists, for `bridge` NICs: the agent runs on the host, so a look
 * at /sys/class/net/NAME/bridge is enough (the directory is injectable for tests).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { NetworkDefSpec, NetworkInfo } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { bytesToUuid, sameNetworkDefinition, validateBridgeName, validateName, validateNetworkDefSpec } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import { Procs, type RemoteNetwork, VIR_NETWORK_XML_INACTIVE } from './protocol.js';
import { buildNetworkXml, parseNetworkXml } from './xml.js';

export class LibvirtNetworks {
  constructor(
    private readonly conn: LibvirtConnection,
    /** Where Linux lists network interfaces (default /sys/class/net). */
    private readonly sysClassNet: string,
  ) {}

  private async lookup(name: string, operation: string): Promise<RemoteNetwork> {
    validateName('network', name);
    return this.conn.call(Procs.networkLookupByName, { name }, { operation, target: name });
  }

  private async describe(net: RemoteNetwork, operation: string): Promise<NetworkInfo> {
    const ctx = { operation, target: net.name };
    const [xml, active, persistent, autostart] = await Promise.all([
      this.conn.call(Procs.networkGetXmlDesc, { net, flags: 0 }, ctx),
      this.conn.call(Procs.networkIsActive, { net }, ctx),
      this.conn.call(Procs.networkIsPersistent, { net }, ctx),
      this.conn.call(Procs.networkGetAutostart, { net }, ctx),
    ]);
    const parsed = parseNetworkXml(xml);
    const out: NetworkInfo = { name: net.name, uuid: bytesToUuid(net.uuid), active, persistent, autostart, mode: parsed.mode };
    if (parsed.bridgeName) out.bridgeName = parsed.bridgeName;
    if (parsed.ipv4) out.ipv4 = parsed.ipv4;
    return out;
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    const nets = await this.conn.call(Procs.connectListAllNetworks, { flags: 0 }, { operation: 'listNetworks' });
    const out = await Promise.all(
      nets.map(async (n) => {
        try {
          return await this.describe(n, 'listNetworks');
        } catch (err) {
          // Gone between the list and the detail calls.
          if (err instanceof HypervisorError && err.reason === 'NetworkNotFound') return null;
          throw err;
        }
      }),
    );
    return out.filter((n): n is NetworkInfo => n !== null);
  }

  async getNetwork(name: string): Promise<NetworkInfo> {
    return this.describe(await this.lookup(name, 'getNetwork'), 'getNetwork');
  }

  async defineNetwork(spec: NetworkDefSpec): Promise<NetworkInfo> {
    validateNetworkDefSpec(spec);
    const operation = 'defineNetwork';
    const ctx = { operation, target: spec.name };
    let existing: RemoteNetwork | null = null;
    try {
      existing = await this.lookup(spec.name, operation);
    } catch (err) {
      if (!(err instanceof HypervisorError && err.reason === 'NetworkNotFound')) throw err;
    }
    if (!existing) {
      const net = await this.conn.call(Procs.networkDefineXml, { xml: buildNetworkXml(spec) }, ctx);
      return this.describe(net, operation);
    }
    // The inactive (persistent) definition is what a redefine would replace.
    const current = parseNetworkXml(await this.conn.call(Procs.networkGetXmlDesc, { net: existing, flags: VIR_NETWORK_XML_INACTIVE }, ctx));
    if (sameNetworkDefinition(current, spec)) return this.describe(existing, operation);
    if (await this.conn.call(Procs.networkIsActive, { net: existing }, ctx)) {
      throw new HypervisorError('NetworkExists', `network ${spec.name} is active with a different definition; stop it before changing it`, ctx);
    }
    const net = await this.conn.call(Procs.networkDefineXml, { xml: buildNetworkXml(spec, bytesToUuid(existing.uuid)) }, ctx);
    return this.describe(net, operation);
  }

  async startNetwork(name: string): Promise<NetworkInfo> {
    const operation = 'startNetwork';
    const net = await this.lookup(name, operation);
    const ctx = { operation, target: name };
    if (!(await this.conn.call(Procs.networkIsActive, { net }, ctx))) {
      try {
        await this.conn.call(Procs.networkCreate, { net }, ctx);
      } catch (err) {
        // Started concurrently by someone else: fine.
        if (!(err instanceof HypervisorError && err.reason === 'InvalidState' && (await this.conn.call(Procs.networkIsActive, { net }, ctx)))) throw err;
      }
    }
    if (!(await this.conn.call(Procs.networkGetAutostart, { net }, ctx))) {
      await this.conn.call(Procs.networkSetAutostart, { net, autostart: true }, ctx);
    }
    return this.describe(net, operation);
  }

  async stopNetwork(name: string): Promise<void> {
    const operation = 'stopNetwork';
    const net = await this.lookup(name, operation);
    const ctx = { operation, target: name };
    if (await this.conn.call(Procs.networkGetAutostart, { net }, ctx)) {
      await this.conn.call(Procs.networkSetAutostart, { net, autostart: false }, ctx);
    }
    if (!(await this.conn.call(Procs.networkIsActive, { net }, ctx))) return;
    try {
      await this.conn.call(Procs.networkDestroy, { net }, ctx);
    } catch (err) {
      if (!(err instanceof HypervisorError && err.reason === 'InvalidState' && !(await this.conn.call(Procs.networkIsActive, { net }, ctx)))) throw err;
    }
  }

  async undefineNetwork(name: string): Promise<void> {
    const operation = 'undefineNetwork';
    const net = await this.lookup(name, operation);
    const ctx = { operation, target: name };
    if (await this.conn.call(Procs.networkIsActive, { net }, ctx)) {
      throw new HypervisorError('InvalidState', `network ${name} is active; stop it before undefining it`, ctx);
    }
    await this.conn.call(Procs.networkUndefine, { net }, ctx);
  }

  async bridgeExists(name: string): Promise<boolean> {
    validateBridgeName(name);
    try {
      return (await fs.stat(path.join(this.sysClassNet, name, 'bridge'))).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
      throw new HypervisorError('OperationFailed', `cannot check bridge ${name}: ${(err as Error).message}`, { operation: 'bridgeExists', target: name });
    }
  }
}
