import { BOUND_TO_ANOTHER_NODE } from '../api-types/proto/contract.js';
import { GatewayError } from '../api-types/proto/errors.js';
import { createLogger, setLogLevel } from '../lib/logging/logger.js';
import type { DomainInfo } from './hypervisor/driver.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { boundNodeOfRefusal, isStaleCopy, StaleCopies } from './stale-copies.js';

setLogLevel('error');

const UUID = '6f1c2a8e-0000-4000-8000-000000000001';
const refusal = (causes?: { reason: string; message: string }[]) =>
  new GatewayError('Forbidden', 'node "a" may not write the status of VM default/web: it is bound to "b"', 7, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    reason: 'Forbidden',
    code: 403,
    ...(causes ? { details: { causes } } : {}),
  });

describe('boundNodeOfRefusal', () => {
  it('reads the node from the BoundToAnotherNode cause', () => {
    expect(boundNodeOfRefusal(refusal([{ reason: BOUND_TO_ANOTHER_NODE, message: 'b' }]))).toBe('b');
  });
  it.each([
    ['a Forbidden without the cause', refusal()],
    ['another error', new GatewayError('ServiceUnavailable', 'down', 14)],
    ['not a gateway error', new Error('x')],
  ])('%s: none', (_name, err) => {
    expect(boundNodeOfRefusal(err)).toBe('');
  });
});

describe('isStaleCopy', () => {
  const managed = { uuid: UUID, owner: { namespace: 'default', name: 'web', uid: UUID } } as DomainInfo;
  it.each([
    ['managed, bound to another node', managed, 'b', true],
    ['bound to this node', managed, 'a', false],
    ['no node named', managed, '', false],
    ['a domain Quantix did not define', { uuid: UUID, owner: null } as DomainInfo, 'b', false],
    ['no domain', undefined, 'b', false],
  ])('%s', (_name, domain, bound, want) => {
    expect(isStaleCopy(domain, bound, 'a')).toBe(want);
  });
});

describe('StaleCopies.remove', () => {
  it('force-stops and undefines the domain, keeps its volume, forgets what was reported', async () => {
    const driver = new SimDriver({ hostname: 'a' });
    await driver.connect();
    await driver.definePool({ name: 'p', type: 'dir', targetPath: '/srv/p' });
    await driver.startPool('p');
    const vol = await driver.createVolume('p', { name: 'web.qcow2', capacityBytes: 1024 ** 3, format: 'qcow2' });
    await driver.defineDomain({
      uuid: UUID,
      name: 'default_web',
      vcpus: 1,
      memoryBytes: 64 * 1024 ** 2,
      disks: [{ path: vol.path }],
      networks: [],
      owner: { namespace: 'default', name: 'web', uid: UUID },
    });
    await driver.startDomain(UUID);
    const forgotten: string[] = [];
    const stale = new StaleCopies({
      driver,
      domain: () => ({ uuid: UUID, state: 'Running', owner: { namespace: 'default', name: 'web', uid: UUID } }) as DomainInfo,
      forget: (uuid) => forgotten.push(uuid),
      refresh: async () => undefined,
      nodeName: () => 'a',
      log: createLogger('test'),
    });
    expect(await stale.remove(UUID, 'a')).toBe(false);
    expect(await stale.remove(UUID, 'b')).toBe(true);
    expect((await driver.listDomains()).map((d) => d.uuid)).toEqual([]);
    expect((await driver.listVolumes('p')).map((v) => v.name)).toEqual(['web.qcow2']);
    expect(forgotten).toEqual([UUID]);
  });
});
