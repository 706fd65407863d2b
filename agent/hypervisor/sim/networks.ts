/**
 * libvirt-managed networks on the simulated host, with the libvirt driver's semantics:
 * defining an identical network again is a no-op, a changed definition replaces an inactive
 * network and is refused (NetworkExists) for an active one or for a bridge name another network
 * uses; libvirt picks virbrN when no bridge is named; starting sets autostart and brings the
 * bridge up (bridgeExists sees it), stopping clears both; undefining needs a stopped network.
 */
import { randomUUID } from 'node:crypto';
import type { NetworkDefSpec, NetworkInfo } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { sameNetworkDefinition, validateBridgeName, validateName, validateNetworkDefSpec } from '../validate.js';
import type { SimHost, SimNetwork } from './host.js';

export class SimNetworks {
  constructor(private readonly host: SimHost) {}

  /** A host bridge appears (true) or goes away (false), like `ip link add br0 type bridge`. */
  setBridge(name: string, exists: boolean): void {
    validateBridgeName(name);
    if (exists) this.host.bridges.add(name);
    else this.host.bridges.delete(name);
  }

  mustNetwork(name: string, operation: string): SimNetwork {
    const n = this.host.networks.get(name);
    if (!n) throw new HypervisorError('NetworkNotFound', `Network not found: no network with matching name '${name}'`, { operation, target: name });
    return n;
  }

  private info(n: SimNetwork): NetworkInfo {
    const out: NetworkInfo = {
      name: n.spec.name,
      uuid: n.uuid,
      active: n.active,
      persistent: true,
      autostart: n.autostart,
      bridgeName: n.bridgeName,
      mode: n.spec.mode,
    };
    if (n.spec.ipv4) out.ipv4 = { ...n.spec.ipv4 };
    return out;
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    await this.host.enter('listNetworks');
    return [...this.host.networks.values()].map((n) => this.info(n));
  }

  async getNetwork(name: string): Promise<NetworkInfo> {
    validateName('network', name);
    await this.host.enter('getNetwork', name);
    return this.info(this.mustNetwork(name, 'getNetwork'));
  }

  async defineNetwork(spec: NetworkDefSpec): Promise<NetworkInfo> {
    validateNetworkDefSpec(spec);
    const operation = 'defineNetwork';
    await this.host.enter(operation, spec.name);
    const existing = this.host.networks.get(spec.name);
    if (existing && sameNetworkDefinition({ ...existing.spec, bridgeName: existing.bridgeName }, spec)) return this.info(existing);
    if (existing?.active) {
      throw new HypervisorError('NetworkExists', `network ${spec.name} is active with a different definition; stop it before changing it`, {
        operation,
        target: spec.name,
      });
    }
    for (const other of this.host.networks.values()) {
      if (other !== existing && spec.bridgeName !== undefined && other.bridgeName === spec.bridgeName) {
        throw new HypervisorError('NetworkExists', `bridge name '${spec.bridgeName}' already in use by network '${other.spec.name}'`, {
          operation,
          target: spec.name,
        });
      }
    }
    const bridgeName = spec.bridgeName ?? existing?.bridgeName ?? this.freeBridgeName();
    if (existing) {
      existing.spec = { ...spec };
      existing.bridgeName = bridgeName;
      return this.info(existing);
    }
    const n: SimNetwork = { spec: { ...spec }, uuid: randomUUID(), active: false, autostart: false, bridgeName };
    this.host.networks.set(spec.name, n);
    return this.info(n);
  }

  private freeBridgeName(): string {
    const used = new Set([...this.host.networks.values()].map((n) => n.bridgeName));
    for (let i = 0; ; i++) if (!used.has(`virbr${i}`) && !this.host.bridges.has(`virbr${i}`)) return `virbr${i}`;
  }

  async startNetwork(name: string): Promise<NetworkInfo> {
    validateName('network', name);
    await this.host.enter('startNetwork', name);
    const n = this.mustNetwork(name, 'startNetwork');
    n.active = true;
    n.autostart = true;
    return this.info(n);
  }

  async stopNetwork(name: string): Promise<void> {
    validateName('network', name);
    await this.host.enter('stopNetwork', name);
    const n = this.mustNetwork(name, 'stopNetwork');
    n.active = false;
    n.autostart = false;
  }

  async undefineNetwork(name: string): Promise<void> {
    validateName('network', name);
    await this.host.enter('undefineNetwork', name);
    const n = this.mustNetwork(name, 'undefineNetwork');
    if (n.active) {
      throw new HypervisorError('InvalidState', `network ${name} is active; stop it before undefining it`, { operation: 'undefineNetwork', target: name });
    }
    this.host.networks.delete(name);
  }

  async bridgeExists(name: string): Promise<boolean> {
    validateBridgeName(name);
    await this.host.enter('bridgeExists', name);
    return this.host.bridgeExists(name);
  }
}
