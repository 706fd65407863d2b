/**
 * Guest agent queries through libvirtd: virDomainGetGuestInfo (REMOTE_PROC_DOMAIN_GET_GUEST_INFO)
 * asks the QEMU guest agent over the domain's org.qemu.guest_agent.0 channel for os-release,
 * hostname, timezone and interfaces in one call, and answers with flat typed parameters
 * ("os.pretty-name", "if.0.addr.1.prefix", ...) that are folded into a GuestInfo here.
 *
 * Chosen over virDomainQemuAgentCommand (raw JSON through the libvirt-qemu program): that one
 * taints the domain ("custom-ga-command") and leaves the agent protocol (guest-sync, JSON
 * framing) to us; GetGuestInfo is a stable API since libvirt 5.7 (interfaces since 7.10).
 *
 * An absent, not yet started or hung agent, or a domain that is not running, is an answer
 * here ({connected: false, message}), not an error: the caller polls this.
 */
import type { GuestInfo, GuestInterface } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { normalizeUuid, uuidToBytes } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import {
  Procs,
  type TypedParam,
  VIR_DOMAIN_GUEST_INFO_HOSTNAME,
  VIR_DOMAIN_GUEST_INFO_INTERFACES,
  VIR_DOMAIN_GUEST_INFO_OS,
  VIR_DOMAIN_GUEST_INFO_TIMEZONE,
  VirErr,
} from './protocol.js';

const GUEST_INFO_TYPES = VIR_DOMAIN_GUEST_INFO_OS | VIR_DOMAIN_GUEST_INFO_HOSTNAME | VIR_DOMAIN_GUEST_INFO_TIMEZONE | VIR_DOMAIN_GUEST_INFO_INTERFACES;

/**
 * libvirt errors meaning "the agent answered, but not to everything asked" (an old agent, or a
 * command blocked in its configuration): with explicit types libvirt fails the whole call,
 * with types = 0 it skips what the agent does not support.
 */
const PARTIAL_ANSWER_CODES: ReadonlySet<number> = new Set([
  VirErr.INTERNAL_ERROR,
  VirErr.AGENT_COMMAND_FAILED,
  VirErr.ARGUMENT_UNSUPPORTED,
  VirErr.OPERATION_UNSUPPORTED,
  VirErr.INVALID_ARG,
]);

export async function guestInfo(conn: LibvirtConnection, uuid: string, timeoutMs: number): Promise<GuestInfo> {
  const u = normalizeUuid(uuid);
  const ctx = { operation: 'guestInfo', target: u, timeoutMs };
  const dom = await conn.call(Procs.domainLookupByUuid, { uuid: uuidToBytes(u) }, ctx);
  try {
    return parseGuestInfoParams(await conn.call(Procs.domainGetGuestInfo, { dom, types: GUEST_INFO_TYPES, flags: 0 }, ctx));
  } catch (err) {
    if (!(err instanceof HypervisorError) || mustThrow(err)) throw err;
    if (err.details.libvirtCode === undefined || !PARTIAL_ANSWER_CODES.has(err.details.libvirtCode)) return notConnected(err, timeoutMs);
  }
  try {
    return parseGuestInfoParams(await conn.call(Procs.domainGetGuestInfo, { dom, types: 0, flags: 0 }, ctx));
  } catch (err) {
    if (!(err instanceof HypervisorError) || mustThrow(err)) throw err;
    return notConnected(err, timeoutMs);
  }
}

/** What guestInfo throws like every call; everything else about the agent is an answer. */
function mustThrow(err: HypervisorError): boolean {
  return err.reason === 'DomainNotFound' || err.reason === 'HypervisorUnavailable' || err.reason === 'InvalidSpec';
}

function notConnected(err: HypervisorError, timeoutMs: number): GuestInfo {
  if (err.reason === 'Timeout' && err.details.libvirtCode === undefined) {
    return { connected: false, message: `guest agent did not answer within ${timeoutMs} ms` };
  }
  return { connected: false, message: err.message };
}

/**
 * Folds virDomainGetGuestInfo's typed parameters into a GuestInfo (connected: true). Fields
 * the guest did not report stay absent. Exported for tests.
 */
export function parseGuestInfoParams(params: readonly TypedParam[]): GuestInfo {
  const byName = new Map(params.map((p) => [p.field, p.value] as const));
  const str = (k: string): string | undefined => {
    const v = byName.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const num = (k: string): number | undefined => {
    const v = byName.get(k);
    return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
  };
  const out: GuestInfo = { connected: true };
  const hostname = str('hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const os: NonNullable<GuestInfo['os']> = {};
  for (const [key, field] of [
    ['id', 'os.id'],
    ['name', 'os.name'],
    ['prettyName', 'os.pretty-name'],
    ['version', 'os.version'],
    ['versionId', 'os.version-id'],
    ['kernelRelease', 'os.kernel-release'],
    ['machine', 'os.machine'],
  ] as const) {
    const v = str(field);
    if (v !== undefined) os[key] = v;
  }
  if (Object.keys(os).length > 0) out.os = os;
  const timezone = str('timezone.name');
  if (timezone !== undefined) out.timezone = timezone;
  const ifCount = num('if.count');
  if (ifCount !== undefined) {
    const interfaces: GuestInterface[] = [];
    for (let i = 0; i < ifCount; i++) {
      const p = `if.${i}.`;
      const iface: GuestInterface = { name: str(`${p}name`) ?? '', addresses: [] };
      const mac = str(`${p}hwaddr`);
      if (mac !== undefined) iface.mac = mac;
      const addrCount = num(`${p}addr.count`) ?? 0;
      for (let j = 0; j < addrCount; j++) {
        const a = `${p}addr.${j}.`;
        const ip = str(`${a}addr`);
        const type = str(`${a}type`);
        if (ip === undefined) continue;
        iface.addresses.push({ ip, prefix: num(`${a}prefix`) ?? 0, family: type === 'ipv6' ? 'ipv6' : 'ipv4' });
      }
      interfaces.push(iface);
    }
    out.interfaces = interfaces;
  }
  return out;
}
