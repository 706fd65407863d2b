import { describe, expect, it } from '@jest/globals';
import type { HostJoin } from '../api-types/generated/types.js';
import { exitCodeFor, guidanceFor } from '../lib/host-join/codes.js';
import { hostJoinGenerateName, phaseLines } from './commands/node-add.js';
import { exitCodeOf, formatError, HostJoinFailedError } from './errors.js';

function withConditions(conditions: NonNullable<HostJoin['status']>['conditions']): HostJoin {
  return { apiVersion: 'quantix.io/v1alpha1', kind: 'HostJoin', metadata: { name: 'add-x' }, spec: { url: 'https://127.0.0.5:9443' }, status: { conditions } };
}

describe('qxctl node add', () => {
  it('names the HostJoin after the host', () => {
    expect(hostJoinGenerateName(new URL('https://10.0.0.5:9443'))).toBe('add-10-0-0-5-9443-');
    expect(hostJoinGenerateName(new URL('https://HV2.Example.com'))).toBe('add-hv2-example-com-443-');
  });

  it('prints a phase when it starts and when it ends, each once', () => {
    const printed = new Set<string>();
    const T = '2026-12-07T02:00:00Z';
    expect(
      phaseLines(withConditions([{ type: 'Ping', status: 'Unknown', reason: 'Running', message: 'reaching the host', lastTransitionTime: T }]), printed),
    ).toEqual(['Ping          … reaching the host']);
    const later = withConditions([
      { type: 'Ping', status: 'True', reason: 'Passed', message: 'quantix-agent 0.1.0 on h1', lastTransitionTime: T },
      { type: 'ValidateToken', status: 'False', reason: 'TOKEN_EXPIRED', message: 'refused', lastTransitionTime: T },
    ]);
    expect(phaseLines(later, printed)).toEqual(['Ping          ✓ quantix-agent 0.1.0 on h1', 'ValidateToken ✗ TOKEN_EXPIRED']);
    expect(phaseLines(later, printed)).toEqual([]);
  });

  it('fails with the code, the message and the guidance, under the code’s own exit code', () => {
    const err = new HostJoinFailedError('TOKEN_EXPIRED', 'host token refused: TOKEN_EXPIRED');
    expect(exitCodeOf(err)).toBe(exitCodeFor('TOKEN_EXPIRED'));
    expect(exitCodeOf(err)).toBe(30);
    expect(formatError(err)).toBe(`error: TOKEN_EXPIRED: host token refused: TOKEN_EXPIRED\nguidance: ${guidanceFor('TOKEN_EXPIRED')}`);
  });
});
