import { ApiError } from '../apimachinery/status-error.js';
import { decodeWatchLine, watchEventError, watchEvents } from './watch-events.js';

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield new TextEncoder().encode(p);
}

async function collect<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

describe('watch events', () => {
  it('decodes lines split across chunks, and a last line without newline', async () => {
    const got = await collect(watchEvents(chunks('{"type":"ADDED","obj', 'ect":{"a":1}}\n\n{"type":"DELE', 'TED","object":{"a":2}}')));
    expect(got).toEqual([
      { type: 'ADDED', object: { a: 1 } },
      { type: 'DELETED', object: { a: 2 } },
    ]);
  });

  it('skips undecodable lines only when asked', async () => {
    expect(await collect(watchEvents(chunks('nope\n{"type":"ADDED","object":{}}\n'), { skipUndecodable: true }))).toHaveLength(1);
    await expect(collect(watchEvents(chunks('nope\n')))).rejects.toMatchObject({ reason: 'BadWatchEvent' });
    expect(() => decodeWatchLine('{')).toThrow(ApiError);
  });

  it('an ERROR event carries its Status as an ApiError', () => {
    const err = watchEventError({
      type: 'ERROR',
      object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version' },
    });
    expect([err.code, err.isExpired, err.message]).toEqual([410, true, 'too old resource version']);
  });
});
