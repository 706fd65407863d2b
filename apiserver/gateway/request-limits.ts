/**
 * Per-RPC request limits of the node gateway, checked on a message's bytes before they are
 * decoded: each RPC has its own largest request (a heartbeat is small, a full sync may be
 * large), and caps on its top-level repeated fields (VMs in one full sync, pools in one
 * heartbeat, …), counted on the wire.
 *
 * Why before decoding: a decoded message of many small entries takes about 78 times its size
 * in heap (authenticate-first.ts), so a limit checked on the decoded request would come after
 * the cost. grpc-js decodes with the service definition's `requestDeserialize` before any
 * interceptor sees the message, so `limitedService` wraps it: a request past a limit is not
 * decoded but turned into a RefusedRequest, and the `refuseOverLimit` interceptor ends the
 * call with its status before the handler sees it. (A deserializer that threw would end the
 * call as INTERNAL "Error deserializing request", which says nothing.)
 *
 * The bytes themselves are buffered up to `grpc.max_receive_message_length`, which the
 * gateway sets to the largest of these limits; only authenticated callers get that far.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcErrorFromStatus } from '../../api-types/proto/errors.js';
import { ApiError } from '../../lib/apimachinery/status-error.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface RpcLimit {
  /** The largest request message, in bytes (uncompressed). */
  maxBytes: number;
  /** Top-level repeated (or map) fields, by their name in the generated types → the most entries one request may carry. */
  repeated?: Record<string, number>;
}

/**
 * The gateway's defaults. A host runs hundreds of domains at most (a node may have 1,000
 * host-discovered VMs recorded, service.ts), so a request past these comes from a broken or
 * hostile agent. Sizes are generous for the caps: a VM report with its status is about
 * 1-2 KiB, a pool report a few hundred bytes. WatchDesiredState carries the agent's known
 * Images, which are cluster-wide.
 */
export const DEFAULT_RPC_LIMITS: Readonly<Record<string, RpcLimit>> = {
  RegisterNode: { maxBytes: 64 * KiB, repeated: { addresses: 64 } },
  Heartbeat: { maxBytes: 256 * KiB, repeated: { pools: 256, networks: 256, addresses: 64, bridges: 1024 } },
  SyncFullState: { maxBytes: 16 * MiB, repeated: { vms: 5_000, pools: 256 } },
  NotifyVMChange: { maxBytes: 64 * KiB },
  NotifyStorageChange: { maxBytes: 16 * KiB },
  ReportImages: { maxBytes: 2 * MiB, repeated: { images: 4_096 } },
  WatchDesiredState: { maxBytes: 8 * MiB, repeated: { knownPools: 4_096, knownImages: 50_000, knownNetworks: 4_096 } },
  // One message per answer; a file listing holds at most 10,000 entries (files-route.ts).
  Tunnel: { maxBytes: 4 * MiB },
  // Console bytes: the agent sends at most 64 KiB per frame (agent/console-sessions.ts).
  ConsoleSession: { maxBytes: 128 * KiB },
};

/** The largest request any RPC accepts: the gateway's `grpc.max_receive_message_length`. */
export function largestRequest(limits: Readonly<Record<string, RpcLimit>>): number {
  return Math.max(...Object.values(limits).map((l) => l.maxBytes));
}

/**
 * How often each of `fields` occurs at the top level of a protobuf message, from its wire
 * bytes, without decoding anything. A repeated message, string or map field occurs once per
 * entry. Undefined when the bytes are not a well-formed message (the decoder then says why).
 */
export function countTopLevelFields(bytes: Uint8Array, fields: ReadonlySet<number>): Map<number, number> | undefined {
  const counts = new Map<number, number>();
  let pos = 0;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 1, i = 0; i < 10; i++, shift *= 128) {
      if (pos >= bytes.length) return undefined;
      const byte = bytes[pos++]!;
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
    return undefined;
  };
  while (pos < bytes.length) {
    const tag = varint();
    if (tag === undefined) return undefined;
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case 0:
        if (varint() === undefined) return undefined;
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const length = varint();
        if (length === undefined) return undefined;
        pos += length;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        return undefined; // groups (proto2 only) or no wire type at all
    }
    if (pos > bytes.length || field === 0) return undefined;
    if (fields.has(field)) counts.set(field, (counts.get(field) ?? 0) + 1);
  }
  return counts;
}

