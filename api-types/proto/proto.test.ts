/** The gateway proto: generated types in step with the .proto, loadable, error mapping round trip. */
import { readFileSync } from 'node:fs';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { AGENT_STATUS_WIRE_FIELDS, agentStatusFromWire, agentStatusToWire } from './agent-status.js';
import { AGENT_STATUS_FIELDS, apiPowerState, phaseForPowerState, stripPort, type AgentStatus } from './contract.js';
import { gatewayErrorFrom, grpcErrorFromStatus, REASON_CODES } from './errors.js';
import { generateTypes, TYPES_PATH } from './generate.js';
import { GATEWAY_PROTO_PATH, loadGateway, PROTO_LOADER_OPTIONS } from './load.js';
import type { VMReport } from './types.js';

describe('gateway proto', () => {
  it('types.ts is generated from the current gateway.proto (run: tsx api-types/proto/generate.ts)', () => {
    expect(readFileSync(TYPES_PATH, 'utf8')).toBe(generateTypes());
  });

  it('loads with @grpc/proto-loader and has every method', () => {
    const { service } = loadGateway();
    expect(Object.keys(service).sort()).toEqual([
      'ConsoleSession',
      'Heartbeat',
      'NotifyStorageChange',
      'NotifyVMChange',
      'RegisterNode',
      'ReportImages',
      'SyncFullState',
      'Tunnel',
      'WatchDesiredState',
    ]);
    expect(service.WatchDesiredState!.responseStream).toBe(true);
    expect(service.Tunnel!.requestStream && service.Tunnel!.responseStream).toBe(true);
    expect(service.ConsoleSession!.requestStream && service.ConsoleSession!.responseStream).toBe(true);
  });
});

describe('agent status on the wire', () => {
  const vmReport = protoLoader.loadSync(GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS)['quantix.gateway.v1.VMReport'] as protoLoader.MessageTypeDefinition<
    object,
    VMReport
  >;
  const trip = (status: AgentStatus | undefined): AgentStatus => {
    const decoded = vmReport.deserialize(vmReport.serialize({ domainUuid: 'u', status: status ? agentStatusToWire(status) : null })) as VMReport;
    return agentStatusFromWire(decoded.status);
  };

  it('AgentVMStatus carries exactly the agent-owned fields of contract.ts (and Synced)', () => {
    const root = new protobuf.Root();
    root.loadSync(GATEWAY_PROTO_PATH, { keepCase: false });
    const wireFields = root
      .lookupType('quantix.gateway.v1.AgentVMStatus')
      .fieldsArray.map((f) => f.name)
      .sort();
    expect(Object.values(AGENT_STATUS_WIRE_FIELDS).sort()).toEqual(wireFields);
    expect(Object.keys(AGENT_STATUS_WIRE_FIELDS).sort()).toEqual([...AGENT_STATUS_FIELDS, 'synced', 'agentConnected', 'restartRequired'].sort());
  });

  it.each<[string, AgentStatus | undefined]>([
    [
      'everything',
      {
        phase: 'Running',
        powerState: 'running',
        domainUUID: 'd',
        domainName: 'ns_vm',
        restartCount: 2,
        volumes: [
          { name: 'root', pool: 'p', path: '/p/root.qcow2', capacityBytes: 16 << 20 },
          { name: 'data', pool: 'p', capacityBytes: 1 },
        ],
        interfaces: [{ name: 'eth0', macAddress: '52:54:00:00:00:01' }],
        synced: { type: 'Synced', status: 'False', reason: 'PoolNotReady', message: 'm' },
        restartRequired: { type: 'RestartRequired', status: 'True', reason: 'SpecChanged', message: 'spec.cpu changed' },
      },
    ],
    ['nothing', {}],
    ['no status at all (a host-discovered domain)', undefined],
    ['only Synced (cleanup done: the domain fields are to be removed)', { synced: { type: 'Synced', status: 'True', reason: 'Deleted', message: '' } }],
    ['empty strings stay distinct from absent', { powerState: '' as AgentStatus['powerState'], domainName: '' }],
  ])('%s survives the trip with presence intact', (_name, status) => {
    expect(trip(status)).toStrictEqual(status ?? {});
  });

  it('an empty list is the same as none', () => {
    expect(trip({ volumes: [], interfaces: [] })).toStrictEqual({});
  });
});

describe('gateway errors', () => {
  it.each(Object.entries(REASON_CODES))('%s survives the trip through gRPC', (reason, { grpc, http }) => {
    const sent = grpcErrorFromStatus({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message: `m-${reason}`, code: http });
    expect(sent.code).toBe(grpc);
    const got = gatewayErrorFrom({ ...sent, message: 'x' });
    expect(got.reason).toBe(reason);
    expect(got.message).toBe(`m-${reason}`);
    expect(got.status?.code).toBe(http);
  });

  it('a transport error without our trailer gets a reason from its code', () => {
    expect(gatewayErrorFrom({ code: GrpcStatus.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() }).reason).toBe(
      'ServiceUnavailable',
    );
    expect(gatewayErrorFrom({ code: GrpcStatus.UNAVAILABLE, details: 'x', metadata: new Metadata() }).retryable).toBe(true);
  });
});

describe('contract helpers', () => {
  it.each([
    ['10.0.0.5:9090', '10.0.0.5'],
    ['10.0.0.5', '10.0.0.5'],
    ['[fe80::1]:22', 'fe80::1'],
    ['fe80::1', 'fe80::1'],
    ['ipv4:127.0.0.1:4000', '127.0.0.1'],
    ['ipv6:[::1]:4000', '::1'],
    ['host.example:80', 'host.example'],
  ])('stripPort(%s) = %s', (input, out) => {
    expect(stripPort(input)).toBe(out);
  });

  it('power states and phases', () => {
    expect(apiPowerState('ShuttingDown')).toBe('shutdown');
    expect(phaseForPowerState('shutoff', 'crashed')).toBe('Failed');
    expect(phaseForPowerState('shutoff', 'destroyed')).toBe('Stopped');
    expect(phaseForPowerState('pmsuspended')).toBe('Paused');
  });
});
