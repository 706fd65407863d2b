import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../lib/logging/logger.js';
import { keepUpStateLogs, recordTestSecrets, secretsInLogs, startTestLogFile, TEST_LOG_DIR_ENV, TEST_SECRETS_FILE_ENV, testLogDir } from './test-logs.js';

describe('the test run secrets check', () => {
  let run: string;
  let logs: string;
  let secrets: string;
  beforeEach(() => {
    run = mkdtempSync(join(tmpdir(), 'qx-test-logs-'));
    logs = join(run, 'logs');
    secrets = join(run, 'secrets');
    mkdirSync(logs);
    writeFileSync(secrets, '', { mode: 0o600 });
    process.env[TEST_LOG_DIR_ENV] = logs;
    process.env[TEST_SECRETS_FILE_ENV] = secrets;
  });
  afterEach(() => {
    delete process.env[TEST_LOG_DIR_ENV];
    delete process.env[TEST_SECRETS_FILE_ENV];
    rmSync(run, { recursive: true, force: true });
  });

  it('finds a recorded secret in a component log, raw or JSON-escaped, naming the file; the secrets file stays 0600', async () => {
    const token = 'qx-admin-0123456789abcdef0123456789';
    const userData = '#cloud-config\nchpasswd:\n  users:\n    - {name: debian, password: s3cret-Pa55word-xyz, type: text}\n';
    recordTestSecrets(token, userData);
    expect(statSync(secrets).mode & 0o777).toBe(0o600);

    // The in-process components' records go to a file under the run's log dir.
    const stop = startTestLogFile('in-process');
    createLogger('apiserver').info('created', { vm: 'default/web' });
    await stop();
    expect(secretsInLogs(logs, secrets)).toEqual([]);

    // A component that logged the user data (JSON-escaped in its record) and an audit file with the token.
    const agentDir = testLogDir('agent-sim-a')!;
    writeFileSync(join(agentDir, 'agent.log'), `${JSON.stringify({ message: 'seed', userData })}\n`);
    const auditDir = testLogDir('audit')!;
    writeFileSync(join(auditDir, 'audit.log.1'), `{"user":{"username":"admin"},"annotations":{"authorization":"Bearer ${token}"}}\n`);
    const hits = secretsInLogs(logs, secrets).map((h) => ({ file: h.file.slice(logs.length + 1).replace(/-\d+-[0-9a-f]{6}/, ''), index: h.index }));
    expect(hits.sort((a, b) => a.file.localeCompare(b.file))).toEqual([
      { file: 'agent-sim-a/agent.log', index: 1 },
      { file: 'audit/audit.log.1', index: 0 },
    ]);
    // A single distinctive line of user data is looked for on its own too.
    writeFileSync(join(agentDir, 'agent.log'), 'password line: - {name: debian, password: s3cret-Pa55word-xyz, type: text}\n');
    expect(secretsInLogs(logs, secrets).some((h) => h.file.endsWith('agent.log'))).toBe(true);
    expect(readFileSync(secrets, 'utf8')).not.toContain('#cloud-config"\n'); // short lines are not recorded alone
  });

  it("keeps a make-up state dir's logs and records its tokens and keys (hack/up.sh suites)", () => {
    const state = join(run, 'state');
    mkdirSync(join(state, 'logs'), { recursive: true });
    mkdirSync(join(state, 'pki', 'etcd'), { recursive: true });
    const admin = 'adm1n-t0ken-0123456789abcdef';
    writeFileSync(join(state, 'tokens.csv'), `${admin},admin,admin,"quantix:admins"\nv1ewer-t0ken-0123456789abcdef,viewer,viewer\n`);
    writeFileSync(
      join(state, 'pki', 'etcd', 'server.key'),
      '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n',
    );
    writeFileSync(join(state, 'logs', 'apiserver.log'), `{"message":"fine"}\n`);
    writeFileSync(join(state, 'logs', 'agent.out'), `oops ${admin}\n`);
    keepUpStateLogs(state, 'walkthrough');
    const recorded = readFileSync(secrets, 'utf8');
    expect(recorded).toContain('v1ewer-t0ken-0123456789abcdef');
    expect(recorded).toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7');
    expect(secretsInLogs(logs, secrets).map((h) => h.file.replace(/.*\//, ''))).toEqual(['agent.out']);
  });

  it('does nothing outside test-summary', async () => {
    delete process.env[TEST_LOG_DIR_ENV];
    delete process.env[TEST_SECRETS_FILE_ENV];
    recordTestSecrets('never-written-anywhere');
    expect(testLogDir('x')).toBeUndefined();
    await startTestLogFile('in-process')();
    expect(readFileSync(secrets, 'utf8')).toBe('');
  });
});
