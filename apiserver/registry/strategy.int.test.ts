/**
 * The write strategy's data-safety rules through the real apiserver on a real etcd, with the
 * requests kubectl sends (`kubectl patch --type merge`, `kubectl apply`):
 * - spec.nodeName is immutable once set (422 naming the field); setting it when empty is allowed;
 * - every VM bound to a node carries the cleanup finalizer from the write that binds it
 *   (a pinned create included), before any controller runs;
 * - a node whose VMs use a pool cannot be removed from its spec.assignedNodes (422 naming the VMs).
 */
import { Agent, request } from 'node:https';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import { CLEANUP_FINALIZER } from '../../api-types/finalizers.js';
import { kubectl, startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { eventually } from '../../hack/testenv/eventually.js';

interface Reply {
  status: number;
  body: {
    kind?: string;
    reason?: string;
    code?: number;
    metadata: { finalizers?: string[] };
    spec?: Record<string, unknown>;
    details?: { causes?: unknown[] };
  };
}

const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';
const POOLS = '/apis/quantix.io/v1alpha1/storagepools';

const vm = (name: string, nodeName?: string, pool = 'fast') => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name },
  spec: { memory: '256Mi', disks: [{ name: 'root', storagePool: pool, size: '1Gi' }], ...(nodeName ? { nodeName } : {}) },
});

describe('write strategy: data-safety rules (integration)', () => {
  let env: TestApiserver;
  let agent: Agent;

  const send = (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const url = new URL(env.apiserver.url);
      const req = request(
        { host: url.hostname, port: url.port, method, path, agent, headers: { Authorization: `Bearer ${env.tokens.admin}`, 'Content-Type': contentType } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Reply['body'] }));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const mergePatch = (path: string, patch: unknown) => send('PATCH', path, patch, 'application/merge-patch+json');
  const inWatchCache = (def: ResourceDefinition, name: string) => env.apiserver.context.stores.lister.list(def).some((o) => o.metadata.name === name);

  beforeAll(async () => {
    env = await startTestApiserver();
    agent = new Agent({ keepAlive: true, ca: env.caCertPem });
    const pool = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'fast' },
      spec: { type: 'dir', dir: { path: '/p/fast' }, assignedNodes: ['n1', 'n2', 'n3'] },
    };
    expect((await send('POST', POOLS, pool)).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    agent?.destroy();
    await env?.stop();
  });

  it('a pinned VM carries the cleanup finalizer from its create; an unbound one gets it with its bind', async () => {
    const pinned = await send('POST', VMS, vm('pinned', 'n1'));
    expect(pinned.status).toBe(201);
    expect(pinned.body.metadata.finalizers).toEqual([CLEANUP_FINALIZER]);
    const stored = await send('GET', `${VMS}/pinned`);
    expect(stored.body.metadata.finalizers).toEqual([CLEANUP_FINALIZER]);

    const unbound = await send('POST', VMS, vm('unbound'));
    expect(unbound.body.metadata.finalizers).toBeUndefined();
    const bound = await mergePatch(`${VMS}/unbound`, { spec: { nodeName: 'n2' } });
    expect(bound.status).toBe(200);
    expect(bound.body.metadata.finalizers).toEqual([CLEANUP_FINALIZER]);
  });

  it('spec.nodeName cannot be changed or cleared once set: 422 with a cause on spec.nodeName', async () => {
    expect((await send('POST', VMS, vm('bound', 'n1'))).status).toBe(201);
    for (const nodeName of ['n2', null]) {
      const reply = await mergePatch(`${VMS}/bound`, { spec: { nodeName } });
      expect(reply.status).toBe(422);
      expect(reply.body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
      expect(reply.body.details?.causes).toEqual([
        {
          reason: 'FieldValueInvalid',
          field: 'spec.nodeName',
          message: `Invalid value: "${nodeName ?? ''}": spec.nodeName is immutable once set; moving a VM is an explicit operation (bound to "n1")`,
        },
      ]);
    }
    expect((await send('GET', `${VMS}/bound`)).body.spec).toMatchObject({ nodeName: 'n1' });
    // Other spec changes still go through.
    expect((await mergePatch(`${VMS}/bound`, { spec: { cpu: 2 } })).status).toBe(200);

    const viaKubectl = await kubectl(env.kubeconfig, ['patch', 'vm', 'bound', '--type', 'merge', '-p', '{"spec":{"nodeName":"n3"}}']);
    expect(viaKubectl.code).not.toBe(0);
    expect(viaKubectl.stderr).toContain('spec.nodeName: Invalid value: "n3": spec.nodeName is immutable once set; moving a VM is an explicit operation');
  });

  it('removing a node from a pool is refused while VMs on it use the pool, naming them', async () => {
    expect((await send('POST', VMS, vm('on-n3', 'n3'))).status).toBe(201);
    await eventually(() => inWatchCache(virtualMachineDefinition as unknown as ResourceDefinition, 'on-n3'));
    const refused = await mergePatch(`${POOLS}/fast`, { spec: { assignedNodes: ['n1', 'n2'] } });
    expect(refused.status).toBe(422);
    expect(refused.body.details?.causes).toEqual([
      {
        reason: 'FieldValueForbidden',
        field: 'spec.assignedNodes',
        message: 'Forbidden: node "n3" cannot be removed: a VM on it uses pool "fast": default/on-n3; delete them or remove their disks from the pool first',
      },
    ]);
    expect((await send('GET', `${POOLS}/fast`)).body.spec).toMatchObject({ assignedNodes: ['n1', 'n2', 'n3'] });

    // Adding a node, or removing one no VM there uses, is fine.
    expect((await mergePatch(`${POOLS}/fast`, { spec: { assignedNodes: ['n1', 'n2', 'n3', 'n4'] } })).status).toBe(200);
    expect((await mergePatch(`${POOLS}/fast`, { spec: { assignedNodes: ['n1', 'n2', 'n3'] } })).status).toBe(200);

    const viaKubectl = await kubectl(env.kubeconfig, ['patch', 'sp', 'fast', '--type', 'merge', '-p', '{"spec":{"assignedNodes":["n3"]}}']);
    expect(viaKubectl.code).not.toBe(0);
    expect(viaKubectl.stderr).toContain('node "n1" cannot be removed: 2 VMs on it use pool "fast": default/bound, default/pinned');
    expect(viaKubectl.stderr).toContain('node "n2" cannot be removed: a VM on it uses pool "fast": default/unbound');
  });
});
