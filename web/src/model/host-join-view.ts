/**
 * What the Add-host dialog shows of a HostJoin: each phase's state and message, the outcome
 * with the error code's guidance (lib/host-join/codes.ts, the same text qxctl prints), and
 * the HostJoin to create from the form. Pure.
 */
import type { HostJoin } from '../../../api-types/generated/types.js';
import { guidanceFor, isHostJoinErrorCode } from '../../../lib/host-join/codes.js';
import { normalizeFingerprint } from '../../../lib/host-join/protocol.js';

export const HOST_JOIN_PHASES = ['Ping', 'ValidateToken', 'Discover', 'Complete'] as const;

export type PhaseState = 'pending' | 'running' | 'passed' | 'failed';

export interface PhaseRow {
  phase: (typeof HOST_JOIN_PHASES)[number];
  state: PhaseState;
  message?: string;
}

export function phaseRows(hj: HostJoin | undefined): PhaseRow[] {
  return HOST_JOIN_PHASES.map((phase) => {
    const c = hj?.status?.conditions?.find((x) => x.type === phase);
    const state: PhaseState = !c ? 'pending' : c.status === 'True' ? 'passed' : c.status === 'False' ? 'failed' : 'running';
    return { phase, state, ...(c?.message ? { message: c.message } : {}) };
  });
}

export type HostJoinOutcome =
  | { kind: 'running' }
  | { kind: 'succeeded'; nodeName: string }
  | { kind: 'failed'; code: string; message: string; guidance: string; presentedFingerprint?: string };

export function outcomeOf(hj: HostJoin | undefined): HostJoinOutcome {
  const s = hj?.status;
  if (s?.phase === 'Succeeded') return { kind: 'succeeded', nodeName: s.nodeName ?? '' };
  if (s?.phase === 'Failed') {
    const code = s.errorCode ?? 'Failed';
    return {
      kind: 'failed',
      code,
      message: s.message ?? '',
      guidance: s.guidance ?? (isHostJoinErrorCode(code) ? guidanceFor(code) : ''),
      ...(s.presentedFingerprint ? { presentedFingerprint: s.presentedFingerprint } : {}),
    };
  }
  return { kind: 'running' };
}

export interface AddHostForm {
  url: string;
  token: string;
  fingerprint: string;
}

/** `https://HOST:PORT` with nothing after the port. */
function isRegistrationUrl(text: string): boolean {
  try {
    const url = new URL(text.trim());
    return url.protocol === 'https:' && (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash;
  } catch {
    return false;
  }
}

/** Local checks before anything is sent: field → message. */
export function addHostFormErrors(form: AddHostForm): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!isRegistrationUrl(form.url)) errors.url = 'https://HOST:PORT of the host’s registration API (port 9443 by default)';
  if (!form.token.trim()) errors.token = 'Required: `quantix-agent token` prints it on the host';
  if (form.fingerprint.trim() && !normalizeFingerprint(form.fingerprint)) errors.fingerprint = 'sha256:AB:CD:… (64 hex digits)';
  return errors;
}

/** The HostJoin for a checked form (named by the server: generateName). */
export function hostJoinFromForm(form: AddHostForm): HostJoin {
  const url = new URL(form.url.trim());
  const host = `${url.hostname}-${url.port || '443'}`
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  const fingerprint = form.fingerprint.trim();
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'HostJoin',
    metadata: { generateName: `add-${host}-` },
    spec: { url: `https://${url.host}`, hostToken: form.token.trim(), ...(fingerprint ? { fingerprint } : {}) },
  };
}
