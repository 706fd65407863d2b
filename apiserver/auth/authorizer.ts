/**
 * Authorization: admin — everything; viewer — read and watch only (HostJoins without their
 * host token); node — its own Node
 * and the VMs and pools bound to it, writing only the status of its own Node and of VMs
 * whose spec.nodeName is that node (the NodeRestriction rule). Everyone else: nothing.
 * Consoles (virtualmachines/console, virtualmachines/vnc) are asked for with `get` but are
 * write-level, as Kubernetes treats exec and attach: whoever types on a console changes the
 * guest. Only admins get them.
 */
import type { KubeObject } from '../../api-types/meta.js';
import { Groups, nodeNameOf, type UserInfo } from './identity.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface RequestAttributes {
  verb: Verb;
  apiGroup: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export type Decision =
  | {
      allowed: true;
      objectFilter?: (obj: KubeObject) => boolean;
      filterDescription?: string;
      /** What of each object the caller may read (a copy); the whole object without it. */
      view?: (obj: KubeObject) => KubeObject;
    }
  | { allowed: false; reason: string };

const READ_VERBS: ReadonlySet<Verb> = new Set(['get', 'list', 'watch']);

/** Subresources reached with `get` that act on the guest (console input): admins only. */
export const WRITE_LEVEL_SUBRESOURCES: ReadonlySet<string> = new Set(['virtualmachines/console', 'virtualmachines/vnc']);

function writeLevelSubresource(attrs: RequestAttributes): boolean {
  return attrs.apiGroup === 'quantix.io' && attrs.subresource !== undefined && WRITE_LEVEL_SUBRESOURCES.has(`${attrs.resource}/${attrs.subresource}`);
}

/** `User "viewer" cannot patch resource "virtualmachines" in API group "quantix.io" in the namespace "default"` */
export function describeRefusal(user: UserInfo, attrs: RequestAttributes, reason?: string): string {
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const where = attrs.namespace ? ` in the namespace "${attrs.namespace}"` : '';
  const group = attrs.apiGroup ? `"${attrs.apiGroup}"` : '""';
  const named = attrs.name ? ` "${attrs.name}"` : '';
  return `${attrs.resource}${named} is forbidden: User "${user.name}" cannot ${attrs.verb} resource "${resource}" in API group ${group}${where}${reason ? `: ${reason}` : ''}`;
}

function boundToNode(node: string) {
  return (obj: KubeObject) => (obj.spec as { nodeName?: string } | undefined)?.nodeName === node;
}

function assignedToNode(node: string) {
  return (obj: KubeObject) => {
    const assigned = (obj.spec as { assignedNodes?: string[] } | undefined)?.assignedNodes;
    return Array.isArray(assigned) && assigned.includes(node);
  };
}

/** A pool as one node may read it: its own entry of status.hosts only, not the other hosts' view. */
function ownHostView(node: string) {
  return (obj: KubeObject): KubeObject => {
    const status = obj.status as { hosts?: Record<string, unknown> } | undefined;
    if (!status?.hosts) return obj;
    const own = status.hosts[node];
    return { ...obj, status: { ...status, hosts: own === undefined ? {} : { [node]: own } } } as KubeObject;
  };
}

/** A HostJoin as a viewer may read it: without the host token (admins only, and only while the flow runs). */
export function withoutHostToken(obj: KubeObject): KubeObject {
  const spec = obj.spec as { hostToken?: unknown } | undefined;
  if (spec?.hostToken === undefined) return obj;
  const { hostToken: _secret, ...rest } = spec;
  return { ...obj, spec: rest } as KubeObject;
}

function nodeDecision(node: string, attrs: RequestAttributes): Decision {
  const read = READ_VERBS.has(attrs.verb);
  const statusWrite = attrs.subresource === 'status' && (attrs.verb === 'update' || attrs.verb === 'patch');
  if (attrs.apiGroup === 'quantix.io') {
    switch (attrs.resource) {
      case 'nodes':
        if (attrs.name !== undefined && attrs.name !== node) return { allowed: false, reason: `a node may only access its own Node "${node}"` };
        if (read || statusWrite) return { allowed: true, objectFilter: (obj) => obj.metadata.name === node, filterDescription: `Node "${node}"` };
        return { allowed: false, reason: 'a node may only read its Node and write its status' };
      case 'virtualmachines':
        if (read || statusWrite) return { allowed: true, objectFilter: boundToNode(node), filterDescription: `VMs with spec.nodeName=${node}` };
        return { allowed: false, reason: 'a node may only read VMs bound to it and write their status' };
      case 'storagepools':
        if (read) return { allowed: true, objectFilter: assignedToNode(node), filterDescription: `pools assigned to ${node}`, view: ownHostView(node) };
        return { allowed: false, reason: 'a node may only read the pools assigned to it' };
    }
  }
  // No Events: the gateway records what a node reports; a node writing Events itself could
  // write them about anything.
  return { allowed: false, reason: 'not permitted for node credentials' };
}

export function authorize(user: UserInfo, attrs: RequestAttributes): Decision {
  if (user.groups.includes(Groups.admins)) return { allowed: true };
  // Join tokens are secrets that make nodes: an admin's business only.
  if (attrs.apiGroup === 'quantix.io' && attrs.resource === 'bootstraptokens') return { allowed: false, reason: 'only admins may manage bootstrap tokens' };
  const node = nodeNameOf(user);
  if (writeLevelSubresource(attrs)) {
    const who = node !== undefined ? 'node credentials may not open consoles' : 'only admins may open consoles';
    return { allowed: false, reason: `${who}: typing on a console acts on the guest like a write` };
  }
  if (node !== undefined) return nodeDecision(node, attrs);
  if (user.groups.includes(Groups.viewers)) {
    if (!READ_VERBS.has(attrs.verb)) return { allowed: false, reason: 'viewers may only get, list and watch' };
    return attrs.apiGroup === 'quantix.io' && attrs.resource === 'hostjoins' ? { allowed: true, view: withoutHostToken } : { allowed: true };
  }
  return { allowed: false, reason: 'no role grants this' };
}