/** The refusal of a request past its limit: the bytes exceed the RPC's size (413), or a field has too many entries (422). */
export function requestRefusal(rpc: string, limit: RpcLimit, bytes: Uint8Array, fieldNumbers: ReadonlyMap<string, number>): ApiError | undefined {
  if (bytes.length > limit.maxBytes) {
    return new ApiError(413, 'RequestEntityTooLarge', `${rpc}: the request is ${bytes.length} bytes, the limit for ${rpc} is ${limit.maxBytes} bytes`);
  }
  const caps = Object.entries(limit.repeated ?? {});
  if (caps.length === 0) return undefined;
  const counts = countTopLevelFields(bytes, new Set(fieldNumbers.values()));
  if (!counts) return undefined;
  for (const [name, max] of caps) {
    const count = counts.get(fieldNumbers.get(name)!) ?? 0;
    if (count <= max) continue;
    const message = `Too many: ${count}: must have at most ${max} items`;
    return new ApiError(422, 'Invalid', `${rpc}: ${name}: ${message}`, { causes: [{ reason: 'FieldValueTooMany', field: name, message }] });
  }
  return undefined;
}

/** What the deserializer hands on for a request past its limit, in place of the decoded message. */
export class RefusedRequest {
  constructor(readonly error: ApiError) {}
}

interface DescribedMethod extends grpc.MethodDefinition<unknown, unknown> {
  requestType?: { type?: { field?: { name: string; number: number; label: string }[] } };
}

/** Field name → number of the repeated fields of a method's request (from the loaded proto). */
export function repeatedFieldNumbers(method: grpc.MethodDefinition<unknown, unknown>): Map<string, number> {
  const fields = (method as DescribedMethod).requestType?.type?.field ?? [];
  return new Map(fields.filter((f) => f.label === 'LABEL_REPEATED').map((f) => [f.name, f.number]));
}

/**
 * The service definition with each method's decoding guarded by its limit. Throws at start
 * for a limit on a field the request does not have as a repeated field (a typo would be no
 * limit at all).
 */
export function limitedService(service: grpc.ServiceDefinition, limits: Readonly<Record<string, RpcLimit>>): grpc.ServiceDefinition {
  const guarded: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [rpc, method] of Object.entries(service) as [string, grpc.MethodDefinition<unknown, unknown>][]) {
    const limit = limits[rpc];
    if (!limit) throw new Error(`gateway request limits: no limit for ${rpc}`);
    const fieldNumbers = repeatedFieldNumbers(method);
    for (const name of Object.keys(limit.repeated ?? {}))
      if (!fieldNumbers.has(name)) throw new Error(`gateway request limits: ${rpc} has no repeated field "${name}"`);
    const decode = method.requestDeserialize;
    guarded[rpc] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        const refusal = requestRefusal(rpc, limit, bytes, fieldNumbers);
        return refusal ? new RefusedRequest(refusal) : decode(bytes);
      },
    };
  }
  return guarded as grpc.ServiceDefinition;
}

/** Ends a call whose request was refused by `limitedService` with that refusal's status; the handler never sees it. */
export function refuseOverLimit(): grpc.ServerInterceptor {
  return (_method, call) => {
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMessage(message, pass) {
            if (!(message instanceof RefusedRequest)) return pass(message);
            const status = grpcErrorFromStatus(message.error.toStatus());
            intercepting.sendStatus({
              code: status.code ?? grpc.status.RESOURCE_EXHAUSTED,
              details: status.details ?? message.error.message,
              metadata: status.metadata,
            });
          },
        });
      },
    });
    return intercepting;
  };
}
