/** Image URLs: http(s) only, credentials never printed, Authorization only to the same origin. */
import { ImageImportError } from './errors.js';
import { parseImageUrl, redactUrl, redirectTarget } from './url.js';

describe('redactUrl', () => {
  it.each([
    ['https://user:pa55@images.example:8443/debian/disk.qcow2?X-Amz-Signature=abc#frag', 'https://images.example:8443/debian/disk.qcow2'],
    ['http://127.0.0.1:8080/a.img', 'http://127.0.0.1:8080/a.img'],
    ['https://example.org', 'https://example.org/'],
    ['https://example.org:443/x', 'https://example.org/x'],
    ['not a url with secret', '(invalid URL)'],
    ['ftp://u:p@host/x', 'ftp:(redacted)'],
  ])('%s → %s', (raw, printed) => {
    expect(redactUrl(raw)).toBe(printed);
  });
});

describe('parseImageUrl', () => {
  it('turns userinfo into Basic auth and drops it (and the fragment) from the URL', () => {
    const u = parseImageUrl('https://alice:s%40cret@example.org/i.qcow2?sig=1#x');
    expect(u.url.href).toBe('https://example.org/i.qcow2?sig=1');
    expect(u.authorization).toBe(`Basic ${Buffer.from('alice:s@cret').toString('base64')}`);
    expect(u.display).toBe('https://example.org/i.qcow2');
  });
  it('has no Authorization without userinfo', () => {
    expect(parseImageUrl('http://example.org/i.img').authorization).toBeUndefined();
  });
  it.each(['file:///etc/passwd', 'ftp://example.org/i.img', 'gopher://x', '/relative/path', ''])('refuses %j as InvalidRequest', (raw) => {
    let err: unknown;
    try {
      parseImageUrl(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImageImportError);
    expect((err as ImageImportError).reason).toBe('InvalidRequest');
    expect((err as ImageImportError).retryable).toBe(false);
  });
});

describe('redirectTarget', () => {
  const from = parseImageUrl('https://u:p@a.example/dir/i.img');
  it('keeps Authorization on the same origin and resolves relative locations', () => {
    const next = redirectTarget(from, '../other/i.img?x=1');
    expect(next.url.href).toBe('https://a.example/other/i.img?x=1');
    expect(next.authorization).toBe(from.authorization);
  });
  it('drops Authorization for another origin (host, port or scheme)', () => {
    expect(redirectTarget(from, 'https://cdn.example/i.img').authorization).toBeUndefined();
    expect(redirectTarget(from, 'https://a.example:8443/i.img').authorization).toBeUndefined();
    expect(redirectTarget(from, 'http://a.example/i.img').authorization).toBeUndefined();
  });
  it('drops credentials written into the Location and refuses non-http targets', () => {
    const next = redirectTarget(from, 'https://x:y@cdn.example/i.img');
    expect(next.url.username).toBe('');
    expect(next.display).toBe('https://cdn.example/i.img');
    expect(() => redirectTarget(from, 'file:///etc/shadow')).toThrow(/only http and https/);
  });
});
