/**
 * The correlation id of the user action that last changed an object's intent. The apiserver
 * sets it on every write to the main resource from the request's X-Request-Id (a new id when
 * the client sent none); `/status` writes leave it alone. Controllers reconcile, log, write and
 * emit Events under it; the agent runs the libvirt calls a VM's change causes under it.
 */
export const CORRELATION_ID_ANNOTATION = 'quantix.io/correlation-id';

/** The header that carries it on API requests (and as gRPC metadata `x-request-id`). */
export const CORRELATION_ID_HEADER = 'X-Request-Id';
