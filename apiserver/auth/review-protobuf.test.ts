import protobuf from 'protobufjs';
import { decodeSelfSubjectAccessReview } from './review-protobuf.js';

/** A message of length-delimited fields, as client-go writes them. */
function message(fields: [number, string | Uint8Array][]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const [field, value] of fields) {
    w.uint32((field << 3) | 2);
    if (typeof value === 'string') w.string(value);
    else w.bytes(value);
  }
  return w.finish();
}

const envelope = (raw: Uint8Array) =>
  Buffer.concat([
    Buffer.from('k8s\0', 'latin1'),
    message([
      [
        1,
        message([
          [1, 'authorization.k8s.io/v1'],
          [2, 'SelfSubjectAccessReview'],
        ]),
      ],
      [2, raw],
      [4, 'application/vnd.kubernetes.protobuf'],
    ]),
  ]);

describe('decodeSelfSubjectAccessReview', () => {
  it('reads resource attributes out of the runtime.Unknown envelope', () => {
    const attrs = message([
      [1, 'default'],
      [2, 'create'],
      [3, 'quantix.io'],
      [5, 'virtualmachines'],
      [6, 'status'],
      [7, 'web'],
    ]);
    const review = message([
      [1, message([])],
      [2, message([[1, attrs]])],
    ]);
    expect(decodeSelfSubjectAccessReview(envelope(review))).toEqual({
      spec: {
        resourceAttributes: { namespace: 'default', verb: 'create', group: 'quantix.io', resource: 'virtualmachines', subresource: 'status', name: 'web' },
      },
    });
  });

  it('reads non-resource attributes', () => {
    const review = message([
      [
        2,
        message([
          [
            2,
            message([
              [1, '/metrics'],
              [2, 'get'],
            ]),
          ],
        ]),
      ],
    ]);
    expect(decodeSelfSubjectAccessReview(envelope(review))).toEqual({ spec: { nonResourceAttributes: { path: '/metrics', verb: 'get' } } });
  });

  it('refuses bytes without the k8s magic or without an object', () => {
    expect(() => decodeSelfSubjectAccessReview(Buffer.from('{"spec":{}}'))).toThrow('not a Kubernetes protobuf message');
    expect(() => decodeSelfSubjectAccessReview(Buffer.from('k8s\0', 'latin1'))).toThrow('the protobuf envelope holds no object');
  });
});
