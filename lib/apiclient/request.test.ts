import { buildRequest, listQuery, PATCH_CONTENT_TYPES, watchQuery } from './request.js';

describe('buildRequest', () => {
  it('sends JSON with its content type, the request id and the user agent', () => {
    expect(
      buildRequest({
        path: '/api/v1/events',
        query: { fieldManager: 'qxctl', dryRun: undefined, limit: '' },
        body: { a: 1 },
        userAgent: 'qxctl/1',
        requestId: 'ui-a-1',
      }),
    ).toEqual({
      target: '/api/v1/events?fieldManager=qxctl',
      headers: { Accept: 'application/json', 'User-Agent': 'qxctl/1', 'X-Request-Id': 'ui-a-1', 'Content-Type': 'application/json' },
      body: '{"a":1}',
    });
  });

  it('passes a string body as is, with the patch content type asked for', () => {
    const built = buildRequest({ path: '/p', body: '[]', contentType: PATCH_CONTENT_TYPES.json });
    expect(built).toEqual({ target: '/p', headers: { Accept: 'application/json', 'Content-Type': 'application/json-patch+json' }, body: '[]' });
  });

  it('has no body and no content type without a body', () => {
    expect(buildRequest({ path: '/p', query: new URLSearchParams({ resourceVersion: '' }), accept: 'application/json;as=Table' })).toEqual({
      target: '/p?resourceVersion=',
      headers: { Accept: 'application/json;as=Table' },
    });
  });
});

describe('list and watch parameters', () => {
  it('list: resourceVersion "" is sent, empty selectors are not', () => {
    expect(listQuery({ resourceVersion: '', labelSelector: '', limit: 500 }).toString()).toBe('resourceVersion=&limit=500');
  });

  it('watch: bookmarks unless refused', () => {
    expect(watchQuery({ resourceVersion: '7', fieldSelector: 'spec.nodeName=n1' })).toEqual({
      resourceVersion: '7',
      allowWatchBookmarks: 'true',
      fieldSelector: 'spec.nodeName=n1',
    });
    expect(watchQuery({ resourceVersion: '7', allowWatchBookmarks: false, timeoutSeconds: 30 })).toEqual({ resourceVersion: '7', timeoutSeconds: '30' });
  });
});
