/**
 * The hostjoin controller: runs an "Add host" attempt (a HostJoin) against the host's
 * registration API, writing each phase to status as it runs (hostjoin_reconcile.ts):
 *
 *   Ping           GET /v1/ping, no token: the agent's version (version-skew policy) and the
 *                  certificate the host presents, which must be the fingerprint the admin
 *                  confirmed (without one the flow stops here, reporting the presented one)
 *   ValidateToken  GET /v1/token with the host token
 *   Discover       GET /v1/hardware
 *   Complete       POST bootstraptokens (single-use, short TTL, "Add host <url>"), then
 *                  POST /v1/join {server, bootstrapToken, caCertHash}: the host pins the CA
 *                  and registers; the answer names its Node
 *
 * The host token leaves spec when the flow ends, whichever way. Every call is logged with
 * what came back; no token is ever logged or written to status. One attempt per object: a
 * finished HostJoin is never run again (create a new one to retry).
 */
import type { HostJoin, HostJoinStatus } from '../../api-types/generated/types.js';
import type { KubeObject } from '../../api-types/meta.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import { HostJoinError, type HostJoinErrorCode } from '../../lib/host-join/codes.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { ApiClient } from '../runtime/client.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done } from '../runtime/controller.js';
import type { Recorder } from '../runtime/events.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { BootstrapTokens, HostJoins, keyOf } from '../runtime/resources.js';
import {
  bootstrapTokenRequest,
  hardwareStatus,
  hardwareSummary,
  phaseFailed,
  phasePassed,
  phaseStarted,
  planHostJoin,
  succeeded,
  unconfirmedFingerprintMessage,
  type HostJoinRunPhase,
} from './hostjoin_reconcile.js';
import { type CallRecord, RegistrationProber } from './prober.js';

export interface HostJoinControllerOptions {
  /** The apiserver URL a joining host is told to use (default: the controller-manager's kubeconfig server). */
  server?: string;
  workers?: number;
  /** Bound on each registration API call but join (default 10 s). */
  probeTimeoutMs?: number;
  /** Bound on the join call: the host pins the CA and registers (default 60 s). */
  joinTimeoutMs?: number;
  /** TTL of the bootstrap token handed to the host (default 15 min). */
  bootstrapTokenTtlSeconds?: number;
  /** The oldest agent accepted (default lib/host-join's MIN_AGENT_VERSION). */
  minAgentVersion?: string;
  resyncPeriodMs?: number;
}

export const HOSTJOIN_CONTROLLER = 'hostjoin';
export const DEFAULT_BOOTSTRAP_TOKEN_TTL_SECONDS = 15 * 60;

interface BootstrapTokenAnswer {
  metadata: { name: string };
  spec: { expiration: string };
  status: { token?: string; caCertHash?: string };
}

/** Fields of a call record worth a log line (never a token: the record holds none). */
function logged(record: CallRecord | undefined): Record<string, unknown> {
  return record ? { call: record.call, presentedFingerprint: record.presentedFingerprint, httpStatus: record.httpStatus, contentType: record.contentType } : {};
}

class PhaseFailure extends Error {
  constructor(
    readonly phase: HostJoinRunPhase,
    readonly code: HostJoinErrorCode,
    message: string,
    readonly found: Partial<HostJoinStatus> = {},
  ) {
    super(message);
  }
}

