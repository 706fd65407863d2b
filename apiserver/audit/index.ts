/**
 * The audit log as the apiserver's flags configure it (kube-apiserver's names):
 * --audit-policy-file (required to audit), --audit-log-path (a file, written through
 * RotatingFile, or `-` for stdout), --audit-log-maxsize (MB at which the file rotates),
 * --audit-log-maxbackup (rotated files kept). Disk use stays within
 * maxsize × (maxbackup + 1) MB.
 */
import { readFileSync } from 'node:fs';
import { RotatingFile } from '../../lib/logging/files.js';
import { Auditor, type AuditSink } from './auditor.js';
import { AuditPolicyError, parseAuditPolicy } from './policy.js';

export { Auditor } from './auditor.js';
export { AuditPolicyError, parseAuditPolicy } from './policy.js';

export const DEFAULT_AUDIT_LOG_MAXSIZE_MB = 100;
export const DEFAULT_AUDIT_LOG_MAXBACKUP = 10;

export interface AuditLogOptions {
  policyFile: string;
  /** A file path, or `-` for stdout. */
  logPath: string;
  maxSizeMB?: number;
  maxBackup?: number;
}

/** Reads the policy (refusing a bad one, naming the rule and field) and opens the log. */
export function createAuditor(options: AuditLogOptions): Auditor {
  let text: string;
  try {
    text = readFileSync(options.policyFile, 'utf8');
  } catch (err) {
    throw new AuditPolicyError(`--audit-policy-file ${options.policyFile}: cannot read it: ${(err as Error).message}`);
  }
  const policy = parseAuditPolicy(text, `--audit-policy-file ${options.policyFile}`);
  const sink: AuditSink =
    options.logPath === '-'
      ? { write: (line) => void process.stdout.write(`${line}\n`), close: async () => undefined }
      : new RotatingFile(options.logPath, {
          maxBytes: (options.maxSizeMB ?? DEFAULT_AUDIT_LOG_MAXSIZE_MB) * 1024 * 1024,
          maxFiles: options.maxBackup ?? DEFAULT_AUDIT_LOG_MAXBACKUP,
        });
  return new Auditor(policy, sink);
}
