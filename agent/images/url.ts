/**
 * Image source URLs (pure): only http and https; credentials in the URL become a Basic
 * Authorization header and never reach a log line or an error message.
 */
import { ImageImportError } from './errors.js';
import { redactUrl } from '../../api-types/url-redaction.js';

export { redactUrl };

/** An image URL ready to request: `url` has no userinfo; `display` is what messages print. */
export interface ImageUrl {
  url: URL;
  /** `Basic …` when the URL carried userinfo; sent only to the URL's own origin. */
  authorization?: string;
  display: string;
}

/** Parses an image URL: http and https only, no fragment sent, userinfo turned into Basic auth. */
export function parseImageUrl(raw: string): ImageUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ImageImportError('InvalidRequest', 'the image URL is not a valid URL');
  }
  const display = redactUrl(url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ImageImportError('InvalidRequest', `the image URL must be http or https, not ${url.protocol.replace(/:$/, '')}`, { url: display });
  }
  let authorization: string | undefined;
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url = new URL(url.href);
    url.username = '';
    url.password = '';
  }
  url.hash = '';
  return { url, authorization, display };
}

/**
 * Follows a redirect: the next URL, resolved against the current one. Only http(s) targets;
 * the Authorization header goes along only while the origin stays the same.
 */
export function redirectTarget(from: ImageUrl, location: string): ImageUrl {
  let next: URL;
  try {
    next = new URL(location, from.url);
  } catch {
    throw new ImageImportError('HTTPError', `${from.display} redirects to an invalid location`, { url: from.display });
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new ImageImportError('InvalidRequest', `${from.display} redirects to a ${next.protocol.replace(/:$/, '')} URL; only http and https are followed`, {
      url: from.display,
    });
  }
  // Credentials in a Location header are dropped like any other: the user gave none for that URL.
  next.username = '';
  next.password = '';
  next.hash = '';
  return { url: next, authorization: next.origin === from.url.origin ? from.authorization : undefined, display: redactUrl(next) };
}