/** One run of the flow against one HostJoin. */
async function runFlow(
  hj: HostJoin,
  o: { client: ApiClient; prober: RegistrationProber; server: string; events: Recorder; log: Logger } & Required<
    Pick<HostJoinControllerOptions, 'joinTimeoutMs' | 'bootstrapTokenTtlSeconds'>
  >,
): Promise<void> {
  const { client, prober, log } = o;
  let current = hj;
  let status: HostJoinStatus = hj.status ?? {};
  const now = () => new Date().toISOString();
  const write = async (next: HostJoinStatus) => {
    const updated = await commitStatus(client, HostJoins, current, next);
    if (updated) current = updated;
    status = next;
  };
  const target = { url: hj.spec.url, fingerprint: hj.spec.fingerprint };
  const hostToken = hj.spec.hostToken;
  let phase: HostJoinRunPhase = 'Ping';
  const start = async (p: HostJoinRunPhase) => {
    phase = p;
    await write(phaseStarted(status, current, p, now()));
  };
  const failOn = (err: unknown): never => {
    if (err instanceof PhaseFailure) throw err;
    if (err instanceof HostJoinError) {
      const record = (err as { record?: CallRecord }).record;
      throw new PhaseFailure(phase, err.code, err.message, record?.presentedFingerprint ? { presentedFingerprint: record.presentedFingerprint } : {});
    }
    throw err;
  };

  try {
    // Ping
    await start('Ping');
    log.info('Ping: calling the registration API', { call: 'GET /v1/ping', fingerprintGiven: Boolean(target.fingerprint) });
    const { ping, record } = await prober.ping(target).catch(failOn);
    const found = { presentedFingerprint: record.presentedFingerprint, agentVersion: ping.agentVersion, hostname: ping.hostname };
    log.info('Ping: answered', { ...logged(record), agentVersion: ping.agentVersion, hostname: ping.hostname, apiVersion: ping.apiVersion });
    if (!target.fingerprint) throw new PhaseFailure('Ping', 'TLS_ERROR', unconfirmedFingerprintMessage(record.presentedFingerprint), found);
    await write(
      phasePassed(
        status,
        'Ping',
        `quantix-agent ${ping.agentVersion} on ${ping.hostname}; certificate ${record.presentedFingerprint} as confirmed`,
        now(),
        found,
      ),
    );

    // ValidateToken
    await start('ValidateToken');
    if (!hostToken) throw new PhaseFailure('ValidateToken', 'TOKEN_MISSING', 'no host token was given (spec.hostToken)');
    log.info('ValidateToken: calling', { call: 'GET /v1/token' });
    const { check, record: tokenRecord } = await prober.checkToken(target, hostToken).catch(failOn);
    log.info('ValidateToken: answered', { ...logged(tokenRecord), valid: check.valid, expiresAt: check.expiresAt });
    await write(phasePassed(status, 'ValidateToken', `the host accepted the token (valid until ${check.expiresAt})`, now()));

    // Discover
    await start('Discover');
    log.info('Discover: calling', { call: 'GET /v1/hardware' });
    const { hardware, record: hwRecord } = await prober.hardware(target, hostToken).catch(failOn);
    const summary = hardwareSummary(hardware);
    log.info('Discover: answered', { ...logged(hwRecord), hardware: summary });
    await write(phasePassed(status, 'Discover', summary, now(), { hardware: hardwareStatus(hardware) }));

    // Complete
    await start('Complete');
    log.info('Complete: creating a bootstrap token', { call: 'POST bootstraptokens', ttlSeconds: o.bootstrapTokenTtlSeconds, singleUse: true });
    const created = (await client.create<KubeObject>(
      BootstrapTokens,
      bootstrapTokenRequest(hj.spec.url, o.bootstrapTokenTtlSeconds),
    )) as unknown as BootstrapTokenAnswer;
    const { token: bootstrapToken, caCertHash } = created.status;
    if (!bootstrapToken || !caCertHash) throw new Error('the apiserver created a bootstrap token but answered no token or CA hash');
    log.info('Complete: bootstrap token created', { tokenId: created.metadata.name, expiration: created.spec.expiration, caCertHash });
    log.info('Complete: calling', { call: 'POST /v1/join', server: o.server, caCertHash, tokenId: created.metadata.name });
    let nodeName: string;
    try {
      const { result, record: joinRecord } = await prober.join(target, hostToken, { server: o.server, bootstrapToken, caCertHash }, o.joinTimeoutMs);
      nodeName = result.nodeName;
      log.info('Complete: answered', { ...logged(joinRecord), nodeName });
    } catch (err) {
      // The host did not join with it: nobody else may.
      await client.delete(BootstrapTokens, undefined, created.metadata.name).catch((e: unknown) => {
        log.warn('Complete: could not delete the unused bootstrap token', { tokenId: created.metadata.name, error: (e as Error).message });
      });
      return failOn(err);
    }
    await write(phasePassed(status, 'Complete', `the host joined as Node "${nodeName}"`, now()));
    await write(succeeded(status, nodeName, now()));
    log.info('host joined', { nodeName });
    o.events.record(current, { type: 'Normal', reason: 'HostJoined', message: `${hj.spec.url} joined as Node "${nodeName}"` });
  } catch (err) {
    if (!(err instanceof PhaseFailure)) throw err;
    log.warn(`${err.phase}: failed`, { code: err.code, error: err.message });
    await write(phaseFailed(status, err.phase, err.code, err.message, now(), err.found));
    o.events.record(current, { type: 'Warning', reason: 'HostJoinFailed', message: `${err.phase}: ${err.code}: ${err.message}` });
  }
}

export function hostJoinController(options: HostJoinControllerOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(HOSTJOIN_CONTROLLER);
    const hostJoins = ctx.informers.informerFor<HostJoin>(HostJoins);
    const events = ctx.events.forComponent('quantix-hostjoin-controller');
    const prober = new RegistrationProber({ timeoutMs: options.probeTimeoutMs, minAgentVersion: options.minAgentVersion });
    const controller = new Controller({
      name: HOSTJOIN_CONTROLLER,
      workers: options.workers ?? 4,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 10 * 60_000,
      listKeys: () => hostJoins.store.keys(),
      correlationIdOf: correlationIdFromStore(hostJoins.store),
      reconcile: async ({ key, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        if (!hostJoins.store.get(key)) return done();
        // Read it live: the cache may not show yet how a run of ours just ended, and a
        // finished HostJoin must never run again.
        let hj: HostJoin;
        try {
          hj = await client.get<HostJoin>(HostJoins, undefined, key);
        } catch (err) {
          if (isNotFound(err)) return done();
          throw err;
        }
        const log = ctx.logger.child({ controller: HOSTJOIN_CONTROLLER, hostjoin: key, url: hj.spec?.url });
        let action = planHostJoin(hj);
        if (action.kind === 'run') {
          if (!options.server) throw new Error('hostjoin: no apiserver URL to hand to joining hosts (set --host-join-server)');
          await runFlow(hj, {
            client,
            prober,
            server: options.server,
            events,
            log,
            joinTimeoutMs: options.joinTimeoutMs ?? 60_000,
            bootstrapTokenTtlSeconds: options.bootstrapTokenTtlSeconds ?? DEFAULT_BOOTSTRAP_TOKEN_TTL_SECONDS,
          });
          action = { kind: 'removeHostToken' };
        }
        if (action.kind === 'removeHostToken') {
          try {
            await client.patch<HostJoin>(HostJoins, undefined, key, { spec: { hostToken: null } });
            log.info('host token removed from spec');
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        return done();
      },
    });
    hostJoins.on({
      add: (hj) => controller.enqueue(keyOf(hj)),
      update: (_old, hj) => controller.enqueue(keyOf(hj)),
    });
    return controller;
  };
}
