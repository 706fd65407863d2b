import { auditFlagErrors, etcdTlsFlagErrors, parseDurationFlag, parseKubeconfigServerFlag, parseNonNegativeIntFlag, parsePositiveIntFlag } from './flags.js';

describe('parseDurationFlag', () => {
  it.each([
    ['5m', 300_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['0', 0],
    ['0s', 0],
    ['2', 2_000],
    ['24h', 86_400_000],
  ])('%s → %i ms', (value, ms) => {
    expect(parseDurationFlag('etcd-compaction-interval', value)).toBe(ms);
  });

  it.each(['', '5x', 'm5', '-1m', '5 m', 'five'])('rejects %j naming the flag', (value) => {
    expect(() => parseDurationFlag('etcd-compaction-interval', value)).toThrow(/--etcd-compaction-interval: invalid duration/);
  });
});

describe('etcdTlsFlagErrors', () => {
  const https = ['https://127.0.0.1:2379'];
  it('accepts TLS with a client certificate, TLS without one, and plain etcd without TLS flags', () => {
    expect(etcdTlsFlagErrors({ endpoints: https, cafile: 'ca.crt', certfile: 'c.crt', keyfile: 'c.key' })).toEqual([]);
    expect(etcdTlsFlagErrors({ endpoints: https, cafile: 'ca.crt' })).toEqual([]);
    expect(etcdTlsFlagErrors({ endpoints: ['http://127.0.0.1:2379'] })).toEqual([]);
  });
  it('refuses a client certificate without the CA, naming the flags', () => {
    expect(etcdTlsFlagErrors({ endpoints: https, certfile: 'c.crt', keyfile: 'c.key' })).toEqual([
      "--etcd-certfile needs --etcd-cafile (the CA of etcd's serving certificate)",
    ]);
  });
  it('refuses a certificate without its key', () => {
    expect(etcdTlsFlagErrors({ endpoints: https, cafile: 'ca.crt', certfile: 'c.crt' })).toEqual(['--etcd-certfile and --etcd-keyfile go together']);
  });
  it('refuses TLS flags with a plain or scheme-less endpoint, naming it', () => {
    expect(etcdTlsFlagErrors({ endpoints: ['http://a:2379', 'b:2379'], cafile: 'ca.crt' })).toEqual([
      '--etcd-cafile is given, but --etcd-servers has a plain endpoint "http://a:2379": use https://',
      '--etcd-cafile is given, but --etcd-servers has a plain endpoint "b:2379": use https://',
    ]);
  });
});

describe('parsePositiveIntFlag', () => {
  it.each([
    ['400', 400],
    [' 7 ', 7],
    ['1', 1],
  ])('%j → %i', (value, n) => {
    expect(parsePositiveIntFlag('max-requests-inflight-per-user', value)).toBe(n);
  });

  it.each(['', '0', '-1', '1.5', '1e3', 'many', '99999999999999999999'])('rejects %j naming the flag', (value) => {
    expect(() => parsePositiveIntFlag('gateway-max-concurrent-streams', value)).toThrow(`--gateway-max-concurrent-streams: a positive integer, got "${value}"`);
  });
});

describe('audit and log flags', () => {
  it('go together: a policy without a log path, or a log path without a policy, is refused', () => {
    expect(auditFlagErrors({})).toEqual([]);
    expect(auditFlagErrors({ policyFile: 'p.yaml', logPath: '/var/log/audit.log' })).toEqual([]);
    expect(auditFlagErrors({ policyFile: 'p.yaml' })).toEqual([expect.stringContaining('--audit-policy-file needs --audit-log-path')]);
    expect(auditFlagErrors({ logPath: '-' })).toEqual([expect.stringContaining('--audit-log-path needs --audit-policy-file')]);
  });

  it('parses counts that may be 0, naming the flag when bad (sizes: lib/logging/flags.ts)', () => {
    expect(parseNonNegativeIntFlag('audit-log-maxbackup', '0')).toBe(0);
    expect(parseNonNegativeIntFlag('audit-log-maxbackup', '10')).toBe(10);
    expect(() => parseNonNegativeIntFlag('audit-log-maxbackup', '-1')).toThrow(/--audit-log-maxbackup: a whole number/);
  });
});

describe('parseKubeconfigServerFlag', () => {
  it('accepts an https URL (the balancer in front of the replicas)', () => {
    expect(parseKubeconfigServerFlag('https://127.0.0.1:6443')).toBe('https://127.0.0.1:6443');
    expect(parseKubeconfigServerFlag('https://api.example.org')).toBe('https://api.example.org');
  });
  it.each(['', 'http://127.0.0.1:6443', '127.0.0.1:6443', 'https://', 'not a url'])('refuses %j naming the flag', (value) => {
    expect(() => parseKubeconfigServerFlag(value)).toThrow(/^--kubeconfig-server: an https:\/\/ URL with a host, got/);
  });
});
