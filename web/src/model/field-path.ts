/**
 * Kubernetes field paths as the apiserver reports them in Status causes
 * (`spec.disks[0].size`, `metadata.labels[app]`) split into segments.
 */
export type PathSegment = string | number;

export function parseFieldPath(field: string): PathSegment[] {
  const out: PathSegment[] = [];
  const re = /([^.[\]]+)|\[([^\]]*)\]/g;
  for (const m of field.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else out.push(/^\d+$/.test(m[2]!) ? Number(m[2]) : m[2]!);
  }
  return out;
}
