import { describe, expect, it } from '@jest/globals';
import type { HostJoin } from '../../api-types/generated/types.js';
import { guidanceFor } from '../../lib/host-join/codes.js';
import { bootstrapTokenRequest, phaseFailed, phasePassed, phaseStarted, planHostJoin, succeeded, unconfirmedFingerprintMessage } from './hostjoin_reconcile.js';

const T0 = '2026-12-07T02:00:00Z';
const T1 = '2026-12-07T02:00:01Z';

function hj(over: Partial<HostJoin> = {}): HostJoin {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'HostJoin',
    metadata: { name: 'h1', generation: 1 },
    spec: { url: 'https://127.0.0.5:9443', hostToken: 'aaaaa-bbbbb-ccccc-ddddd-eeeee', fingerprint: 'sha256:AB' },
    ...over,
  };
}

describe('planHostJoin', () => {
  it.each([
    ['a new HostJoin', hj(), 'run'],
    ['one left mid-flow by an earlier controller', hj({ status: { phase: 'Discover' } }), 'run'],
    ['a finished one still holding the host token', hj({ status: { phase: 'Failed' } }), 'removeHostToken'],
    ['a succeeded one still holding the host token', hj({ status: { phase: 'Succeeded' } }), 'removeHostToken'],
    ['a finished one without the token', hj({ spec: { url: 'https://127.0.0.5:9443' }, status: { phase: 'Succeeded' } }), 'nothing'],
    ['one being deleted', hj({ metadata: { name: 'h1', deletionTimestamp: T0 } }), 'nothing'],
  ])('%s → %s', (_what, obj, kind) => {
    expect(planHostJoin(obj).kind).toBe(kind);
  });
});

describe('the status of each step', () => {
  it('starts a run at Ping afresh: phase, startTime, a Running condition, nothing of an earlier run', () => {
    const s = phaseStarted({ phase: 'Discover', errorCode: 'TOKEN_INVALID', hardware: { hostname: 'x' } }, hj(), 'Ping', T0);
    expect(s).toEqual({
      phase: 'Ping',
      startTime: T0,
      observedGeneration: 1,
      message: 'reaching the host’s registration API',
      conditions: [{ type: 'Ping', status: 'Unknown', reason: 'Running', message: 'reaching the host’s registration API', lastTransitionTime: T0 }],
    });
  });

  it('passes a phase and starts the next, one condition per phase in order', () => {
    let s = phaseStarted(undefined, hj(), 'Ping', T0);
    s = phasePassed(s, 'Ping', 'quantix-agent 0.1.0 on h1', T1, { agentVersion: '0.1.0', hostname: 'h1' });
    s = phaseStarted(s, hj(), 'ValidateToken', T1);
    expect(s.phase).toBe('ValidateToken');
    expect(s.agentVersion).toBe('0.1.0');
    expect(s.conditions!.map((c) => [c.type, c.status])).toEqual([
      ['Ping', 'True'],
      ['ValidateToken', 'Unknown'],
    ]);
    expect(s.conditions![0]!.lastTransitionTime).toBe(T1);
  });

  it('fails with the code, its guidance and a False condition whose reason is the code', () => {
    const s = phaseFailed(phaseStarted(undefined, hj(), 'ValidateToken', T0), 'ValidateToken', 'TOKEN_EXPIRED', 'host token refused: TOKEN_EXPIRED', T1);
    expect(s).toMatchObject({
      phase: 'Failed',
      errorCode: 'TOKEN_EXPIRED',
      message: 'host token refused: TOKEN_EXPIRED',
      guidance: guidanceFor('TOKEN_EXPIRED'),
      completionTime: T1,
    });
    expect(s.conditions).toEqual([
      { type: 'ValidateToken', status: 'False', reason: 'TOKEN_EXPIRED', message: 'host token refused: TOKEN_EXPIRED', lastTransitionTime: T1 },
    ]);
  });

  it('succeeds with the Node name', () => {
    expect(succeeded({ phase: 'Complete' }, 'h1', T1)).toMatchObject({ phase: 'Succeeded', nodeName: 'h1', completionTime: T1 });
  });

  it('asks the admin to confirm the presented fingerprint', () => {
    expect(unconfirmedFingerprintMessage('sha256:AB:CD')).toContain('--fingerprint sha256:AB:CD');
  });

  it('asks for a single-use bootstrap token described by the host URL', () => {
    expect(bootstrapTokenRequest('https://127.0.0.5:9443', 900)).toEqual({
      metadata: {},
      spec: { ttlSeconds: 900, description: 'Add host https://127.0.0.5:9443', singleUse: true },
    });
  });
});
