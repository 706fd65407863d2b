/**
 * Reporter: what a failed report means for the next full sync. An undelivered report
 * (transport trouble, an unavailable or overloaded control plane) asks for one; a report the
 * gateway refused for good was delivered, and a full sync would be refused the same way.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { GatewayError } from '../api-types/proto/errors.js';
import type { GatewayClient } from './gateway-client.js';
import { Reporter } from './reporter.js';

const vm: VirtualMachine = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'web', namespace: 'default', uid: '6f1c2a8e-0000-4000-8000-000000000001', resourceVersion: '3' },
  spec: { memory: '256Mi', nodeName: 'n1' },
};

function reporterFailingWith(err: unknown): Reporter {
  const client = {
    notifyVmChange: async () => {
      throw err;
    },
  } as unknown as GatewayClient;
  return new Reporter(client);
}

describe('Reporter: a failed report and the next full sync', () => {
  it.each([
    ['Forbidden (the VM is bound to another node)', false, new GatewayError('Forbidden', 'bound to "n2"', GrpcStatus.PERMISSION_DENIED)],
    ['Invalid', false, new GatewayError('Invalid', 'spec.cpu: too many', GrpcStatus.INVALID_ARGUMENT)],
    ['BadRequest', false, new GatewayError('BadRequest', 'vm.domainUuid: malformed', GrpcStatus.INVALID_ARGUMENT)],
    ['ServiceUnavailable', true, new GatewayError('ServiceUnavailable', 'etcd is away', GrpcStatus.UNAVAILABLE)],
    ['TooManyRequests', true, new GatewayError('TooManyRequests', 'slow down', GrpcStatus.RESOURCE_EXHAUSTED)],
    ['an error that is not the gateway’s (a broken connection)', true, new Error('socket hang up')],
  ])('%s → full sync needed: %s', async (_name, wanted, err) => {
    const reporter = reporterFailingWith(err);
    await expect(reporter.reportVm(vm, undefined, { phase: 'Running' }, 'UPDATED')).rejects.toBe(err);
    expect(reporter.needsFullSync).toBe(wanted);
  });
});
