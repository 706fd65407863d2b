/**
 * RegisterNode: hostname identity.
 *
 * The Node is named by the host's name. Which machine owns a name is recorded in the
 * node's credential record (credentials.ts), claimed with an etcd transaction, so:
 *   - a restarted agent (same machine id) re-registers as the same Node (same uid);
 *   - concurrent registrations of one hostname resolve to one Node (the record and the
 *     Node are both created with create-if-absent transactions; the losers re-read);
 *   - a different machine claiming a name whose Node exists is refused (AlreadyExists,
 *     cause HOSTNAME_TAKEN); once an admin deletes that Node, the name is free again.
 * A registration presenting the node's own valid credential keeps it; one presenting the
 * join token gets a new secret (the record keeps the last few).
 */
import type { Node, NodeStatus } from '../../api-types/generated/types.js';
import type { RegisterNodeRequest, RegisterNodeResponse } from '../../api-types/proto/types.js';
import { nodeDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { Groups, nodeNameOf, type UserInfo } from '../auth/identity.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { httpStatusFor, type HostJoinErrorCode } from '../../lib/host-join/codes.js';
import { AlreadyExistsError, NotFoundError } from '../storage/errors.js';
import type { Store } from '../storage/interface.js';
import { issueSecret, MAX_CERTIFICATES, type CredentialRecord, type CredentialStore, type StoredRecord } from './credentials.js';
import { apiNodeInfo, apiResources, nodeAddresses, setNodeCondition, machineFingerprint } from './node-status.js';
import type { ObjectWriter } from './writes.js';
import { bootstrapTokenIdOf, type BootstrapTokens } from './bootstrap-tokens.js';
import { CsrError, type SignedNodeCertificate } from '../pki/node-certificates.js';

const NODE_DEF = nodeDefinition as unknown as ResourceDefinition;

export type NodeApproval = 'auto' | 'manual';
/** On a Node that joined under manual approval and waits for it: `pending` (qxctl node approve removes it). */
export const APPROVAL_ANNOTATION = 'quantix.io/approval';
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A record without a Node uid older than this is a registration that died half-way. */
const ABANDONED_CLAIM_MS = 60_000;
const MAX_ATTEMPTS = 8;

export interface RegistrationDeps {
  credentials: CredentialStore;
  /** Spends a single-use bootstrap token once the hostname claim is decided. */
  bootstrapTokens?: BootstrapTokens;
  /** `manual`: a newly joined Node stays unschedulable until an admin approves it (default `auto`). */
  approval?: NodeApproval;
  /** Signs a node's certificate request (absent: this gateway issues bearer credentials only). */
  signCertificate?: (csrPem: string, node: string) => Promise<SignedNodeCertificate>;
  nodes: Store;
  writer: ObjectWriter;
  now: () => Date;
}

export function nodeNameFor(hostname: string): string {
  const name = hostname.trim().toLowerCase().replace(/\.$/, '');
  if (!name || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw errors.invalid({ group: 'quantix.io', resource: 'nodes', kind: 'Node', name }, [
      {
        reason: 'FieldValueInvalid',
        field: 'hostname',
        message: `Invalid value: "${hostname}": a node name must be a DNS-1123 subdomain (lower case alphanumerics, "-" and ".")`,
      },
    ]);
  }
  return name;
}

function callerMayRegister(user: UserInfo, name: string): boolean {
  if (user.groups.includes(Groups.admins) || user.groups.includes(Groups.bootstrappers)) return true;
  return nodeNameOf(user) === name;
}

function hostnameTaken(name: string): ApiError {
  const code: HostJoinErrorCode = 'HOSTNAME_TAKEN';
  return new ApiError(
    httpStatusFor(code),
    'AlreadyExists',
    // Nothing about the owner's machine id: it is what proves a machine owns the name.
    `nodes.quantix.io "${name}" already exists and belongs to another machine: ` +
      `a different host cannot take over an existing hostname; give this host a unique hostname, or delete the Node "${name}" if the old host is gone for good`,
    {
      name,
      group: 'quantix.io',
      kind: 'nodes',
      causes: [{ reason: code, field: 'hostname', message: `hostname "${name}" is registered by another machine` }],
    },
  );
}

async function getNode(nodes: Store, name: string): Promise<Node | undefined> {
  try {
    return (await nodes.get(undefined, name)) as Node;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

export async function registerNode(
  deps: RegistrationDeps,
  user: UserInfo,
  req: RegisterNodeRequest,
  peer: string | undefined,
  presentedCredential: string | undefined,
): Promise<RegisterNodeResponse & { node: Node }> {
  const name = nodeNameFor(req.hostname);
  if (!callerMayRegister(user, name)) {
    throw errors.forbidden(`User "${user.name}" cannot register node "${name}": only the join token or the node's own credential may`, {
      group: 'quantix.io',
      resource: 'nodes',
      kind: 'Node',
      name,
    });
  }
  const machineID = req.machineId.trim();
  if (!machineID) {
    throw errors.invalid({ group: 'quantix.io', resource: 'nodes', kind: 'Node', name }, [
      { reason: 'FieldValueRequired', field: 'machineId', message: 'Required value: the agent must send its machine id' },
    ]);
  }
  const ownCredential = nodeNameOf(user) === name ? presentedCredential : undefined;
  let signed: SignedNodeCertificate | undefined;

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const now = deps.now();
    const stored = await deps.credentials.get(name);
    let node = await getNode(deps.nodes, name);

    // 1. Claim the hostname for this machine (or confirm the claim).
    let record: CredentialRecord;
    if (!stored) {
      record = { node: name, machineID, nodeUID: '', secrets: [], createdAt: now.toISOString() };
    } else if (stored.record.machineID === machineID) {
      record = stored.record;
    } else if (claimIsStale(stored, node, now)) {
      record = { node: name, machineID, nodeUID: '', secrets: [], createdAt: now.toISOString() };
    } else {
      throw hostnameTaken(name);
    }
    // A single-use join token is spent here, before anything is written: of two hosts racing
    // with one token, one gets past this (the other sees TOKEN_ALREADY_USED).
    const tokenId = bootstrapTokenIdOf(user);
    if (tokenId && deps.bootstrapTokens) await deps.bootstrapTokens.consume(tokenId, name);

    // 2. The Node: create it if missing (create-if-absent; a concurrent winner is re-read).
    let reregistered = Boolean(node);
    if (!node) {
      try {
        node = (await deps.writer.createWithStatus(NODE_DEF, {
          apiVersion: 'quantix.io/v1alpha1',
          kind: 'Node',
          metadata: {
            name,
            labels: { 'kubernetes.io/hostname': name },
            ...(deps.approval === 'manual' ? { annotations: { [APPROVAL_ANNOTATION]: 'pending' } } : {}),
          },
          // Under manual approval a new host takes no VMs until an admin approves it (qxctl node approve).
          spec: deps.approval === 'manual' ? { unschedulable: true } : {},
        } as Node)) as Node;
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        node = await getNode(deps.nodes, name);
        if (!node) continue;
        reregistered = true;
      }
    }
    // 3. Credential: a certificate for the node's own key when it asked for one (its bearer
    // secrets end there); else keep the bearer credential presented, or issue a new secret.
    // Joining again (a bootstrap token: an admin's consent) lifts a revocation.
    let credential = '';
    if (req.csrPem) {
      signed ??= await signFor(deps, req.csrPem, name);
      const issued = { serial: signed.serial, notAfter: signed.notAfter, issuedAt: now.toISOString() };
      record = { ...record, secrets: [], certificates: [...(record.certificates ?? []), issued].slice(-MAX_CERTIFICATES), revokedAt: undefined };
    } else if (ownCredential && record === stored?.record) {
      credential = ownCredential;
    } else {
      const issued = issueSecret({ ...record, revokedAt: undefined }, now);
      record = issued.record;
      credential = issued.credential;
    }
    record = { ...record, nodeUID: node.metadata.uid! };
    if (stored && JSON.stringify(stored.record) === JSON.stringify(record)) {
      // nothing to write
    } else if (!(await deps.credentials.compareAndSwap(record, stored))) {
      continue; // someone registered at the same time: decide again on fresh data
    }

    // 4. Node status from what the agent reports.
    const updated = await deps.writer.updateStatus<Node>(NODE_DEF, undefined, name, (current) => {
      const status: NodeStatus = structuredClone(current.status ?? {});
      status.addresses = nodeAddresses(req.addresses, peer, name);
      status.nodeInfo = apiNodeInfo(req.nodeInfo, machineFingerprint(machineID));
      const capacity = apiResources(req.capacity);
      const allocatable = apiResources(req.allocatable) ?? capacity;
      if (capacity) status.capacity = capacity;
      if (allocatable) status.allocatable = allocatable;
      status.lastHeartbeatTime = isoSeconds(now);
      status.conditions = setNodeCondition(
        status.conditions,
        { type: 'Ready', status: 'True', reason: 'AgentRegistered', message: 'quantix-agent registered' },
        now,
      );
      return status;
    });
    const final = updated ?? node;
    return {
      node: final,
      nodeName: name,
      nodeUid: final.metadata.uid!,
      credential,
      certificatePem: signed?.certPem ?? '',
      reregistered,
      assignedPools: [],
    };
  }
  throw errors.conflict({ group: 'quantix.io', resource: 'nodes', kind: 'Node', name }, 'too many concurrent registrations; retry');
}

/** The owner of the name is gone: its Node was deleted, or its first registration died half-way. */
function claimIsStale(stored: StoredRecord, node: Node | undefined, now: Date): boolean {
  const { record } = stored;
  if (record.nodeUID) return !node || node.metadata.uid !== record.nodeUID;
  return now.getTime() - Date.parse(record.createdAt) > ABANDONED_CLAIM_MS && !node;
}

async function signFor(deps: RegistrationDeps, csrPem: string, name: string): Promise<SignedNodeCertificate> {
  if (!deps.signCertificate) {
    throw errors.badRequest('this gateway does not issue node certificates (it has no cluster CA key): register without csrPem', [
      { field: 'csrPem', message: 'not supported by this gateway' },
    ]);
  }
  try {
    return await deps.signCertificate(csrPem, name);
  } catch (err) {
    if (!(err instanceof CsrError)) throw err;
    throw errors.invalid({ group: 'quantix.io', resource: 'nodes', kind: 'Node', name }, [
      { reason: 'FieldValueInvalid', field: 'csrPem', message: err.message },
    ]);
  }
}
