/**
 * Per-node rate limits on the gateway's status calls: a token bucket per node and per class
 * (heartbeats; notifications), taken before the message is read. Past it the call ends
 * RESOURCE_EXHAUSTED with reason TooManyRequests, `retryAfterSeconds` in the Status trailer
 * and `grpc-retry-pushback-ms`; the agent waits that long and sends again.
 *
 * Heartbeats are refused, not queued or merged: each heartbeat is a snapshot of the node's
 * state (not a change), so the next one the agent sends carries everything a refused one
 * did, and the stored status stays true. The rates sit far above what an agent sends (a
 * heartbeat every 10 s, a burst of VM changes when many VMs start at once), so only a
 * broken or hostile node reaches them; they bound how many etcd writes one node can cause.
 * Full syncs, registration and streams are not limited here. A ConsoleSession stream is
 * accepted only for a session the gateway itself asked that node to open (tunnel.ts), so a
 * node cannot open them at will; opening consoles is limited on the apiserver side, per user
 * and per node (console-route.ts, tunnel.ts MAX_CONSOLE_SESSIONS_PER_NODE).
 */
import * as grpc from '@grpc/grpc-js';
import { GATEWAY_SERVICE_NAME } from '../../api-types/proto/load.js';
import { grpcErrorFromStatus } from '../../api-types/proto/errors.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { realClock, type Clock } from '../../lib/clock/clock.js';
import { nodeNameOf, type Authenticator, type CertificateAuthenticator } from '../auth/identity.js';
import { identifyCall } from './authenticate-first.js';

export interface Rate {
  /** Calls a node may make at once after being quiet. */
  burst: number;
  /** Calls per second, sustained. */
  perSecond: number;
}

export type CallClass = 'heartbeat' | 'notification';

export type NodeRates = Record<CallClass, Rate>;

/**
 * The agent beats every 10 s, and shortly after a Network change (soon(), 200 ms apart at
 * most); it notifies per VM, pool or image change, from a handful of workers.
 */
export const DEFAULT_NODE_RATES: NodeRates = {
  heartbeat: { burst: 30, perSecond: 2 },
  notification: { burst: 1_000, perSecond: 100 },
};

const CLASS_OF: Record<string, CallClass> = {
  [`/${GATEWAY_SERVICE_NAME}/Heartbeat`]: 'heartbeat',
  [`/${GATEWAY_SERVICE_NAME}/NotifyVMChange`]: 'notification',
  [`/${GATEWAY_SERVICE_NAME}/NotifyStorageChange`]: 'notification',
  [`/${GATEWAY_SERVICE_NAME}/ReportImages`]: 'notification',
};

/** A token bucket: `take` succeeds when a token is there, else says how long until one is. A refusal takes nothing. */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly rate: Rate,
    readonly clock: Clock = realClock,
  ) {
    this.#tokens = rate.burst;
    this.#last = clock.now();
  }

  /** 0 when a token was taken; otherwise the milliseconds until one will be there. */
  take(): number {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.rate.perSecond) * 1000);
  }

  /** Back to its burst: nothing is remembered for it. */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.rate.burst;
  }

  #refill(): void {
    const now = this.clock.now();
    this.#tokens = Math.min(this.rate.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate.perSecond);
    this.#last = now;
  }
}

/** Buckets per node and class; full buckets are dropped now and then, so departed nodes cost nothing. */
export class NodeCallRates {
  readonly #buckets = new Map<string, TokenBucket>();
  #takesSincePrune = 0;

  constructor(
    readonly rates: NodeRates = DEFAULT_NODE_RATES,
    readonly clock: Clock = realClock,
  ) {}

  /** The class a gateway method's calls count against, if it is limited. */
  static classOf(path: string): CallClass | undefined {
    return CLASS_OF[path];
  }

  /** 0 when `node` may make the call now, else the milliseconds until it may. */
  take(node: string, cls: CallClass): number {
    if (++this.#takesSincePrune >= 10_000) this.#prune();
    const key = `${cls}\0${node}`;
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, (bucket = new TokenBucket(this.rates[cls], this.clock)));
    return bucket.take();
  }

  get size(): number {
    return this.#buckets.size;
  }

  #prune(): void {
    this.#takesSincePrune = 0;
    for (const [key, bucket] of this.#buckets) if (bucket.full) this.#buckets.delete(key);
  }
}

/** The refusal of a call past its node's rate. */
export function rateRefusal(method: string, node: string, cls: CallClass, rate: Rate, waitMs: number): grpc.StatusObject {
  const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
  const refusal = errors.tooManyRequests(
    `${method.split('/').pop()}: node "${node}" is past its ${cls} rate (${rate.perSecond}/s, burst ${rate.burst}); retry in ${retryAfterSeconds} s`,
    retryAfterSeconds,
  );
  const status = grpcErrorFromStatus(refusal.toStatus());
  const metadata = status.metadata ?? new grpc.Metadata();
  // gRPC's own retry hint (retry design A6), for clients with a retry policy.
  metadata.set('grpc-retry-pushback-ms', String(waitMs));
  return { code: status.code ?? grpc.status.RESOURCE_EXHAUSTED, details: status.details ?? refusal.message, metadata };
}

/**
 * Takes a token for each limited call of a node before its message is read. Runs after
 * authenticate-first.ts, so the token is valid; the node is the one its credential names
 * (a cached lookup). Calls of other users (none of these methods serve them) pass.
 */
export function limitNodeCallRates(authenticator: Authenticator, rates: NodeCallRates, certificates?: CertificateAuthenticator): grpc.ServerInterceptor {
  return (method, call) => {
    const cls = NodeCallRates.classOf(method.path);
    if (!cls) return new grpc.ServerInterceptingCall(call);
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const user = identifyCall(metadata, call.getAuthContext(), authenticator, certificates).catch(() => undefined);
            void user.then((identified) => {
              const node = identified && nodeNameOf(identified.user);
              const waitMs = node ? rates.take(node, cls) : 0;
              if (waitMs === 0) return pass(metadata);
              intercepting.sendStatus(rateRefusal(method.path, node!, cls, rates.rates[cls], waitMs));
            });
          },
        });
      },
    });
    return intercepting;
  };
}
