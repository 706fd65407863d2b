import type { Image, VirtualMachine } from '../../api-types/generated/types.js';
import { imageRelevantTo, imagesOfVm, NodeImageUse } from './image-relevance.js';

const vm = (...images: (string | undefined)[]) =>
  ({ spec: { disks: images.map((image, i) => ({ name: `d${i}`, storagePool: 'p', size: '1Gi', ...(image ? { image } : {}) })) } }) as unknown as VirtualMachine;
const image = (spec: Partial<Image['spec']> = {}, nodes?: string[]) =>
  ({
    metadata: { name: 'img' },
    spec: { source: { url: 'http://127.0.0.1:9/x' }, ...spec },
    ...(nodes ? { status: { nodes: Object.fromEntries(nodes.map((n) => [n, { phase: 'Ready' }])) } } : {}),
  }) as unknown as Image;

describe('imagesOfVm', () => {
  it('lists each image a disk is made from once; blank disks have none', () => {
    expect(imagesOfVm(vm('a', undefined, 'b', 'a'))).toEqual(['a', 'b']);
    expect(imagesOfVm(vm())).toEqual([]);
  });
});

describe('imageRelevantTo', () => {
  it('is relevant when used here, named in nodeNames, or with a status entry for the node; else not', () => {
    expect(imageRelevantTo(image(), 'n1', true)).toBe(true);
    expect(imageRelevantTo(image({ nodeNames: ['n1'], storagePool: 'p' }), 'n1', false)).toBe(true);
    expect(imageRelevantTo(image({}, ['n1']), 'n1', false)).toBe(true);
    expect(imageRelevantTo(image({ nodeNames: ['n2'], storagePool: 'p' }, ['n2']), 'n1', false)).toBe(false);
    expect(imageRelevantTo(image(), 'n1', false)).toBe(false);
  });
});

describe('NodeImageUse', () => {
  it('reports an image as new only for the first VM that uses it, and keeps it while any VM does', () => {
    const use = new NodeImageUse();
    expect(use.setVm('ns/a', ['x', 'y'])).toEqual(['x', 'y']);
    expect(use.setVm('ns/b', ['x'])).toEqual([]);
    use.deleteVm('ns/a');
    expect(use.uses('x')).toBe(true);
    expect(use.uses('y')).toBe(false);
    use.deleteVm('ns/b');
    expect(use.uses('x')).toBe(false);
  });

  it('a VM whose disks change: images it keeps are not new, images it adds are, images it drops are released', () => {
    const use = new NodeImageUse();
    use.setVm('ns/a', ['x']);
    expect(use.setVm('ns/a', ['x', 'z'])).toEqual(['z']);
    expect(use.setVm('ns/a', ['z'])).toEqual([]);
    expect(use.uses('x')).toBe(false);
    expect(use.setVm('ns/a', [])).toEqual([]);
    expect(use.uses('z')).toBe(false);
    use.deleteVm('ns/unknown'); // a VM never seen: nothing to release
    expect(use.uses('z')).toBe(false);
  });
});
