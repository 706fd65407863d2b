import type { ReactNode } from 'react';
import type { KubeObject } from '../../../api-types/meta.js';
import { formatAge } from '../model/age.js';
import { useNow } from './bits.js';

/**
 * Shown while an object's deletion is held: the server accepted it (deletionTimestamp is
 * set) and the finalizers named here keep it until their owners let go, e.g. while VMs
 * still use it (`holding` says which).
 */
export function DeletionNote({ obj, holding }: { obj: KubeObject; holding?: ReactNode }) {
  const now = useNow();
  const since = obj.metadata.deletionTimestamp;
  if (!since) return null;
  const finalizers = obj.metadata.finalizers ?? [];
  return (
    <div className="note note-unknown" role="status" data-testid="deletion-note">
      <strong>Being deleted</strong> (requested {formatAge(since, now)} ago).{' '}
      {finalizers.length > 0 ? (
        <>
          It stays until {finalizers.length === 1 ? 'this finalizer is' : 'these finalizers are'} removed:{' '}
          {finalizers.map((f) => (
            <code key={f} className="label">
              {f}
            </code>
          ))}
          .
        </>
      ) : (
        'It disappears in a moment.'
      )}
      {holding && <div>{holding}</div>}
    </div>
  );
}
