/**
 * Polls `probe` until it returns without throwing (and, if it returns a boolean, returns
 * true) or the deadline passes. Tests wait with this, never with a fixed sleep.
 */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50, message }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<Exclude<T, false>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== false) return value as Exclude<T, false>;
      lastError = new Error('condition returned false');
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`eventually: ${message ?? 'condition not met'} within ${timeoutMs} ms: ${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
