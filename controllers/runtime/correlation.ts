/**
 * The correlation id of an object: the user action that last changed its intent, which the
 * apiserver records in the annotation quantix.io/correlation-id (api-types/correlation.ts).
 * A controller reconciles, logs, writes and records Events under it (controller.ts).
 */
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import type { KubeObject } from '../../api-types/meta.js';

export function correlationIdOf(obj: KubeObject | undefined): string | undefined {
  return obj?.metadata.annotations?.[CORRELATION_ID_ANNOTATION] || undefined;
}

/** `correlationIdOf` for a controller's keys, read from its informer's cache. */
export function correlationIdFromStore(store: { get(key: string): KubeObject | undefined }): (key: string) => string | undefined {
  return (key) => correlationIdOf(store.get(key));
}
