/**
 * A watch response (one JSON WatchEvent per line) decoded into events. Browser-safe: the
 * UI feeds it the chunks of fetch's stream, qxctl those of undici's.
 */
import type { Status, WatchEvent } from '../../api-types/meta.js';
import { ApiError, errorFromStatus } from '../apimachinery/status-error.js';
import { LineSplitter } from './line-splitter.js';

/** One line of a watch stream as its event; ApiError `BadWatchEvent` when it is not JSON. */
export function decodeWatchLine<T>(line: string): WatchEvent<T> {
  try {
    return JSON.parse(line) as WatchEvent<T>;
  } catch {
    throw new ApiError(0, 'BadWatchEvent', `undecodable watch event: ${line.slice(0, 100)}`);
  }
}

/** The error an ERROR event carries (its object is a Status: 410 Expired means relist). */
export function watchEventError(event: WatchEvent<unknown>): ApiError {
  return errorFromStatus(event.object as Status);
}

/**
 * The events of a watch stream, in order, until the stream ends. ERROR events are yielded
 * (the caller decides); lines that are not JSON are skipped when `skipUndecodable`, else
 * they end the stream with BadWatchEvent.
 */
export async function* watchEvents<T>(chunks: AsyncIterable<Uint8Array | string>, options: { skipUndecodable?: boolean } = {}): AsyncGenerator<WatchEvent<T>> {
  const decoder = new TextDecoder();
  const splitter = new LineSplitter();
  const decode = function* (lines: string[]): Generator<WatchEvent<T>> {
    for (const line of lines) {
      try {
        yield decodeWatchLine<T>(line);
      } catch (err) {
        if (!options.skipUndecodable) throw err;
      }
    }
  };
  for await (const chunk of chunks) {
    yield* decode(splitter.push(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })));
  }
  yield* decode(splitter.flush());
}
