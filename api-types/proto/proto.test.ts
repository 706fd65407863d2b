/** The gateway proto: generated types in step with the .proto, loadable, error mapping round trip. */
import { readFileSync } from 'node:fs';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { apiPowerState, phaseForPowerState, stripPort } from './contract.js';
import { gatewayErrorFrom, grpcErrorFromStatus, REASON_CODES } from './errors.js';
import { generateTypes, TYPES_PATH } from './generate.js';
import { loadGateway } from './load.js';

describe('gateway proto', () => {
  it('types.ts is generated from the current gateway.proto (run: tsx api-types/proto/generate.ts)', () => {
    expect(readFileSync(TYPES_PATH, 'utf8')).toBe(generateTypes());
  });

  it('loads with @grpc/proto-loader and has every method', () => {
    const { service } = loadGateway();
    expect(Object.keys(service).sort()).toEqual(['Heartbeat', 'NotifyStorageChange', 'NotifyVMChange', 'RegisterNode', 'SyncFullState', 'Tunnel', 'WatchDesiredState']);
    expect(service.WatchDesiredState!.responseStream).toBe(true);
    expect(service.Tunnel!.requestStream && service.Tunnel!.responseStream).toBe(true);
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
    expect(gatewayErrorFrom({ code: GrpcStatus.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() }).reason).toBe('ServiceUnavailable');
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
