/**
 * Lists in pages, as kubectl does (`--chunk-size`, default 500): a collection of 50,000 VMs is
 * read in requests of bounded size, each of which the apiserver answers from one etcd range,
 * instead of one response the size of the whole collection. Pages follow the server's
 * `continue` token and share the first page's snapshot (its resourceVersion).
 */

/** kubectl's default page size. */
export const DEFAULT_CHUNK_SIZE = 500;

/** A list or a Table page: `items` or `rows`, and the list metadata. */
export interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items?: unknown[];
  rows?: unknown[];
}

/**
 * The pages as one list: items (or rows) in order; the first page's other fields (kind,
 * apiVersion, a Table's columnDefinitions) and resourceVersion; no continue token.
 */
export function mergeListPages<L extends ListPage>(pages: L[]): L {
  const [first, ...rest] = pages;
  if (!first) throw new Error('mergeListPages: no page');
  const merged: L = { ...first, metadata: { ...first.metadata } };
  delete merged.metadata!.continue;
  delete merged.metadata!.remainingItemCount;
  if (first.items) merged.items = [...first.items, ...rest.flatMap((p) => p.items ?? [])];
  if (first.rows) merged.rows = [...first.rows, ...rest.flatMap((p) => p.rows ?? [])];
  return merged;
}

/** The `chunkSize` query: a positive integer (0 lists in one request). */
export function pageQuery(chunkSize: number, continueToken: string | undefined): { limit?: string; continue?: string } {
  return { ...(chunkSize > 0 ? { limit: String(chunkSize) } : {}), ...(continueToken ? { continue: continueToken } : {}) };
}
