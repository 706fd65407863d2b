/**
 * SyncFullState entry by entry (the pure parts; service.ts does the reads and writes).
 *
 * Each VM and pool entry of a full sync is applied on its own: one entry the gateway
 * refuses (a VM bound to another node, an invalid status, a malformed domain UUID, a
 * host-discovered domain whose CPU count the schema does not allow, …) neither stops the
 * others nor the state hash. The refused entries go back in the response (EntryResult),
 * so the agent can tell its operator once, and the sync still counts as accepted: the
 * agent does not resend the same state at every heartbeat.
 *
 * What refuses an entry and what fails the call: an ApiError with a 4xx code (other than
 * 429) is about the entry itself and would be refused again on a retry; anything else
 * (storage unavailable, a conflict retried out, an unexpected error) is a failure of the
 * control plane, after which the call fails and the state hash is not acknowledged, so
 * that the agent retries.
 */
import { BOUND_TO_ANOTHER_NODE } from '../../api-types/proto/contract.js';
import type { EntryResult, PoolStatus, VMReport } from '../../api-types/proto/types.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';

/** libvirt's UUID form (8-4-4-4-12 hex digits); the gateway uses it in a label and a label selector. */
const DOMAIN_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Refuses a report whose domain UUID is missing or malformed (BadRequest naming the field). */
export function checkDomainUuid(report: Pick<VMReport, 'domainUuid'>, field: string): void {
  const path = `${field}.domainUuid`;
  if (!report.domainUuid) throw errors.badRequest(`${path}: required`, [{ reason: 'FieldValueRequired', field: path, message: 'Required value' }]);
  if (!DOMAIN_UUID.test(report.domainUuid)) {
    const message = `"${report.domainUuid}" is not a domain UUID (8-4-4-4-12 hexadecimal digits)`;
    throw errors.badRequest(`${path}: ${message}`, [{ reason: 'FieldValueInvalid', field: path, message }]);
  }
}

export interface EntryRejection {
  reason: string;
  message: string;
  boundNode: string;
}

/** The node a refusal says the VM is bound to (the agent's copy is stale), or ''. */
export function boundNodeOf(err: ApiError): string {
  return err.causes.find((c) => c.reason === BOUND_TO_ANOTHER_NODE)?.message ?? '';
}

/** The rejection of one entry, or undefined when the error is the control plane's (the call fails). */
export function entryRejection(err: unknown): EntryRejection | undefined {
  if (!(err instanceof ApiError)) return undefined;
  if (err.code < 400 || err.code >= 500 || err.code === 429) return undefined;
  return { reason: err.reason, message: err.message, boundNode: boundNodeOf(err) };
}

export interface EntryFailure {
  index: number;
  error: unknown;
}

/**
 * Runs `fn` on every item, at most `limit` at a time; a failing item stops nothing.
 * Returns the failures in item order.
 */
export async function settleEach<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<EntryFailure[]> {
  const failures: EntryFailure[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        await fn(items[index]!, index);
      } catch (error) {
        failures.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return failures.sort((a, b) => a.index - b.index);
}

/** Which entry a result is about, without the why. */
export type EntryRef = Omit<EntryResult, 'reason' | 'message' | 'boundNode'>;

export function vmEntryRef(report: VMReport, index: number): EntryRef {
  const vm = report.ownerNamespace && report.ownerName ? `${report.ownerNamespace}/${report.ownerName}` : '';
  return { field: `vms[${index}]`, domainUuid: report.domainUuid, vm, pool: '' };
}

export function poolEntryRef(report: PoolStatus, index: number): EntryRef {
  return { field: `pools[${index}]`, domainUuid: '', vm: '', pool: report.name };
}

/** Splits failures into refused entries (for the response) and control-plane failures (the call fails with the first). */
export function partitionFailures(failures: readonly EntryFailure[], ref: (index: number) => EntryRef): { rejected: EntryResult[]; errors: unknown[] } {
  const rejected: EntryResult[] = [];
  const failed: unknown[] = [];
  for (const { index, error } of failures) {
    const rejection = entryRejection(error);
    if (rejection) rejected.push({ ...ref(index), ...rejection });
    else failed.push(error);
  }
  return { rejected, errors: failed };
}
