import { parseFieldPath } from './field-path.js';
import { fieldLocator } from './yaml-fields.js';

const text = `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: web-1
  labels:
    app: web
spec:
  memory: 2GB
  disks:
    - name: root
      size: 10Gi
    - name: data
      size: lots
`;

describe('parseFieldPath', () => {
  it.each([
    ['spec.memory', ['spec', 'memory']],
    ['spec.disks[1].size', ['spec', 'disks', 1, 'size']],
    ['metadata.labels[app.kubernetes.io/name]', ['metadata', 'labels', 'app.kubernetes.io/name']],
  ])('%s', (field, want) => {
    expect(parseFieldPath(field)).toEqual(want);
  });
});

describe('fieldLocator', () => {
  const locate = fieldLocator(text);
  it.each([
    ['spec.memory', { line: 8, exact: true }],
    ['spec.disks[1].size', { line: 13, exact: true }],
    ['spec.disks[0]', { line: 10, exact: true }],
    ['metadata.labels[app]', { line: 6, exact: true }],
    ['spec.cpu', { line: 7, exact: false }], // missing: its parent
    ['spec.disks[5].size', { line: 9, exact: false }],
    ['status.phase', { line: 1, exact: false }],
  ])('%s', (field, want) => {
    expect(locate(field)).toEqual(want);
  });

  it('survives text that is not valid YAML', () => {
    expect(fieldLocator('a: [unclosed')('spec.memory')).toEqual({ line: 1, exact: false });
  });
});
