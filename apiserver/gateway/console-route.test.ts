import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../../lib/apimachinery/status-error.js';
import { BEARER_SUBPROTOCOL_PREFIX, closeReason, offeredSubprotocols, parseConsolePath } from './console-route.js';

const base = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

describe('parseConsolePath', () => {
  it('names the VM, the subresource and force', () => {
    expect(parseConsolePath(`${base}/web/console`)).toEqual({ namespace: 'default', name: 'web', subresource: 'console', force: false });
    expect(parseConsolePath(`${base}/web/console?force=true`)).toEqual({ namespace: 'default', name: 'web', subresource: 'console', force: true });
    expect(parseConsolePath(`${base}/web/vnc?force=false`)).toEqual({ namespace: 'default', name: 'web', subresource: 'vnc', force: false });
  });

  it('leaves other paths alone', () => {
    expect(parseConsolePath(`${base}/web`)).toBeUndefined();
    expect(parseConsolePath(`${base}/web/status`)).toBeUndefined();
    expect(parseConsolePath('/apis/quantix.io/v1alpha1/storagepools/p/files')).toBeUndefined();
  });

  it('refuses a force that is not true or false, naming the field', () => {
    let caught: unknown;
    try {
      parseConsolePath(`${base}/web/console?force=1`);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ApiError);
    expect((caught as ApiError).toStatus()).toMatchObject({ code: 400, reason: 'BadRequest', details: { causes: [{ field: 'force' }] } });
  });
});

describe('offeredSubprotocols', () => {
  const req = (protocol?: string) => ({ headers: protocol === undefined ? {} : { 'sec-websocket-protocol': protocol } }) as IncomingMessage;

  it('reads the bearer token from the k8s subprotocol (base64url, no padding)', () => {
    const token = 'admin-token.with/odd+chars';
    const offered = `plain.quantix.io, ${BEARER_SUBPROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}`;
    expect(offeredSubprotocols(req(offered))).toEqual({
      protocols: ['plain.quantix.io', `${BEARER_SUBPROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}`],
      token,
    });
  });

  it('has no token without that subprotocol', () => {
    expect(offeredSubprotocols(req('plain.quantix.io'))).toEqual({ protocols: ['plain.quantix.io'] });
    expect(offeredSubprotocols(req())).toEqual({ protocols: [] });
  });
});

describe('close reasons', () => {
  it('start with the code and a colon, and fit in 123 bytes', () => {
    expect(closeReason('VMStopped', "domain 'web' stopped (destroyed)")).toBe("VMStopped: domain 'web' stopped (destroyed)");
    const long = closeReason('Error', 'é'.repeat(200));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long.startsWith('Error: é')).toBe(true);
  });
});
