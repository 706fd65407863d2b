/**
 * The gateway's limits before decoding, on the real gateway and apiserver on real etcd
 * (hack/testenv), with real node credentials: each RPC's request size and repeated-field
 * caps (the defaults), per-node rates of heartbeats and notifications (set low here), and
 * the concurrent streams of one connection (set to 3 here).
 */
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { GatewayClient } from '../../agent/gateway-client.js';
import { SimDriver } from '../../agent/hypervisor/sim/driver.js';
import { GatewayError } from '../../api-types/proto/errors.js';
import { loadGateway } from '../../api-types/proto/load.js';
import type { HeartbeatRequest, Init, VMReport } from '../../api-types/proto/types.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { startAgent, startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { Logger } from '../../lib/logging/logger.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const STREAMS = 3;

let cp: TestControlPlane;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane({
    gateway: {
      maxConcurrentStreams: STREAMS,
      // Nothing refills within a test: the third heartbeat, the fourth notification is refused.
      nodeRates: { heartbeat: { burst: 2, perSecond: 0.01 }, notification: { burst: 3, perSecond: 0.01 } },
    },
  });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await cp.stop();
});

function client(token: string): GatewayClient {
  const c = new GatewayClient({ address: cp.gatewayAddress, caPem: cp.env.caCertPem, serverName: 'localhost' });
  c.setToken(token);
  cleanups.push(() => c.close());
  return c;
}

/** Registers `hostname`; returns its node credential. */
async function register(hostname: string): Promise<string> {
  const res = await client(cp.joinToken).registerNode({ hostname, machineId: `machine-${hostname}` }, cp.joinToken);
  return res.credential;
}

/** A client holding the node credential of `hostname` (registered). */
const node = async (hostname: string) => client(await register(hostname));

function refusal(promise: Promise<unknown>): Promise<GatewayError> {
  return promise.then(
    () => {
      throw new Error('the call was not refused');
    },
    (err: unknown) => {
      if (!(err instanceof GatewayError)) throw err;
      return err;
    },
  );
}

const beat = (c: GatewayClient, over: Partial<Init<HeartbeatRequest>> = {}) => c.heartbeat({ stateHash: '', hypervisorReady: true, ...over });
const report = (i: number): VMReport =>
  ({ domainUuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, domainName: `flood-${i}`, powerState: 'running' }) as VMReport;

describe('per-RPC request limits (the defaults)', () => {
  it('refuses a heartbeat past 256 KiB as RESOURCE_EXHAUSTED RequestEntityTooLarge, naming the RPC and the limit; the node goes on', async () => {
    const c = await node('limits-size');
    const err = await refusal(beat(c, { hypervisorMessage: 'x'.repeat(300 * 1024) }));
    expect(err.grpcCode).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.reason).toBe('RequestEntityTooLarge');
    expect(err.message).toMatch(/^Heartbeat: the request is \d+ bytes, the limit for Heartbeat is 262144 bytes$/);
    expect(err.retryable).toBe(false);
    await expect(beat(c)).resolves.toMatchObject({ requestFullSync: true });
  });

  it('refuses a full sync of 5,001 domains as INVALID_ARGUMENT Invalid naming vms and the cap, and records none of them', async () => {
    const c = await node('limits-vms');
    const err = await refusal(c.syncFullState({ vms: Array.from({ length: 5_001 }, (_, i) => report(i)), pools: [], stateHash: 'h' }));
    expect(err.grpcCode).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.reason).toBe('Invalid');
    expect(err.message).toBe('SyncFullState: vms: Too many: 5001: must have at most 5000 items');
    expect(err.status?.details?.causes).toEqual([{ reason: 'FieldValueTooMany', field: 'vms', message: 'Too many: 5001: must have at most 5000 items' }]);
    const recorded = await cp.env.apiserver.context.stores.get(VM).list({ labelSelector: 'quantix.io/discovered-on=limits-vms' });
    expect(recorded.items).toHaveLength(0);
    // Within the cap, the same call is served.
    await expect(c.syncFullState({ vms: [report(1)], pools: [], stateHash: 'h' })).resolves.toMatchObject({ discovered: 1 });
  });

  it('caps the pools of one heartbeat', async () => {
    const c = await node('limits-pools');
    const pools = Array.from({ length: 257 }, (_, i) => ({ name: `p${i}`, health: 'HEALTHY' }) as HeartbeatRequest['pools'][number]);
    const err = await refusal(beat(c, { pools }));
    expect(err.message).toBe('Heartbeat: pools: Too many: 257: must have at most 256 items');
  });
});

