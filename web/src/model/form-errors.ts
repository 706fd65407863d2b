/**
 * A refused create's Status causes, gathered by form input: each form maps the server's
 * field paths (`spec.source.url`) to its input ids (`url`); several causes on one input
 * are joined, and fields no input shows land on `form`.
 */
import type { StatusCause } from '../../../api-types/meta.js';

export function errorsByInput(causes: readonly StatusCause[], inputForField: (field: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of causes) {
    const id = inputForField(c.field ?? '');
    const message = c.message ?? c.reason ?? 'invalid';
    out[id] = out[id] ? `${out[id]}; ${message}` : message;
  }
  return out;
}
