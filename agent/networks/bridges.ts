/**
 * The host's Linux bridges, for Node.status.bridges (VM NICs of type `bridge` are scheduled
 * only where theirs exists): the interfaces the kernel lists in /sys/class/net, each asked of
 * the driver's `bridgeExists`, so what counts as a bridge is decided in one place. The driver
 * interface has no listing of its own; the sim driver's bridges are therefore only seen when
 * the agent is given a lister (AgentOptions.listBridges).
 */
import { readdir } from 'node:fs/promises';
import { BRIDGE_NAME_PATTERN } from '../../api-types/schema/network.js';
import type { HypervisorDriver } from '../hypervisor/driver.js';

/** Names a bridge NIC can give (Linux allows more, e.g. ':' in old aliases). */
const BRIDGE_NAME_RE = new RegExp(BRIDGE_NAME_PATTERN);

export async function hostBridges(driver: Pick<HypervisorDriver, 'bridgeExists'>, sysClassNet = '/sys/class/net'): Promise<string[]> {
  const names = (await readdir(sysClassNet)).filter((n) => BRIDGE_NAME_RE.test(n));
  const found = await Promise.all(names.map(async (n) => ((await driver.bridgeExists(n)) ? n : undefined)));
  return found.filter((n): n is string => n !== undefined).sort();
}
