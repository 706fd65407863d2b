/**
 * Which Images a node's desired-state stream carries, through the real apiserver and node
 * gateway on real etcd (hack/testenv), with raw gateway clients holding real node
 * credentials: an Image (whose URL may carry credentials) reaches only the nodes that act on
 * it — named in spec.nodeNames, used by a VM bound there (sent before that VM), or holding an
 * entry in its status.nodes — on fresh and on resumed streams.
 */
import type * as grpc from '@grpc/grpc-js';
import type { GatewayClient } from '../../agent/gateway-client.js';
import type { Image, VirtualMachine } from '../../api-types/generated/types.js';
import type { DesiredStateEvent, ImageNodeReport, WatchDesiredStateRequest } from '../../api-types/proto/types.js';
import { imageDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { gatewayClients, startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';
import { eventually } from '../../hack/testenv/eventually.js';

const IMAGE = imageDefinition as unknown as ResourceDefinition;
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
// Nothing listens there: no test here downloads anything.
const SECRET_URL = 'http://user:s3cret@127.0.0.1:9/disk.qcow2';

let cp: TestControlPlane;
let clients: ReturnType<typeof gatewayClients>;
const streams: grpc.ClientReadableStream<DesiredStateEvent>[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane();
  clients = gatewayClients(cp);
});

afterAll(async () => {
  for (const s of streams) s.cancel();
  clients.close();
  await cp.stop();
});

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);

/** A desired-state stream and everything it delivered, in order. */
interface Recorded {
  events: DesiredStateEvent[];
  /** `KIND TYPE name` of the object events, in order. */
  log(): string[];
  synced(): DesiredStateEvent | undefined;
}

function watch(c: GatewayClient, req: Partial<WatchDesiredStateRequest> = {}): Recorded {
  const stream = c.watchDesiredState({ vmResourceVersion: '', poolResourceVersion: '', imageResourceVersion: '', networkResourceVersion: '', ...req });
  streams.push(stream);
  const events: DesiredStateEvent[] = [];
  stream.on('data', (ev: DesiredStateEvent) => events.push(ev));
  stream.on('error', () => {});
  return {
    events,
    log: () =>
      events.filter((e) => e.objectJson).map((e) => `${e.kind} ${e.type} ${(JSON.parse(e.objectJson) as { metadata: { name: string } }).metadata.name}`),
    synced: () => events.find((e) => e.type === 'SYNCED'),
  };
}

async function createImage(name: string, spec: Partial<Image['spec']> = {}): Promise<void> {
  await store(IMAGE).create({ apiVersion: 'quantix.io/v1alpha1', kind: 'Image', metadata: { name }, spec: { source: { url: SECRET_URL }, ...spec } });
}

async function createVm(name: string, node: string, image: string): Promise<void> {
  await store(VM).create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default' },
    spec: { runStrategy: 'Halted', cpu: 1, memory: '64Mi', nodeName: node, disks: [{ name: 'root', storagePool: 'pool', size: '1Gi', image }] },
  } as VirtualMachine);
}

function report(name: string, uid: string, over: Partial<ImageNodeReport> = {}): ImageNodeReport {
  return {
    name,
    uid,
    phase: 'Failed',
    step: '',
    bytesDone: 0,
    bytesTotal: 0,
    percent: 0,
    pool: 'pool',
    path: '',
    virtualSizeBytes: 0,
    fileBytes: 0,
    sourceFormat: '',
    sha256: '',
    verified: false,
    message: 'unreachable',
    reason: 'Unreachable',
    removed: false,
    ...over,
  };
}

describe('desired state: Images reach only the nodes that act on them', () => {
  it('nodeNames, a VM bound here (the Image first), a status entry here; DELETED once none holds; resumed streams too', async () => {
    const a = await clients.registered('rel-a');
    const b = await clients.registered('rel-b');
    await createImage('shared');
    await createImage('ahead', { nodeNames: ['rel-b'], storagePool: 'pool' });

    const onA = watch(a);
    const onB = watch(b);
    await eventually(() => onA.synced() !== undefined && onB.synced() !== undefined, { message: 'both streams synced' });
    expect(onA.log()).toEqual([]);
    expect(onB.log()).toEqual(['IMAGE ADDED ahead']);

    // A VM bound to rel-a uses "shared": rel-a gets the Image, then the VM; rel-b nothing.
    await createVm('web', 'rel-a', 'shared');
    await eventually(() => onA.log().length === 2, { message: 'rel-a sees the Image and the VM' });
    expect(onA.log()).toEqual(['IMAGE ADDED shared', 'VM ADDED web']);
    // The URL's credentials went to rel-a only (it needs them to import).
    expect(JSON.parse(onA.events.find((e) => e.kind === 'IMAGE' && e.objectJson)!.objectJson).spec.source.url).toBe(SECRET_URL);
    expect(onB.log()).toEqual(['IMAGE ADDED ahead']);

    // rel-a reports an import state: its entry keeps the Image relevant after the VM goes.
    const shared = (await store(IMAGE).get(undefined, 'shared')) as Image;
    await a.reportImages({ images: [report('shared', shared.metadata.uid!)] });
    await eventually(async () => Boolean(((await store(IMAGE).get(undefined, 'shared')) as Image).status?.nodes?.['rel-a']), {
      message: "rel-a's entry in status.nodes",
    });
    await store(VM).delete('default', 'web');
    await eventually(() => onA.log().includes('VM DELETED web'), { message: 'the VM deleted on rel-a' });
    expect(onA.log()).not.toContain('IMAGE DELETED shared');

    // The entry removed: rel-a is told the Image is gone for it.
    await a.reportImages({ images: [report('shared', shared.metadata.uid!, { removed: true })] });
    await eventually(() => onA.log().includes('IMAGE DELETED shared'), { message: 'rel-a told to drop "shared"' });
    expect(onB.log()).toEqual(['IMAGE ADDED ahead']);

    // rel-b resumes from its SYNCED point; a VM bound to it starts to use "shared".
    const synced = onB.synced()!;
    const resumed = watch(b, {
      vmResourceVersion: synced.vmResourceVersion,
      poolResourceVersion: synced.poolResourceVersion,
      imageResourceVersion: synced.imageResourceVersion,
      networkResourceVersion: synced.networkResourceVersion,
      knownImages: { ahead: 1 },
    });
    await createVm('db', 'rel-b', 'shared');
    await eventually(() => resumed.log().includes('VM ADDED db'), { message: 'the resumed stream delivers the VM' });
    expect(resumed.log()).toEqual(['IMAGE ADDED shared', 'VM ADDED db']);
    // Sent with the image watch's position, not past it (a resume from there skips nothing).
    const sent = resumed.events.find((e) => e.kind === 'IMAGE' && e.objectJson)!;
    expect(BigInt(sent.resourceVersion)).toBeLessThanOrEqual(BigInt(((await store(IMAGE).get(undefined, 'shared')) as Image).metadata.resourceVersion!));
  });
});
