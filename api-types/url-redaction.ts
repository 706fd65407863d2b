/**
 * How a URL is printed anywhere (status messages, Events, logs, the UI, qxctl):
 * scheme://host[:port]/path. Userinfo, query string and fragment are dropped: signed
 * download links carry their secrets there. A string that is not a URL prints as
 * `(invalid URL)`, never as itself. Browser-safe (no Node imports): the web UI uses it too.
 */
export function redactUrl(raw: string | URL): string {
  let url: URL;
  try {
    url = typeof raw === 'string' ? new URL(raw) : raw;
  } catch {
    return '(invalid URL)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${url.protocol}(redacted)`;
  return `${url.protocol}//${url.host}${url.pathname}`;
}
