/** React access to a shared live list: acquires the stream on mount, releases it on unmount. */
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { KubeObject } from '../../../api-types/meta.js';
import type { ResourceRef } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import type { OverallState } from './connection-manager.js';
import type { ListSnapshot, ResourceWatch } from './resource-watch.js';

const EMPTY: ListSnapshot<never> = { items: [], state: 'connecting', synced: false };
const noSubscribe = () => () => undefined;
const emptySnapshot = () => EMPTY;

export function useLiveList<T extends KubeObject>(ref: ResourceRef<T>): ListSnapshot<T> {
  const { manager } = useSession();
  const [watch, setWatch] = useState<ResourceWatch<T> | undefined>();
  useEffect(() => {
    const held = manager.acquire(ref);
    setWatch(held.watch);
    return held.release;
  }, [manager, ref]);
  return useSyncExternalStore(watch?.subscribe ?? noSubscribe, (watch?.getSnapshot ?? emptySnapshot) as () => ListSnapshot<T>);
}

export function useOverallConnection(): OverallState {
  const { manager } = useSession();
  return useSyncExternalStore(manager.subscribeOverall, manager.getOverall);
}
