/**
 * The subset of libvirt's remote RPC protocol that Quantix uses.
 *
 * Framing and header come from libvirt's `src/rpc/virnetprotocol.x`, procedure numbers and
 * argument/return layouts from `src/remote/remote_protocol.x` (procedure numbers are
 * append-only, so these are valid for libvirt 9.0 and later). Only the procedures listed
 * in `Procs` are implemented; each entry carries its wire number and an encoder/decoder
 * written by hand from the .x definitions.
 */
import { type XdrReader, XdrWriter } from './xdr.js';

// ---- framing (virnetprotocol.x) ----------------------------------------------------------

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
/** libvirt-qemu's program (qemu_protocol.x): QEMU-specific calls such as the monitor passthrough. */
export const QEMU_PROGRAM = 0x20008087;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

/** 4-byte length word; the length counts itself. */
export const MESSAGE_LEN_BYTES = 4;
export const MESSAGE_HEADER_BYTES = 24;
/** libvirt's VIR_NET_MESSAGE_MAX (32 MiB); larger frames are a protocol error. */
export const MESSAGE_MAX = 32 * 1024 * 1024;
/**
 * VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: the largest payload libvirtd reads into one stream data
 * message (and the most it sends in one); larger writes are split.
 */
export const STREAM_PAYLOAD_MAX = 262_120;

export enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
  CallWithFds = 4,
  ReplyWithFds = 5,
  StreamHole = 6,
}

export enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

