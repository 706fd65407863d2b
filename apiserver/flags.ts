/** Flag parsing helpers of quantix-apiserver. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration flag in Go's notation, as kube-apiserver's (`5m`, `90s`, `1h30m`, `500ms`; `0`
 * alone, or a bare number of seconds) → milliseconds. Throws naming the flag.
 */
export function parseDurationFlag(flag: string, value: string): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$/.test(v) ? [...v.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)] : [];
  if (parts.length === 0) throw new Error(`--${flag}: invalid duration "${value}" (use e.g. 5m, 90s, 1h30m, or 0 to disable)`);
  return Math.round(parts.reduce((ms, [, n, unit]) => ms + Number(n) * UNIT_MS[unit!]!, 0));
}

/** A count flag (`--max-watches-per-user 400`): a positive integer, else throws naming the flag. */
export function parsePositiveIntFlag(flag: string, value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${flag}: a positive integer, got "${value}"`);
  return n;
}

/**
 * The etcd TLS flags, checked together: a client certificate without the CA would be
 * dropped, and TLS flags with a plain endpoint would be ignored by one client and used by the
 * other. Both are refused at start, naming the flag, instead of failing later with a TLS alert.
 */
export function etcdTlsFlagErrors(flags: { endpoints: string[]; cafile?: string; certfile?: string; keyfile?: string }): string[] {
  const errors: string[] = [];
  if ((flags.certfile === undefined) !== (flags.keyfile === undefined)) errors.push('--etcd-certfile and --etcd-keyfile go together');
  if (flags.certfile !== undefined && flags.cafile === undefined) errors.push("--etcd-certfile needs --etcd-cafile (the CA of etcd's serving certificate)");
  if (flags.cafile !== undefined) {
    for (const e of flags.endpoints)
      if (!e.startsWith('https://')) errors.push(`--etcd-cafile is given, but --etcd-servers has a plain endpoint "${e}": use https://`);
  }
  return errors;
}

/** A count flag that may be 0 (`--audit-log-maxbackup 0`): a non-negative integer, else throws naming the flag. */
export function parseNonNegativeIntFlag(flag: string, value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`--${flag}: a whole number ≥ 0, got "${value}"`);
  return n;
}

/** The audit flags go together: a policy without a log (or a log without a policy) would audit nothing, silently. */
export function auditFlagErrors(flags: { policyFile?: string; logPath?: string }): string[] {
  if (flags.policyFile !== undefined && flags.logPath === undefined) return ['--audit-policy-file needs --audit-log-path (a file, or - for stdout)'];
  if (flags.logPath !== undefined && flags.policyFile === undefined)
    return ['--audit-log-path needs --audit-policy-file (what to audit: manifests/audit/policy.yaml)'];
  return [];
}

/** `--kubeconfig-server` (the balancer's URL in front of replicas): an https:// URL with a host, else throws naming the flag. */
export function parseKubeconfigServerFlag(value: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (url?.protocol !== 'https:' || !url.hostname) throw new Error(`--kubeconfig-server: an https:// URL with a host, got "${value}"`);
  return value;
}
