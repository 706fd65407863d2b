import { describe, expect, it } from '@jest/globals';
import { exitCodeFor, guidanceFor, HOST_JOIN_ERROR_CODES, hostJoinCodeOf, hostJoinStatus, isHostJoinErrorCode } from './codes.js';

describe('host join error codes', () => {
  it('has the fourteen codes of issue 16, each with guidance and a distinct exit code above the generic ones', () => {
    expect(HOST_JOIN_ERROR_CODES).toHaveLength(14);
    const exits = HOST_JOIN_ERROR_CODES.map(exitCodeFor);
    expect(new Set(exits).size).toBe(exits.length);
    for (const code of HOST_JOIN_ERROR_CODES) {
      expect(exitCodeFor(code)).toBeGreaterThanOrEqual(20);
      expect(exitCodeFor(code)).toBeLessThan(126); // shells reserve 126+
      expect(guidanceFor(code)).toMatch(/\S/);
      expect(guidanceFor(code)).not.toContain('\n');
    }
  });

  it('round-trips through a Status', () => {
    const status = hostJoinStatus('TOKEN_EXPIRED', 'the host token expired 3 minutes ago');
    expect(status).toMatchObject({ code: 401, reason: 'TOKEN_EXPIRED', status: 'Failure' });
    expect(hostJoinCodeOf(status)).toBe('TOKEN_EXPIRED');
    expect(hostJoinCodeOf({ reason: 'Unauthorized', details: { causes: [{ reason: 'TOKEN_REVOKED' }] } })).toBe('TOKEN_REVOKED');
    expect(hostJoinCodeOf({ reason: 'NotFound' })).toBeUndefined();
    expect(isHostJoinErrorCode('toString')).toBe(false);
  });
});
