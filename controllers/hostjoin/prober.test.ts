import { describe, expect, it } from '@jest/globals';
import { checkPing, classifyError, classifyResponse } from './prober.js';

const errno = (code: string) => Object.assign(new Error(code), { code });

describe('classifyError', () => {
  it.each([
    ['ECONNREFUSED', 'HOST_CONNECTION_FAILED'],
    ['ENOTFOUND', 'HOST_CONNECTION_FAILED'],
    ['ECONNRESET', 'HOST_CONNECTION_FAILED'],
    ['ETIMEDOUT', 'CONNECTION_TIMEOUT'],
    ['ENETUNREACH', 'NETWORK_UNREACHABLE'],
    ['EHOSTUNREACH', 'NETWORK_UNREACHABLE'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'TLS_ERROR'],
    ['EPROTO', 'TLS_ERROR'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'TLS_ERROR'],
  ])('%s → %s', (code, expected) => expect(classifyError(errno(code))).toBe(expected));
});

describe('classifyResponse', () => {
  it('accepts a JSON object', () => expect(classifyResponse(200, 'application/json', '{"a":1}')).toEqual({ ok: true, json: { a: 1 } }));
  it('HTML with 200 is INVALID_RESPONSE', () => expect(classifyResponse(200, 'text/html', '<!doctype html>')).toMatchObject({ code: 'INVALID_RESPONSE' }));
  it('JSON with a non-JSON content type is INVALID_RESPONSE', () =>
    expect(classifyResponse(200, 'text/plain', '{}')).toMatchObject({ code: 'INVALID_RESPONSE' }));
  it('404 is HOST_API_NOT_AVAILABLE, whatever the body', () =>
    expect(classifyResponse(404, 'text/html', '<html>')).toMatchObject({ code: 'HOST_API_NOT_AVAILABLE' }));
  it('a Status naming a code is that code', () =>
    expect(classifyResponse(401, 'application/json', JSON.stringify({ kind: 'Status', reason: 'TOKEN_EXPIRED', message: 'expired' }))).toEqual({
      ok: false,
      code: 'TOKEN_EXPIRED',
      message: 'expired',
    }));
  it('401 without a code is TOKEN_INVALID', () => expect(classifyResponse(401, 'text/plain', 'no')).toMatchObject({ code: 'TOKEN_INVALID' }));
  it('500 is HOST_API_NOT_AVAILABLE', () => expect(classifyResponse(500, 'text/plain', 'boom')).toMatchObject({ code: 'HOST_API_NOT_AVAILABLE' }));
});

describe('checkPing', () => {
  const ping = { apiVersion: 'registration.quantix.io/v1', agentVersion: '0.1.0', hostname: 'h', time: '' };
  it('accepts a current agent', () => expect(checkPing(ping, '0.1.0')).toMatchObject({ ok: true }));
  it('refuses an agent older than the policy', () =>
    expect(checkPing({ ...ping, agentVersion: '0.0.9' }, '0.1.0')).toMatchObject({ code: 'HOST_FIRMWARE_OUTDATED' }));
  it('compares versions numerically', () => expect(checkPing({ ...ping, agentVersion: '0.10.0' }, '0.9.0')).toMatchObject({ ok: true }));
  it('refuses another API', () => expect(checkPing({ ...ping, apiVersion: 'other/v2' })).toMatchObject({ code: 'HOST_API_NOT_AVAILABLE' }));
  it('refuses a body without the fields', () => expect(checkPing({ status: 'ok' })).toMatchObject({ code: 'INVALID_RESPONSE' }));
});
