/** Waits on the shared live list until an object satisfies a predicate (for multi-step actions). */
import type { KubeObject } from '../../../api-types/meta.js';
import type { ResourceRef } from '../api/resources.js';
import { ApiError } from '../../../lib/apimachinery/status-error.js';
import type { ConnectionManager } from '../live/connection-manager.js';

export function waitForObject<T extends KubeObject>(
  manager: ConnectionManager,
  ref: ResourceRef<T>,
  uid: string,
  predicate: (obj: T | undefined) => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const { watch, release } = manager.acquire(ref);
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      const snap = watch.getSnapshot();
      if (!snap.synced) return false;
      return predicate(snap.items.find((o) => o.metadata.uid === uid));
    };
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      release();
      reject(new ApiError(0, 'Timeout', `${what} did not happen within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      unsubscribe();
      release();
      resolve();
    };
    if (check()) return finish();
    unsubscribe = watch.subscribe(() => {
      if (check()) finish();
    });
  });
}
