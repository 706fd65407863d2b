/**
 * An in-memory stand-in for the apiserver's list/watch protocol, for unit tests of the
 * watch loop: it answers `fetch` with paged lists and newline-delimited watch streams the
 * test can feed, cut, or fail. The browser suite runs the real apiserver.
 */
import type { KubeObject, Status } from '../../../api-types/meta.js';

interface Stream {
  url: URL;
  controller: ReadableStreamDefaultController<Uint8Array>;
}

export class FakeApiserver {
  objects = new Map<string, KubeObject>();
  revision = 100;
  /** When set, every request is refused at the network level. */
  down = false;
  /** When set, every request answers this HTTP status with a Status body. */
  refuseWith: number | undefined;
  requests: URL[] = [];
  streams: Stream[] = [];
  readonly #encoder = new TextEncoder();

  put(name: string, fields: Record<string, unknown> = {}): KubeObject {
    this.revision++;
    const obj: KubeObject = { metadata: { uid: `uid-${name}`, name, namespace: 'default', resourceVersion: String(this.revision) }, ...fields };
    const existed = this.objects.has(name);
    this.objects.set(name, obj);
    this.send({ type: existed ? 'MODIFIED' : 'ADDED', object: obj });
    return obj;
  }

  remove(name: string, { silently = false } = {}): void {
    const obj = this.objects.get(name);
    if (!obj) return;
    this.revision++;
    this.objects.delete(name);
    if (!silently) this.send({ type: 'DELETED', object: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.revision) } } });
  }

  /** Writes one event line to every open watch stream. */
  send(event: unknown): void {
    for (const s of this.streams) s.controller.enqueue(this.#encoder.encode(JSON.stringify(event) + '\n'));
  }

  expireWatches(): void {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      reason: 'Expired',
      message: 'too old resource version',
      code: 410,
    };
    this.send({ type: 'ERROR', object: status });
    this.closeWatches();
  }

  closeWatches(): void {
    for (const s of this.streams.splice(0)) s.controller.close();
  }

  failWatches(): void {
    for (const s of this.streams.splice(0)) s.controller.error(new TypeError('network error'));
  }

  lists(): number {
    return this.requests.filter((u) => !u.searchParams.has('watch')).length;
  }

  watches(): URL[] {
    return this.requests.filter((u) => u.searchParams.has('watch'));
  }

  fetch = async (input: RequestInfo | URL, _init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input), 'https://apiserver.test');
    if (this.down) throw new TypeError('fetch failed');
    this.requests.push(url);
    if (this.refuseWith !== undefined) {
      const status: Status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        reason: 'Unauthorized',
        message: 'the bearer token is not valid',
        code: this.refuseWith,
      };
      return new Response(JSON.stringify(status), { status: this.refuseWith });
    }
    if (url.searchParams.has('watch')) {
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
      this.streams.push({ url, controller });
      return new Response(body, { status: 200 });
    }
    const limit = Number(url.searchParams.get('limit') ?? 0) || Infinity;
    const start = Number(url.searchParams.get('continue') ?? 0);
    const all = [...this.objects.values()];
    const items = all.slice(start, start + limit);
    const more = start + limit < all.length;
    return new Response(
      JSON.stringify({
        kind: 'List',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.revision), ...(more ? { continue: String(start + limit) } : {}) },
        items,
      }),
      { status: 200 },
    );
  };
}
