/**
 * kubectl asks its `auth can-i` question as protobuf (client-go's default for built-in
 * types): the `k8s\0` magic, then a runtime.Unknown whose `raw` field holds the
 * SelfSubjectAccessReview. Only the fields a SelfSubjectAccessReview spec has are read
 * (k8s.io/api authorization/v1 generated.proto); answers go back as JSON, which kubectl
 * also accepts.
 */
import protobuf from 'protobufjs';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The length-delimited fields of one message (the last one wins, as in protobuf); others skipped. */
function fieldsOf(bytes: Uint8Array): Map<number, Uint8Array> {
  const reader = protobuf.Reader.create(bytes);
  const fields = new Map<number, Uint8Array>();
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (wireType === 2) fields.set(field, reader.bytes());
    else reader.skipType(wireType);
  }
  return fields;
}

function strings(bytes: Uint8Array | undefined, names: Record<number, string>): Record<string, string> | undefined {
  if (!bytes) return undefined;
  const out: Record<string, string> = {};
  for (const [field, value] of fieldsOf(bytes)) {
    const name = names[field];
    if (name) out[name] = Buffer.from(value).toString('utf8');
  }
  return out;
}

/** `{ spec: { resourceAttributes?, nonResourceAttributes? } }` from kubectl's protobuf body. */
export function decodeSelfSubjectAccessReview(body: Buffer): { spec: Record<string, unknown> } {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a Kubernetes protobuf message');
  const raw = fieldsOf(body.subarray(MAGIC.length)).get(2); // runtime.Unknown.raw
  if (!raw) throw new Error('the protobuf envelope holds no object');
  const spec = fieldsOf(raw).get(2); // SelfSubjectAccessReview.spec
  const specFields = spec ? fieldsOf(spec) : new Map<number, Uint8Array>();
  const resourceAttributes = strings(specFields.get(1), { 1: 'namespace', 2: 'verb', 3: 'group', 4: 'version', 5: 'resource', 6: 'subresource', 7: 'name' });
  const nonResourceAttributes = strings(specFields.get(2), { 1: 'path', 2: 'verb' });
  return { spec: { ...(resourceAttributes ? { resourceAttributes } : {}), ...(nonResourceAttributes ? { nonResourceAttributes } : {}) } };
}