export interface MessageHeader {
  prog: number;
  vers: number;
  proc: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

export function encodeFrame(header: MessageHeader, payload?: Buffer): Buffer {
  const w = new XdrWriter(MESSAGE_LEN_BYTES + MESSAGE_HEADER_BYTES + (payload?.length ?? 0));
  const total = MESSAGE_LEN_BYTES + MESSAGE_HEADER_BYTES + (payload?.length ?? 0);
  w.uint(total).uint(header.prog).uint(header.vers).int(header.proc).int(header.type).uint(header.serial).int(header.status);
  const head = w.toBuffer();
  return payload && payload.length > 0 ? Buffer.concat([head, payload]) : head;
}

export function decodeHeader(r: XdrReader): MessageHeader {
  return {
    prog: r.uint(),
    vers: r.uint(),
    proc: r.int(),
    type: r.int() as MessageType,
    serial: r.uint(),
    status: r.int() as MessageStatus,
  };
}

// ---- common types (remote_protocol.x) ---------------------------------------------------

export const UUID_BYTES = 16;

export interface RemoteDomain {
  name: string;
  uuid: Buffer;
  /** -1 when the domain is not running. */
  id: number;
}

export interface RemoteNetwork {
  name: string;
  uuid: Buffer;
}

export interface RemotePool {
  name: string;
  uuid: Buffer;
}

export interface RemoteVol {
  pool: string;
  name: string;
  key: string;
}

export interface RemoteError {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}

const writeDomain = (w: XdrWriter, d: RemoteDomain): void => {
  w.string(d.name).fixedOpaque(d.uuid, UUID_BYTES).int(d.id);
};
const readDomain = (r: XdrReader): RemoteDomain => ({ name: r.string(), uuid: r.fixedOpaque(UUID_BYTES), id: r.int() });
const readNetwork = (r: XdrReader): RemoteNetwork => ({ name: r.string(), uuid: r.fixedOpaque(UUID_BYTES) });
const writeNetwork = (w: XdrWriter, n: RemoteNetwork): void => {
  w.string(n.name).fixedOpaque(n.uuid, UUID_BYTES);
};
const writePool = (w: XdrWriter, p: RemotePool): void => {
  w.string(p.name).fixedOpaque(p.uuid, UUID_BYTES);
};
const readPool = (r: XdrReader): RemotePool => ({ name: r.string(), uuid: r.fixedOpaque(UUID_BYTES) });
const writeVol = (w: XdrWriter, v: RemoteVol): void => {
  w.string(v.pool).string(v.name).string(v.key);
};
const readVol = (r: XdrReader): RemoteVol => ({ pool: r.string(), name: r.string(), key: r.string() });
const readOptString = (r: XdrReader): string | null => r.optional((x) => x.string());

export function decodeRemoteError(r: XdrReader): RemoteError {
  const code = r.int();
  const domain = r.int();
  const message = readOptString(r);
  const level = r.int();
  r.optional(readDomain);
  const str1 = readOptString(r);
  const str2 = readOptString(r);
  const str3 = readOptString(r);
  const int1 = r.int();
  const int2 = r.int();
  r.optional(readNetwork);
  return { code, domain, message, level, str1, str2, str3, int1, int2 };
}

export function encodeRemoteError(w: XdrWriter, e: RemoteError): void {
  w.int(e.code).int(e.domain);
  w.optional(e.message, (x, s) => x.string(s));
  w.int(e.level);
  w.bool(false);
  for (const s of [e.str1, e.str2, e.str3]) w.optional(s, (x, v) => x.string(v));
  w.int(e.int1).int(e.int2);
  w.bool(false);
}

/** virTypedParameterType: the discriminant of remote_typed_param_value. */
export const TypedParamType = { Int: 1, UInt: 2, LLong: 3, ULLong: 4, Double: 5, Boolean: 6, String: 7 } as const;

/**
 * remote_typed_param: a named value whose XDR type follows the discriminant (int, unsigned
 * int, hyper, unsigned hyper, double, int-as-boolean, string). 64-bit values are bigints.
 */
export interface TypedParam {
  field: string;
  type: number;
  value: number | bigint | boolean | string;
}

export function readTypedParam(r: XdrReader): TypedParam {
  const field = r.string();
  const type = r.int();
  switch (type) {
    case TypedParamType.Int:
      return { field, type, value: r.int() };
    case TypedParamType.UInt:
      return { field, type, value: r.uint() };
    case TypedParamType.LLong:
      return { field, type, value: r.hyper() };
    case TypedParamType.ULLong:
      return { field, type, value: r.uhyper() };
    case TypedParamType.Double:
      return { field, type, value: r.double() };
    case TypedParamType.Boolean:
      return { field, type, value: r.int() !== 0 };
    case TypedParamType.String:
      return { field, type, value: r.string() };
    default:
      // No arm for it: the rest of the message cannot be decoded.
      throw new Error(`typed parameter ${field}: unknown type ${type}`);
  }
}

export function writeTypedParam(w: XdrWriter, p: TypedParam): void {
  w.string(p.field).int(p.type);
  switch (p.type) {
    case TypedParamType.Int:
      w.int(Number(p.value));
      return;
    case TypedParamType.UInt:
      w.uint(Number(p.value));
      return;
    case TypedParamType.LLong:
      w.hyper(BigInt(p.value as number | bigint));
      return;
    case TypedParamType.ULLong:
      w.uhyper(BigInt(p.value as number | bigint));
      return;
    case TypedParamType.Double:
      w.double(Number(p.value));
      return;
    case TypedParamType.Boolean:
      w.int(p.value ? 1 : 0);
      return;
    case TypedParamType.String:
      w.string(String(p.value));
      return;
    default:
      throw new Error(`typed parameter ${p.field}: unknown type ${p.type}`);
  }
}

/** REMOTE_DOMAIN_LIST_MAX and REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX (remote_protocol.x). */
export const DOMAIN_LIST_MAX = 16_384;
export const CONNECT_GET_ALL_DOMAIN_STATS_MAX = 262_144;

/** remote_domain_stats_record. */
export interface DomainStatsRecord {
  dom: RemoteDomain;
  params: TypedParam[];
}

/** virDomainStatsTypes: which groups of statistics to collect. */
export const VIR_DOMAIN_STATS_STATE = 1;
export const VIR_DOMAIN_STATS_CPU_TOTAL = 2;
export const VIR_DOMAIN_STATS_BALLOON = 4;
export const VIR_DOMAIN_STATS_VCPU = 8;
export const VIR_DOMAIN_STATS_INTERFACE = 16;
export const VIR_DOMAIN_STATS_BLOCK = 32;
/** virConnectGetAllDomainStatsFlags: only running domains, and do not wait for a busy domain's job lock. */
export const VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING = 16;
export const VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT = 1 << 29;

/** REMOTE_DOMAIN_GUEST_INFO_PARAMS_MAX */
export const DOMAIN_GUEST_INFO_PARAMS_MAX = 2048;

/** A `char x[N]` of rpcgen: N XDR ints, one character each, NUL-terminated. */
function readCharArray(r: XdrReader, n: number): string {
  let s = '';
  let ended = false;
  for (let i = 0; i < n; i++) {
    const c = r.int() & 0xff;
    if (c === 0) ended = true;
    if (!ended) s += String.fromCharCode(c);
  }
  return s;
}

// ---- procedures --------------------------------------------------------------------------

export interface ProcDef<A, R> {
  readonly name: string;
  readonly proc: number;
  /** The RPC program; REMOTE_PROGRAM when absent. */
  readonly prog?: number;
  encode(w: XdrWriter, args: A): void;
  decode(r: XdrReader): R;
}

function proc<A, R>(name: string, num: number, encode: (w: XdrWriter, a: A) => void, decode: (r: XdrReader) => R): ProcDef<A, R> {
  return { name, proc: num, encode, decode };
}

const noArgs = (): void => {};
const noRet = (): void => {};
const domArg = (w: XdrWriter, a: { dom: RemoteDomain }): void => writeDomain(w, a.dom);
const domFlagsArg = (w: XdrWriter, a: { dom: RemoteDomain; flags: number }): void => {
  writeDomain(w, a.dom);
  w.uint(a.flags);
};
const poolArg = (w: XdrWriter, a: { pool: RemotePool }): void => writePool(w, a.pool);
const poolFlagsArg = (w: XdrWriter, a: { pool: RemotePool; flags: number }): void => {
  writePool(w, a.pool);
  w.uint(a.flags);
};
const xmlFlagsArg = (w: XdrWriter, a: { xml: string; flags: number }): void => {
  w.string(a.xml).uint(a.flags);
};
const netArg = (w: XdrWriter, a: { net: RemoteNetwork }): void => writeNetwork(w, a.net);
const intBool = (r: XdrReader): boolean => r.int() !== 0;

export interface NodeInfo {
  model: string;
  memoryKiB: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface DomainInfoRet {
  state: number;
  maxMemKiB: number;
  memoryKiB: number;
  nrVirtCpu: number;
  cpuTimeNs: bigint;
}

export interface PoolInfoRet {
  state: number;
  capacity: number;
  allocation: number;
  available: number;
}

export interface VolInfoRet {
  type: number;
  capacity: number;
  allocation: number;
}

/** libvirt-qemu's virDomainQemuMonitorCommand (QEMU_PROC_DOMAIN_MONITOR_COMMAND): one QMP command as JSON, its answer as JSON. */
export const QemuProcs = {
  domainMonitorCommand: {
    ...proc<{ dom: RemoteDomain; cmd: string; flags: number }, string>(
      'QEMU_DOMAIN_MONITOR_COMMAND',
      1,
      (w, a) => {
        writeDomain(w, a.dom);
        w.string(a.cmd);
        w.uint(a.flags);
      },
      (r) => r.string(),
    ),
    prog: QEMU_PROGRAM,
  },
};

export const Procs = {
  connectOpen: proc<{ name: string | null; flags: number }, void>(
    'CONNECT_OPEN',
    1,
    (w, a) => {
      w.optional(a.name, (x, s) => x.string(s));
      w.uint(a.flags);
    },
    noRet,
  ),
  connectClose: proc<void, void>('CONNECT_CLOSE', 2, noArgs, noRet),
  connectGetType: proc<void, string>('CONNECT_GET_TYPE', 3, noArgs, (r) => r.string()),
  connectGetVersion: proc<void, number>('CONNECT_GET_VERSION', 4, noArgs, (r) => r.uhyperNumber()),
  nodeGetInfo: proc<void, NodeInfo>('NODE_GET_INFO', 6, noArgs, (r) => ({
    model: readCharArray(r, 32),
    memoryKiB: r.uhyperNumber(),
    cpus: r.int(),
    mhz: r.int(),
    nodes: r.int(),
    sockets: r.int(),
    cores: r.int(),
    threads: r.int(),
  })),
  connectGetCapabilities: proc<void, string>('CONNECT_GET_CAPABILITIES', 7, noArgs, (r) => r.string()),
  domainDestroy: proc<{ dom: RemoteDomain }, void>('DOMAIN_DESTROY', 12, domArg, noRet),
  domainGetXmlDesc: proc<{ dom: RemoteDomain; flags: number }, string>('DOMAIN_GET_XML_DESC', 14, domFlagsArg, (r) => r.string()),
  domainGetInfo: proc<{ dom: RemoteDomain }, DomainInfoRet>('DOMAIN_GET_INFO', 16, domArg, (r) => ({
    state: r.uint(),
    maxMemKiB: r.uhyperNumber(),
    memoryKiB: r.uhyperNumber(),
    nrVirtCpu: r.uint(),
    cpuTimeNs: r.uhyper(),
  })),
  domainLookupByName: proc<{ name: string }, RemoteDomain>('DOMAIN_LOOKUP_BY_NAME', 23, (w, a) => w.string(a.name), readDomain),
  domainLookupByUuid: proc<{ uuid: Buffer }, RemoteDomain>('DOMAIN_LOOKUP_BY_UUID', 24, (w, a) => w.fixedOpaque(a.uuid, UUID_BYTES), readDomain),
  domainResume: proc<{ dom: RemoteDomain }, void>('DOMAIN_RESUME', 28, domArg, noRet),
  domainSetAutostart: proc<{ dom: RemoteDomain; autostart: boolean }, void>(
    'DOMAIN_SET_AUTOSTART',
    29,
    (w, a) => {
      writeDomain(w, a.dom);
      w.int(a.autostart ? 1 : 0);
    },
    noRet,
  ),
  domainSuspend: proc<{ dom: RemoteDomain }, void>('DOMAIN_SUSPEND', 34, domArg, noRet),
  networkCreate: proc<{ net: RemoteNetwork }, void>('NETWORK_CREATE', 39, netArg, noRet),
  networkDefineXml: proc<{ xml: string }, RemoteNetwork>('NETWORK_DEFINE_XML', 41, (w, a) => w.string(a.xml), readNetwork),
  networkDestroy: proc<{ net: RemoteNetwork }, void>('NETWORK_DESTROY', 42, netArg, noRet),
  networkGetXmlDesc: proc<{ net: RemoteNetwork; flags: number }, string>(
    'NETWORK_GET_XML_DESC',
    43,
    (w, a) => {
      writeNetwork(w, a.net);
      w.uint(a.flags);
    },
    (r) => r.string(),
  ),
  networkGetAutostart: proc<{ net: RemoteNetwork }, boolean>('NETWORK_GET_AUTOSTART', 44, netArg, intBool),
  networkLookupByName: proc<{ name: string }, RemoteNetwork>('NETWORK_LOOKUP_BY_NAME', 46, (w, a) => w.string(a.name), readNetwork),
  networkSetAutostart: proc<{ net: RemoteNetwork; autostart: boolean }, void>(
    'NETWORK_SET_AUTOSTART',
    48,
    (w, a) => {
      writeNetwork(w, a.net);
      w.int(a.autostart ? 1 : 0);
    },
    noRet,
  ),
  networkUndefine: proc<{ net: RemoteNetwork }, void>('NETWORK_UNDEFINE', 49, netArg, noRet),
  connectGetHostname: proc<void, string>('CONNECT_GET_HOSTNAME', 59, noArgs, (r) => r.string()),
  authList: proc<void, number[]>('AUTH_LIST', 66, noArgs, (r) => r.array((x) => x.int(), 20)),
  authPolkit: proc<void, number>('AUTH_POLKIT', 70, noArgs, (r) => r.int()),
  storagePoolDefineXml: proc<{ xml: string; flags: number }, RemotePool>('STORAGE_POOL_DEFINE_XML', 77, xmlFlagsArg, readPool),
  storagePoolCreate: proc<{ pool: RemotePool; flags: number }, void>('STORAGE_POOL_CREATE', 78, poolFlagsArg, noRet),
  storagePoolBuild: proc<{ pool: RemotePool; flags: number }, void>('STORAGE_POOL_BUILD', 79, poolFlagsArg, noRet),
  storagePoolDestroy: proc<{ pool: RemotePool }, void>('STORAGE_POOL_DESTROY', 80, poolArg, noRet),
  storagePoolUndefine: proc<{ pool: RemotePool }, void>('STORAGE_POOL_UNDEFINE', 82, poolArg, noRet),
  storagePoolRefresh: proc<{ pool: RemotePool; flags: number }, void>('STORAGE_POOL_REFRESH', 83, poolFlagsArg, noRet),
  storagePoolLookupByName: proc<{ name: string }, RemotePool>('STORAGE_POOL_LOOKUP_BY_NAME', 84, (w, a) => w.string(a.name), readPool),
  storagePoolGetInfo: proc<{ pool: RemotePool }, PoolInfoRet>('STORAGE_POOL_GET_INFO', 87, poolArg, (r) => ({
    state: r.uint(),
    capacity: r.uhyperNumber(),
    allocation: r.uhyperNumber(),
    available: r.uhyperNumber(),
  })),
  storagePoolGetXmlDesc: proc<{ pool: RemotePool; flags: number }, string>('STORAGE_POOL_GET_XML_DESC', 88, poolFlagsArg, (r) => r.string()),
  storagePoolGetAutostart: proc<{ pool: RemotePool }, boolean>('STORAGE_POOL_GET_AUTOSTART', 89, poolArg, (r) => r.int() !== 0),
  storagePoolSetAutostart: proc<{ pool: RemotePool; autostart: boolean }, void>(
    'STORAGE_POOL_SET_AUTOSTART',
    90,
    (w, a) => {
      writePool(w, a.pool);
      w.int(a.autostart ? 1 : 0);
    },
    noRet,
  ),
  storagePoolNumOfVolumes: proc<{ pool: RemotePool }, number>('STORAGE_POOL_NUM_OF_VOLUMES', 91, poolArg, (r) => r.int()),
  storageVolCreateXml: proc<{ pool: RemotePool; xml: string; flags: number }, RemoteVol>(
    'STORAGE_VOL_CREATE_XML',
    93,
    (w, a) => {
      writePool(w, a.pool);
      w.string(a.xml).uint(a.flags);
    },
    readVol,
  ),
  storageVolCreateXmlFrom: proc<{ pool: RemotePool; xml: string; clone: RemoteVol; flags: number }, RemoteVol>(
    'STORAGE_VOL_CREATE_XML_FROM',
    125,
    (w, a) => {
      writePool(w, a.pool);
      w.string(a.xml);
      writeVol(w, a.clone);
      w.uint(a.flags);
    },
    readVol,
  ),
  storageVolDelete: proc<{ vol: RemoteVol; flags: number }, void>(
    'STORAGE_VOL_DELETE',
    94,
    (w, a) => {
      writeVol(w, a.vol);
      w.uint(a.flags);
    },
    noRet,
  ),
  storageVolLookupByName: proc<{ pool: RemotePool; name: string }, RemoteVol>(
    'STORAGE_VOL_LOOKUP_BY_NAME',
    95,
    (w, a) => {
      writePool(w, a.pool);
      w.string(a.name);
    },
    readVol,
  ),
  storageVolLookupByPath: proc<{ path: string }, RemoteVol>('STORAGE_VOL_LOOKUP_BY_PATH', 97, (w, a) => w.string(a.path), readVol),
  storageVolGetInfo: proc<{ vol: RemoteVol }, VolInfoRet>(
    'STORAGE_VOL_GET_INFO',
    98,
    (w, a) => writeVol(w, a.vol),
    (r) => ({
      type: r.int(),
      capacity: r.uhyperNumber(),
      allocation: r.uhyperNumber(),
    }),
  ),
  storageVolGetPath: proc<{ vol: RemoteVol }, string>(
    'STORAGE_VOL_GET_PATH',
    100,
    (w, a) => writeVol(w, a.vol),
    (r) => r.string(),
  ),
  // One domain's lock only; CONNECT_LIST_ALL_DOMAINS waits for every domain's (one whose QEMU just died is held while libvirtd cleans up).
  domainIsPersistent: proc<{ dom: RemoteDomain }, boolean>('DOMAIN_IS_PERSISTENT', 151, domArg, intBool),
  networkIsActive: proc<{ net: RemoteNetwork }, boolean>('NETWORK_IS_ACTIVE', 152, netArg, intBool),
  networkIsPersistent: proc<{ net: RemoteNetwork }, boolean>('NETWORK_IS_PERSISTENT', 153, netArg, intBool),
  storagePoolIsActive: proc<{ pool: RemotePool }, boolean>('STORAGE_POOL_IS_ACTIVE', 154, poolArg, (r) => r.int() !== 0),
  connectGetLibVersion: proc<void, number>('CONNECT_GET_LIB_VERSION', 157, noArgs, (r) => r.uhyperNumber()),
  /**
   * Opens a stream to a domain's character device (dev_name null: the first console). The reply
   * is empty; the bytes then flow as Stream messages with this call's serial (RpcClient.openStream).
   */
  domainOpenConsole: proc<{ dom: RemoteDomain; devName: string | null; flags: number }, void>(
    'DOMAIN_OPEN_CONSOLE',
    201,
    (w, a) => {
      writeDomain(w, a.dom);
      w.optional(a.devName, (x, s) => x.string(s));
      w.uint(a.flags);
    },
    noRet,
  ),
  domainCreateWithFlags: proc<{ dom: RemoteDomain; flags: number }, RemoteDomain>('DOMAIN_CREATE_WITH_FLAGS', 196, domFlagsArg, readDomain),
  domainGetState: proc<{ dom: RemoteDomain; flags: number }, { state: number; reason: number }>('DOMAIN_GET_STATE', 212, domFlagsArg, (r) => ({
    state: r.int(),
    reason: r.int(),
  })),
  domainUndefineFlags: proc<{ dom: RemoteDomain; flags: number }, void>('DOMAIN_UNDEFINE_FLAGS', 231, domFlagsArg, noRet),
  domainShutdownFlags: proc<{ dom: RemoteDomain; flags: number }, void>('DOMAIN_SHUTDOWN_FLAGS', 258, domFlagsArg, noRet),
  domainGetMetadata: proc<{ dom: RemoteDomain; type: number; uri: string | null; flags: number }, string>(
    'DOMAIN_GET_METADATA',
    265,
    (w, a) => {
      writeDomain(w, a.dom);
      w.int(a.type);
      w.optional(a.uri, (x, s) => x.string(s));
      w.uint(a.flags);
    },
    (r) => r.string(),
  ),
  connectListAllDomains: proc<{ flags: number }, RemoteDomain[]>(
    'CONNECT_LIST_ALL_DOMAINS',
    273,
    (w, a) => {
      w.int(1).uint(a.flags);
    },
    (r) => {
      const doms = r.array(readDomain);
      r.uint();
      return doms;
    },
  ),
  connectListAllStoragePools: proc<{ flags: number }, RemotePool[]>(
    'CONNECT_LIST_ALL_STORAGE_POOLS',
    281,
    (w, a) => {
      w.int(1).uint(a.flags);
    },
    (r) => {
      const pools = r.array(readPool);
      r.uint();
      return pools;
    },
  ),
  connectListAllNetworks: proc<{ flags: number }, RemoteNetwork[]>(
    'CONNECT_LIST_ALL_NETWORKS',
    283,
    (w, a) => {
      w.int(1).uint(a.flags);
    },
    (r) => {
      const nets = r.array(readNetwork);
      r.uint();
      return nets;
    },
  ),
  storagePoolListAllVolumes: proc<{ pool: RemotePool; flags: number }, RemoteVol[]>(
    'STORAGE_POOL_LIST_ALL_VOLUMES',
    282,
    (w, a) => {
      writePool(w, a.pool);
      w.int(1).uint(a.flags);
    },
    (r) => {
      const vols = r.array(readVol);
      r.uint();
      return vols;
    },
  ),
  connectDomainEventCallbackRegisterAny: proc<{ eventID: number; dom: RemoteDomain | null }, number>(
    'CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY',
    316,
    (w, a) => {
      w.int(a.eventID);
      w.optional(a.dom, writeDomain);
    },
    (r) => r.int(),
  ),
  connectDomainEventCallbackDeregisterAny: proc<{ callbackID: number }, void>(
    'CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY',
    317,
    (w, a) => w.int(a.callbackID),
    noRet,
  ),
  domainDefineXmlFlags: proc<{ xml: string; flags: number }, RemoteDomain>('DOMAIN_DEFINE_XML_FLAGS', 350, xmlFlagsArg, readDomain),
  connectStoragePoolEventRegisterAny: proc<{ eventID: number; pool: RemotePool | null }, number>(
    'CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY',
    368,
    (w, a) => {
      w.int(a.eventID);
      w.optional(a.pool, writePool);
    },
    (r) => r.int(),
  ),
  /** virDomainFSFreeze: freeze the guest file systems through the guest agent (all of them: no mountpoints). Answers how many. */
  domainFsFreeze: proc<{ dom: RemoteDomain; mountpoints: string[]; flags: number }, number>(
    'DOMAIN_FSFREEZE',
    335,
    (w, a) => {
      writeDomain(w, a.dom);
      w.uint(a.mountpoints.length);
      for (const m of a.mountpoints) w.string(m);
      w.uint(a.flags);
    },
    (r) => r.int(),
  ),
  /** virDomainFSThaw: the reverse; answers how many file systems were thawed. */
  domainFsThaw: proc<{ dom: RemoteDomain; mountpoints: string[]; flags: number }, number>(
    'DOMAIN_FSTHAW',
    336,
    (w, a) => {
      writeDomain(w, a.dom);
      w.uint(a.mountpoints.length);
      for (const m of a.mountpoints) w.string(m);
      w.uint(a.flags);
    },
    (r) => r.int(),
  ),
  /**
   * virConnectGetAllDomainStats (no domains named) / virDomainListGetStats: one record of typed
   * parameters (`cpu.time`, `balloon.rss`, `block.0.rd.bytes`, …) per domain.
   */
  connectGetAllDomainStats: proc<{ doms: RemoteDomain[]; stats: number; flags: number }, DomainStatsRecord[]>(
    'CONNECT_GET_ALL_DOMAIN_STATS',
    344,
    (w, a) => {
      w.uint(a.doms.length);
      for (const d of a.doms) writeDomain(w, d);
      w.uint(a.stats).uint(a.flags);
    },
    (r) => r.array((x) => ({ dom: readDomain(x), params: x.array(readTypedParam, CONNECT_GET_ALL_DOMAIN_STATS_MAX) }), DOMAIN_LIST_MAX),
  ),
  domainGetGuestInfo: proc<{ dom: RemoteDomain; types: number; flags: number }, TypedParam[]>(
    'DOMAIN_GET_GUEST_INFO',
    418,
    (w, a) => {
      writeDomain(w, a.dom);
      w.uint(a.types).uint(a.flags);
    },
    (r) => r.array(readTypedParam, DOMAIN_GUEST_INFO_PARAMS_MAX),
  ),
} as const;

// ---- asynchronous messages (events) ------------------------------------------------------

export const PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE = 318;
export const PROC_STORAGE_POOL_EVENT_LIFECYCLE = 370;

export interface DomainLifecycleMsg {
  callbackID: number;
  dom: RemoteDomain;
  event: number;
  detail: number;
}

export function decodeDomainLifecycleMsg(r: XdrReader): DomainLifecycleMsg {
  const callbackID = r.int();
  const dom = readDomain(r);
  return { callbackID, dom, event: r.int(), detail: r.int() };
}

export function encodeDomainLifecycleMsg(w: XdrWriter, m: DomainLifecycleMsg): void {
  w.int(m.callbackID);
  writeDomain(w, m.dom);
  w.int(m.event).int(m.detail);
}

export interface PoolLifecycleMsg {
  callbackID: number;
  pool: RemotePool;
  event: number;
  detail: number;
}

export function decodePoolLifecycleMsg(r: XdrReader): PoolLifecycleMsg {
  const callbackID = r.int();
  const pool = readPool(r);
  return { callbackID, pool, event: r.int(), detail: r.int() };
}

// ---- libvirt enums used by the driver ------------------------------------------------------

/** virDomainEventID */
export const VIR_DOMAIN_EVENT_ID_LIFECYCLE = 0;
/** virStoragePoolEventID */
export const VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE = 0;

/** virConnectListAllDomainsFlags */
export const VIR_CONNECT_LIST_DOMAINS_PERSISTENT = 4;
export const VIR_CONNECT_LIST_DOMAINS_TRANSIENT = 8;

/** virDomainDefineFlags */
export const VIR_DOMAIN_DEFINE_VALIDATE = 1;

/** virDomainUndefineFlagsValues */
export const VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1;
export const VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 2;
export const VIR_DOMAIN_UNDEFINE_NVRAM = 4;
export const VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA = 16;

/** virDomainShutdownFlagValues */
export const VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN = 1;
export const VIR_DOMAIN_SHUTDOWN_GUEST_AGENT = 2;

/** virDomainConsoleFlags: take the console over from another session; fail (instead of dropping it) when the device cannot be locked. */
export const VIR_DOMAIN_CONSOLE_FORCE = 1;
export const VIR_DOMAIN_CONSOLE_SAFE = 2;

/** virNetworkXMLFlags: the persistent definition rather than the live one. */
export const VIR_NETWORK_XML_INACTIVE = 1;

/** virDomainGuestInfoTypes */
export const VIR_DOMAIN_GUEST_INFO_OS = 2;
export const VIR_DOMAIN_GUEST_INFO_TIMEZONE = 4;
export const VIR_DOMAIN_GUEST_INFO_HOSTNAME = 8;
export const VIR_DOMAIN_GUEST_INFO_INTERFACES = 64;

/** virDomainMetadataType */
export const VIR_DOMAIN_METADATA_ELEMENT = 2;

/** virDomainState */
export const DomainStateNames = ['NoState', 'Running', 'Blocked', 'Paused', 'ShuttingDown', 'Shutoff', 'Crashed', 'PMSuspended'] as const;

/** Reason enums per virDomainState, lower-case like `virsh domstate --reason`. */
export const DomainStateReasons: Record<number, readonly string[]> = {
  0: ['unknown'],
  1: [
    'unknown',
    'booted',
    'migrated',
    'restored',
    'from snapshot',
    'unpaused',
    'migration canceled',
    'save canceled',
    'event wakeup',
    'crashed',
    'post-copy',
    'post-copy failed',
  ],
  2: ['unknown'],
  3: [
    'unknown',
    'user',
    'migrating',
    'saving',
    'dumping',
    'I/O error',
    'watchdog',
    'from snapshot',
    'shutting down',
    'creating snapshot',
    'crashed',
    'starting up',
    'post-copy',
    'post-copy failed',
    'api error',
  ],
  4: ['unknown', 'user'],
  5: ['unknown', 'shutdown', 'destroyed', 'crashed', 'migrated', 'saved', 'failed', 'from snapshot', 'daemon'],
  6: ['unknown', 'panicked'],
  7: ['unknown'],
};

/** virDomainEventType */
export const DomainEventNames = ['Defined', 'Undefined', 'Started', 'Suspended', 'Resumed', 'Stopped', 'Shutdown', 'PMSuspended', 'Crashed'] as const;

/** Detail enums per virDomainEventType. */
export const DomainEventDetails: Record<number, readonly string[]> = {
  0: ['added', 'updated', 'renamed', 'from snapshot'],
  1: ['removed', 'renamed'],
  2: ['booted', 'migrated', 'restored', 'from snapshot', 'wakeup'],
  3: ['paused', 'migrated', 'I/O error', 'watchdog', 'restored', 'from snapshot', 'api error', 'post-copy', 'post-copy failed'],
  4: ['unpaused', 'migrated', 'from snapshot', 'post-copy', 'post-copy failed'],
  5: ['shutdown', 'destroyed', 'crashed', 'migrated', 'saved', 'failed', 'from snapshot'],
  6: ['finished', 'guest', 'host'],
  7: ['memory', 'disk'],
  8: ['panicked', 'crashloaded'],
};

/** virStoragePoolState */
export const PoolStateNames = ['Inactive', 'Building', 'Running', 'Degraded', 'Inaccessible'] as const;

/** virStoragePoolEventLifecycleType */
export const PoolEventNames = ['Defined', 'Undefined', 'Started', 'Stopped', 'Created', 'Deleted'] as const;

/** virStorageVolType */
export const VolTypeNames = ['file', 'block', 'dir', 'network', 'netdir', 'ploop'] as const;

/** virErrorNumber values the driver maps to Quantix reasons. */
export const VirErr = {
  INTERNAL_ERROR: 1,
  NO_SUPPORT: 3,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  NETWORK_EXIST: 37,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  NO_NETWORK: 43,
  NO_STORAGE_POOL: 49,
  NO_STORAGE_VOL: 50,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  NO_DOMAIN_METADATA: 80,
  ARGUMENT_UNSUPPORTED: 74,
  OPERATION_UNSUPPORTED: 84,
  AGENT_UNRESPONSIVE: 86,
  STORAGE_VOL_EXIST: 90,
  AGENT_UNSYNCED: 97,
  /** Newer libvirt only; 9.0 reports an agent timeout as AGENT_UNRESPONSIVE ("Guest agent not available for now"). */
  AGENT_COMMAND_TIMEOUT: 112,
  /** Newer libvirt only; 9.0 reports an agent's error answer as INTERNAL_ERROR ("unable to execute QEMU agent command ..."). */
  AGENT_COMMAND_FAILED: 113,
} as const;