describe('per-node rates', () => {
  it('answers a node past its heartbeat rate RESOURCE_EXHAUSTED TooManyRequests with a retry hint; other nodes and other calls go on', async () => {
    const a = await node('rate-a');
    await beat(a);
    await beat(a);
    const err = await refusal(beat(a));
    expect(err.grpcCode).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.reason).toBe('TooManyRequests');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('Heartbeat: node "rate-a" is past its heartbeat rate (0.01/s, burst 2); retry in 100 s');
    expect(err.status?.details?.retryAfterSeconds).toBe(100);
    expect(err.retryAfterMs).toBe(100_000);

    const b = await node('rate-b');
    await expect(beat(b)).resolves.toBeDefined();
    // Notifications have their own bucket: three pass, the fourth is refused.
    const notify = () => a.notifyVmChange({ change: 'UPDATED', vm: report(7), stateHash: '' });
    for (let i = 0; i < 3; i++) await notify();
    await expect(refusal(notify())).resolves.toMatchObject({ reason: 'TooManyRequests' });
  });
});

describe('a real agent past its heartbeat rate', () => {
  it('waits as the gateway asks: the control plane stays reachable, nothing registers again', async () => {
    const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
    const recording = (): Logger => {
      const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
      return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => recording(), isDebugEnabled: () => false };
    };
    const driver = new SimDriver({ hostname: 'throttled' });
    await driver.connect();
    // Heartbeats every 50 ms against a burst of 2 that does not refill within the test.
    const a = await startAgent(cp, { driver, hostname: 'throttled', heartbeatIntervalMs: 50, log: recording() });
    cleanups.push(() => a.stop());
    const refused = await eventually(() => lines.find((l) => l.message === 'heartbeat refused as too many: the next one waits') ?? false, {
      message: 'a heartbeat refused as too many',
    });
    expect(refused.fields?.inMs).toBe(100_000);
    expect(a.agent.session.controlPlaneReachable).toBe(true);
    expect(lines.filter((l) => /registering again|re-registered|control plane unreachable/.test(l.message))).toEqual([]);
  });
});

describe('concurrent streams per connection', () => {
  it('announces the limit in its HTTP/2 settings', async () => {
    const session = connect(`https://${cp.gatewayAddress}`, { ca: cp.env.caCertPem, servername: 'localhost' });
    cleanups.push(() => session.close());
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    expect(settings.maxConcurrentStreams).toBe(STREAMS);
  });

  it('holds a call past the limit until one of the connection’s streams ends', async () => {
    const credential = await register('streams');
    const { client: Ctor } = loadGateway();
    // A connection of its own (not the shared subchannel the other clients use).
    const raw = new Ctor(cp.gatewayAddress, grpc.credentials.createSsl(Buffer.from(cp.env.caCertPem)), {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.use_local_subchannel_pool': 1,
    }) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
    cleanups.push(() => raw.close());
    const metadata = () => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${credential}`);
      return md;
    };
    const streams = Array.from({ length: STREAMS }, () => {
      const stream = raw.WatchDesiredState({}, metadata()) as grpc.ClientReadableStream<unknown>;
      stream.on('error', () => undefined); // cancelled below
      return { stream, open: new Promise((resolve) => stream.once('data', resolve)) };
    });
    await Promise.all(streams.map((s) => s.open));
    const heartbeat = (deadlineMs: number) =>
      new Promise<grpc.ServiceError | null>((resolve) => {
        raw.Heartbeat({ hypervisorReady: true }, metadata(), { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null) => resolve(err));
      });
    // Every stream of the connection is taken: the call is never sent, so it runs out of time.
    expect((await heartbeat(300))?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    streams[0]!.stream.cancel();
    await eventually(async () => (await heartbeat(1_000)) === null, { message: 'a call goes through once a stream has ended' });
    for (const s of streams) s.stream.cancel();
  });
});
