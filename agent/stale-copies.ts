/**
 * Stale copies (docs/fencing.md): a domain of a VM that was recovered on another node while
 * this one was fenced. The gateway refuses this node's reports about it and names the node
 * the VM is bound to now (StatusCause BoundToAnotherNode; EntryResult.boundNode in a full
 * sync). The agent then force-stops the domain if it runs and undefines it. Its disks are
 * never touched: on shared storage they are the disks the VM now runs from.
 */
import { BOUND_TO_ANOTHER_NODE } from '../api-types/proto/contract.js';
import { GatewayError } from '../api-types/proto/errors.js';
import type { Logger } from '../lib/logging/logger.js';
import type { DomainInfo, HypervisorDriver } from './hypervisor/driver.js';

/** The node a refused report says the VM is bound to, or '' (not that refusal). */
export function boundNodeOfRefusal(err: unknown): string {
  if (!(err instanceof GatewayError) || err.reason !== 'Forbidden') return '';
  return err.status?.details?.causes?.find((c) => c.reason === BOUND_TO_ANOTHER_NODE)?.message ?? '';
}

/** Whether the domain is a stale copy to remove: a Quantix-defined domain whose VM is bound to another node. */
export function isStaleCopy(domain: DomainInfo | undefined, boundNode: string, self: string): domain is DomainInfo {
  return Boolean(domain?.owner?.uid) && boundNode !== '' && boundNode !== self;
}

export interface StaleCopyDeps {
  driver: HypervisorDriver;
  domain: (uuid: string) => DomainInfo | undefined;
  /** Forget what was reported about it (its removal is not reported: the VM is not ours). */
  forget: (uuid: string) => void;
  /** Re-read the domain after the change. */
  refresh: (uuid: string) => Promise<void>;
  nodeName: () => string;
  log: Logger;
}

export class StaleCopies {
  constructor(private readonly deps: StaleCopyDeps) {}

  /** Removes the domain if it is a stale copy; returns whether it did. */
  async remove(uuid: string, boundNode: string): Promise<boolean> {
    const { driver, log } = this.deps;
    const domain = this.deps.domain(uuid);
    if (!isStaleCopy(domain, boundNode, this.deps.nodeName())) return false;
    const vm = `${domain.owner!.namespace}/${domain.owner!.name}`;
    if (domain.state !== 'Shutoff' && domain.state !== 'Crashed') await driver.destroyDomain(uuid).catch(ignoreNotFound);
    await driver.undefineDomain(uuid).catch(ignoreNotFound);
    this.deps.forget(uuid);
    log.warn('stale copy removed: the VM was recovered on another node; its disks are left as they are', { vm, domain: uuid, boundNode });
    await this.deps.refresh(uuid).catch(() => undefined);
    return true;
  }
}

function ignoreNotFound(err: unknown): void {
  if ((err as { reason?: string }).reason === 'DomainNotFound') return;
  throw err;
}
