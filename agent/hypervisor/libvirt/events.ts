/**
 * libvirt lifecycle events: registering for them on a new connection (domains through
 * CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, pools through
 * CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY) and turning the messages libvirtd pushes into
 * HypervisorEvents.
 */
import type { DomainEventType, HypervisorEvent, PoolEventType } from '../driver.js';
import { bytesToUuid } from '../validate.js';
import {
  decodeDomainLifecycleMsg,
  decodePoolLifecycleMsg,
  DomainEventDetails,
  DomainEventNames,
  PoolEventNames,
  PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
  PROC_STORAGE_POOL_EVENT_LIFECYCLE,
  Procs,
  VIR_DOMAIN_EVENT_ID_LIFECYCLE,
  VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
} from './protocol.js';
import type { RpcClient } from './rpc.js';
import type { XdrReader } from './xdr.js';

/** The callback ids of one connection (-1 until registered: events may arrive before the reply). */
export interface EventSession {
  domainCallbackId: number;
  poolCallbackId: number;
}

export function newEventSession(): EventSession {
  return { domainCallbackId: -1, poolCallbackId: -1 };
}

/** Registers for domain and (when libvirtd has them) storage pool lifecycle events. */
export async function registerEvents(client: RpcClient, session: EventSession, log: (level: 'warn', message: string) => void): Promise<void> {
  session.domainCallbackId = await client.call(
    Procs.connectDomainEventCallbackRegisterAny,
    { eventID: VIR_DOMAIN_EVENT_ID_LIFECYCLE, dom: null },
    { timeoutMs: 10_000 },
  );
  try {
    session.poolCallbackId = await client.call(
      Procs.connectStoragePoolEventRegisterAny,
      { eventID: VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, pool: null },
      { timeoutMs: 10_000 },
    );
  } catch (err) {
    log('warn', `storage pool events unavailable: ${(err as Error).message}`);
  }
}

/** The event a message from libvirtd carries, if it is one of this connection's; throws when it cannot be decoded. */
export function eventFromMessage(session: EventSession, proc: number, body: XdrReader, timestamp: number): HypervisorEvent | undefined {
  if (proc === PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
    const m = decodeDomainLifecycleMsg(body);
    if (session.domainCallbackId !== -1 && m.callbackID !== session.domainCallbackId) return undefined;
    const type = (DomainEventNames[m.event] ?? 'Defined') as DomainEventType;
    return { kind: 'domain', uuid: bytesToUuid(m.dom.uuid), name: m.dom.name, type, detail: DomainEventDetails[m.event]?.[m.detail] ?? 'unknown', timestamp };
  }
  if (proc === PROC_STORAGE_POOL_EVENT_LIFECYCLE) {
    const m = decodePoolLifecycleMsg(body);
    if (session.poolCallbackId !== -1 && m.callbackID !== session.poolCallbackId) return undefined;
    const type = PoolEventNames[m.event] as PoolEventType | undefined;
    return type ? { kind: 'pool', name: m.pool.name, type, timestamp } : undefined;
  }
  return undefined;
}
