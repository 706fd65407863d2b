import type { Image, VirtualMachine } from './generated/types.js';
import { diskImageSizeErrors, imagesOf } from './image-usage.js';

const img = (virtualSizeBytes?: number): Image => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'Image',
  metadata: { name: 'debian' },
  spec: { source: { url: 'http://127.0.0.1/d.qcow2' } },
  status: virtualSizeBytes === undefined ? {} : { virtualSizeBytes },
});

const vm = (size: string, image = 'debian'): VirtualMachine => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'a', namespace: 'default' },
  spec: { memory: '512Mi', disks: [{ name: 'root', storagePool: 'p', size, image }] },
});

describe('diskImageSizeErrors', () => {
  it('refuses a disk smaller than the known virtual size, naming the field and the image', () => {
    const errs = diskImageSizeErrors(vm('1Gi'), undefined, () => img(2 * 2 ** 30));
    expect(errs).toEqual([
      {
        field: 'spec.disks[0].size',
        type: 'FieldValueInvalid',
        value: '1Gi',
        message: 'must be at least the virtual size of Image "debian" (2Gi, 2147483648 bytes)',
      },
    ]);
  });
  it('accepts an equal or larger size, an unknown size and an unknown image', () => {
    expect(diskImageSizeErrors(vm('2Gi'), undefined, () => img(2 * 2 ** 30))).toEqual([]);
    expect(diskImageSizeErrors(vm('1Gi'), undefined, () => img())).toEqual([]);
    expect(diskImageSizeErrors(vm('1Gi'), undefined, () => undefined)).toEqual([]);
  });
  it('on update, checks only disks whose size or image changed', () => {
    expect(diskImageSizeErrors(vm('1Gi'), vm('1Gi'), () => img(2 * 2 ** 30))).toEqual([]);
    expect(diskImageSizeErrors(vm('1Gi'), vm('1Gi', 'other'), () => img(2 * 2 ** 30))).toHaveLength(1);
  });
  it('imagesOf lists each image once', () => {
    const v = vm('4Gi');
    v.spec.disks!.push({ name: 'data', storagePool: 'p', size: '1Gi', image: 'debian' });
    expect(imagesOf(v)).toEqual(['debian']);
  });
});
