import { describe, expect, it } from '@jest/globals';
import type { HostJoin } from '../../../api-types/generated/types.js';
import { guidanceFor } from '../../../lib/host-join/codes.js';
import { addHostFormErrors, hostJoinFromForm, outcomeOf, phaseRows } from './host-join-view.js';

const T = '2026-12-07T02:00:00Z';

function hj(status: HostJoin['status']): HostJoin {
  return { apiVersion: 'quantix.io/v1alpha1', kind: 'HostJoin', metadata: { name: 'add-x' }, spec: { url: 'https://10.0.0.5:9443' }, status };
}

describe('the Add-host dialog’s view of a HostJoin', () => {
  it('shows each phase pending, running, passed or failed', () => {
    const rows = phaseRows(
      hj({
        conditions: [
          { type: 'Ping', status: 'True', reason: 'Passed', message: 'quantix-agent 0.1.0 on hv2', lastTransitionTime: T },
          { type: 'ValidateToken', status: 'False', reason: 'TOKEN_EXPIRED', message: 'host token refused', lastTransitionTime: T },
        ],
      }),
    );
    expect(rows.map((r) => [r.phase, r.state])).toEqual([
      ['Ping', 'passed'],
      ['ValidateToken', 'failed'],
      ['Discover', 'pending'],
      ['Complete', 'pending'],
    ]);
    expect(phaseRows(undefined).every((r) => r.state === 'pending')).toBe(true);
  });

  it('gives the outcome: the code with its guidance, the presented fingerprint, or the Node', () => {
    expect(outcomeOf(hj({ phase: 'Discover' }))).toEqual({ kind: 'running' });
    expect(outcomeOf(hj({ phase: 'Succeeded', nodeName: 'hv2' }))).toEqual({ kind: 'succeeded', nodeName: 'hv2' });
    expect(outcomeOf(hj({ phase: 'Failed', errorCode: 'TLS_ERROR', message: 'the host presented …', presentedFingerprint: 'sha256:AB' }))).toEqual({
      kind: 'failed',
      code: 'TLS_ERROR',
      message: 'the host presented …',
      guidance: guidanceFor('TLS_ERROR'),
      presentedFingerprint: 'sha256:AB',
    });
  });

  it('checks the form before sending, and builds the HostJoin', () => {
    expect(addHostFormErrors({ url: 'http://h:9443', token: '', fingerprint: 'nope' })).toEqual({
      url: expect.any(String),
      token: expect.any(String),
      fingerprint: expect.any(String),
    });
    const form = { url: ' https://10.0.0.5:9443 ', token: ' t0k3n ', fingerprint: '' };
    expect(addHostFormErrors(form)).toEqual({});
    expect(hostJoinFromForm(form)).toEqual({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'HostJoin',
      metadata: { generateName: 'add-10-0-0-5-9443-' },
      spec: { url: 'https://10.0.0.5:9443', hostToken: 't0k3n' },
    });
  });
});
