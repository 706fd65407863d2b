import { useEffect, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { StoragePool } from '../../../api-types/generated/types.js';
import { breadcrumbs, joinPath, listPoolFiles, type PoolListing } from '../api/pool-files.js';
import { asApiError, type ApiError } from '../../../lib/apimachinery/status-error.js';
import { useSession } from '../auth/session.js';
import { formatAge } from '../model/age.js';
import { bytes, ErrorBanner, useNow } from '../ui/bits.js';
import { LoggedButton } from '../logging/LoggedButton.js';

/** The Files tab: one node's view of the pool, directory by directory (node and path in the URL). */
export function PoolFiles({ pool }: { pool: StoragePool }) {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const assigned = pool.spec.assignedNodes ?? [];
  const healthyFirst = [...assigned].sort(
    (a, b) => Number(pool.status?.hosts?.[b]?.health === 'HEALTHY') - Number(pool.status?.hosts?.[a]?.health === 'HEALTHY'),
  );
  const node = params.get('node') ?? healthyFirst[0] ?? '';
  const path = params.get('path') ?? '';
  const [listing, setListing] = useState<PoolListing | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [loading, setLoading] = useState(false);
  const [reload, setReload] = useState(0);
  const now = useNow(30_000);

  const go = (patch: { node?: string; path?: string }) => {
    const next = new URLSearchParams(params);
    next.set('tab', 'files');
    if (patch.node !== undefined) next.set('node', patch.node);
    if (patch.path !== undefined) {
      if (patch.path) next.set('path', patch.path);
      else next.delete('path');
    }
    setParams(next);
  };

  // biome-ignore lint/correctness/useExhaustiveDependencies: `reload` is a counter whose change refetches (the Refresh button)
  useEffect(() => {
    if (!node) return;
    const controller = new AbortController();
    setLoading(true);
    setError(undefined);
    listPoolFiles(client, pool.metadata.name!, node, path, controller.signal)
      .then((l) => setListing(l))
      .catch((err) => {
        if ((err as { name?: string }).name === 'AbortError') return;
        setListing(undefined);
        setError(asApiError(err));
      })
      .finally(() => setLoading(false));
    return () => controller.abort();
  }, [client, pool.metadata.name, node, path, reload]);

  if (assigned.length === 0) return <p className="muted">The pool is not assigned to any node: there is nothing to browse.</p>;
  return (
    <div className="card" data-testid="pool-files">
      <div className="toolbar">
        <label>
          Node{' '}
          <select value={node} onChange={(e) => go({ node: e.target.value, path: '' })} data-testid="files-node">
            {assigned.map((n) => (
              <option key={n} value={n}>
                {n} ({pool.status?.hosts?.[n]?.health ?? 'not reported'})
              </option>
            ))}
          </select>
        </label>
        <nav className="crumbs" aria-label="Path">
          <LoggedButton logAction="files-root" type="button" className="link" onClick={() => go({ path: '' })}>
            {listing?.mountPath ?? pool.status?.hosts?.[node]?.mountPath ?? '/'}
          </LoggedButton>
          {breadcrumbs(path).map(([label, to]) => (
            <span key={to}>
              {' / '}
              <LoggedButton logAction="files-open" logTarget={to} type="button" className="link" onClick={() => go({ path: to })}>
                {label}
              </LoggedButton>
            </span>
          ))}
        </nav>
        <span className="spacer" />
        <LoggedButton
          logAction="files-refresh"
          type="button"
          className="small"
          onClick={() => setReload((n) => n + 1)}
          disabled={loading}
          data-testid="files-refresh"
        >
          {loading ? 'Loading…' : 'Refresh'}
        </LoggedButton>
      </div>
      {error && <ErrorBanner error={error} />}
      {listing && (
        <table className="table" data-testid="files-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Type</th>
              <th>Size</th>
              <th>Modified</th>
            </tr>
          </thead>
          <tbody>
            {path && (
              <tr>
                <td colSpan={4}>
                  <LoggedButton logAction="files-up" type="button" className="link" onClick={() => go({ path: path.split('/').slice(0, -1).join('/') })}>
                    ..
                  </LoggedButton>
                </td>
              </tr>
            )}
            {listing.entries.map((e) => (
              <tr key={e.name} data-file={e.name}>
                <td>
                  {e.type === 'dir' ? (
                    <LoggedButton
                      logAction="files-open"
                      logTarget={joinPath(path, e.name)}
                      type="button"
                      className="link"
                      onClick={() => go({ path: joinPath(path, e.name) })}
                    >
                      {e.name}/
                    </LoggedButton>
                  ) : (
                    <span>{e.name}</span>
                  )}
                </td>
                <td>{e.type}</td>
                <td>{e.type === 'dir' ? '—' : bytes(e.sizeBytes)}</td>
                <td title={e.modified}>{e.modified ? `${formatAge(e.modified, now)} ago` : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {listing && listing.entries.length === 0 && <p className="muted">Empty directory.</p>}
      {listing?.truncated && <p className="warn-note">Only the first entries are shown.</p>}
    </div>
  );
}
