/**
 * The audit policy: Kubernetes' `audit.k8s.io/v1` Policy, read from --audit-policy-file and
 * matched as kube-apiserver matches it (k8s.io/apiserver/pkg/audit/policy/checker.go): the
 * rules in order, the first that matches gives the level (None when none matches) and the
 * stages to omit (the rule's and the policy's).
 *
 * A rule matches when every list it sets matches: `users` (the user name), `userGroups` (any
 * of the user's groups), `verbs`; then either `resources` / `namespaces` (resource requests
 * only; `""` in namespaces is a cluster-scoped object; resources `*`, `name/sub`, `*\/sub`,
 * `name/*`, with `resourceNames`) or `nonResourceURLs` (other paths; `*` at the end is a
 * prefix). Node-gateway gRPC calls are non-resource requests: the path
 * `/quantix.gateway.v1.NodeGateway/Method`, verb `post` (apiserver/audit/grpc.ts).
 *
 * The file is checked strictly: an unknown field, a bad level or stage, or a list of the wrong
 * type refuses the start, naming the rule and the field (`rules[2].verbs[0]: …`).
 */
import { parse as parseYaml } from 'yaml';
import type { UserInfo } from '../auth/identity.js';

export const AUDIT_LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type AuditLevel = (typeof AUDIT_LEVELS)[number];
export const AUDIT_STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type AuditStage = (typeof AUDIT_STAGES)[number];

export interface GroupResources {
  group: string;
  resources: string[];
  resourceNames: string[];
}

export interface PolicyRule {
  level: AuditLevel;
  users: string[];
  userGroups: string[];
  verbs: string[];
  resources: GroupResources[];
  namespaces: string[];
  nonResourceURLs: string[];
  omitStages: AuditStage[];
  omitManagedFields?: boolean;
}

export interface AuditPolicy {
  rules: PolicyRule[];
  omitStages: AuditStage[];
  omitManagedFields: boolean;
}

/** What a request is, as the policy sees it. */
export interface AuditAttributes {
  user?: UserInfo;
  /** Kubernetes' verb (get, list, watch, create…) for resource requests; the lower-case HTTP method otherwise. */
  verb: string;
  /** The path without the query. */
  path: string;
  resource?: {
    apiGroup: string;
    resource: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
}

/** The level and stages the policy gives a request. */
export interface AuditDecision {
  level: AuditLevel;
  omitStages: ReadonlySet<AuditStage>;
  omitManagedFields: boolean;
}

const NONE: AuditDecision = { level: 'None', omitStages: new Set(), omitManagedFields: false };

export function levelAtLeast(level: AuditLevel, least: AuditLevel): boolean {
  return AUDIT_LEVELS.indexOf(level) >= AUDIT_LEVELS.indexOf(least);
}

/** The decision for a request: the first matching rule's, or level None. */
const decisions = new WeakMap<PolicyRule, AuditDecision>();

export function evaluatePolicy(policy: AuditPolicy, attrs: AuditAttributes): AuditDecision {
  for (const rule of policy.rules) {
    if (!ruleMatches(rule, attrs)) continue;
    if (rule.level === 'None') return NONE;
    // One decision object per rule, made on first use: none allocated per request.
    let decision = decisions.get(rule);
    if (!decision) {
      decision = {
        level: rule.level,
        omitStages: new Set([...policy.omitStages, ...rule.omitStages]),
        omitManagedFields: rule.omitManagedFields ?? policy.omitManagedFields,
      };
      decisions.set(rule, decision);
    }
    return decision;
  }
  return NONE;
}

export function ruleMatches(rule: PolicyRule, attrs: AuditAttributes): boolean {
  const user = attrs.user;
  if (rule.users.length > 0 && (!user || !rule.users.includes(user.name))) return false;
  if (rule.userGroups.length > 0 && !user?.groups.some((group) => rule.userGroups.includes(group))) return false;
  if (rule.verbs.length > 0 && !rule.verbs.includes(attrs.verb)) return false;
  if (rule.namespaces.length > 0 || rule.resources.length > 0) return resourceMatches(rule, attrs);
  if (rule.nonResourceURLs.length > 0) return !attrs.resource && rule.nonResourceURLs.some((spec) => pathMatches(attrs.path, spec));
  return true;
}

function resourceMatches(rule: PolicyRule, attrs: AuditAttributes): boolean {
  const r = attrs.resource;
  if (!r) return false;
  if (rule.namespaces.length > 0 && !rule.namespaces.includes(r.namespace ?? '')) return false;
  if (rule.resources.length === 0) return true;
  const combined = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  for (const gr of rule.resources) {
    if (gr.group !== r.apiGroup) continue;
    if (gr.resources.length === 0) return true;
    if (gr.resourceNames.length > 0 && !gr.resourceNames.includes(r.name ?? '')) continue;
    for (const res of gr.resources) {
      if (res === combined || res === '*') return true;
      if (r.subresource && res.startsWith('*/') && res.slice(2) === r.subresource) return true;
      if (res.endsWith('/*') && res.slice(0, -2) === r.resource) return true;
    }
  }
  return false;
}

function pathMatches(path: string, spec: string): boolean {
  if (spec === '*' || spec === path) return true;
  return spec.endsWith('*') && path.startsWith(spec.slice(0, -1));
}

/** A policy file that cannot be used; the message names the file, the rule and the field. */
export class AuditPolicyError extends Error {}

/** Reads and checks a policy document (YAML or JSON). Throws AuditPolicyError naming each bad field. */
export function parseAuditPolicy(text: string, source = 'audit policy'): AuditPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new AuditPolicyError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  const policy = checkPolicy(doc, problems);
  if (problems.length > 0 || !policy) throw new AuditPolicyError(`${source}: ${problems.join('; ')}`);
  return policy;
}

type Problems = string[];

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function unknownFields(obj: Record<string, unknown>, known: readonly string[], where: string, problems: Problems): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) problems.push(`${where}${where ? '.' : ''}${key}: unknown field (known: ${known.join(', ')})`);
  }
}

function stringList(value: unknown, field: string, problems: Problems): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.push(`${field}: must be a list of strings`);
    return [];
  }
  const out: string[] = [];
  value.forEach((item, i) => {
    if (typeof item !== 'string') problems.push(`${field}[${i}]: must be a string, got ${JSON.stringify(item)}`);
    else out.push(item);
  });
  return out;
}

function stageList(value: unknown, field: string, problems: Problems): AuditStage[] {
  return stringList(value, field, problems).filter((stage, i) => {
    if ((AUDIT_STAGES as readonly string[]).includes(stage)) return true;
    problems.push(`${field}[${i}]: Unsupported value: ${JSON.stringify(stage)}: supported values: ${AUDIT_STAGES.map((s) => `"${s}"`).join(', ')}`);
    return false;
  }) as AuditStage[];
}

function optionalBool(value: unknown, field: string, problems: Problems): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    problems.push(`${field}: must be true or false`);
    return undefined;
  }
  return value;
}

const POLICY_FIELDS = ['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields'] as const;
const RULE_FIELDS = ['level', 'users', 'userGroups', 'verbs', 'resources', 'namespaces', 'nonResourceURLs', 'omitStages', 'omitManagedFields'] as const;
const GROUP_RESOURCE_FIELDS = ['group', 'resources', 'resourceNames'] as const;

function checkPolicy(doc: unknown, problems: Problems): AuditPolicy | undefined {
  if (!isObject(doc)) {
    problems.push('must be an audit.k8s.io/v1 Policy object');
    return undefined;
  }
  unknownFields(doc, POLICY_FIELDS, '', problems);
  if (doc.apiVersion !== 'audit.k8s.io/v1') problems.push(`apiVersion: must be "audit.k8s.io/v1", got ${JSON.stringify(doc.apiVersion)}`);
  if (doc.kind !== 'Policy') problems.push(`kind: must be "Policy", got ${JSON.stringify(doc.kind)}`);
  if (!Array.isArray(doc.rules) || doc.rules.length === 0) {
    problems.push('rules: Required value: at least one rule (a policy without rules audits nothing)');
    return undefined;
  }
  const rules = doc.rules.map((raw, i) => checkRule(raw, `rules[${i}]`, problems));
  return {
    rules: rules.filter((r): r is PolicyRule => r !== undefined),
    omitStages: stageList(doc.omitStages, 'omitStages', problems),
    omitManagedFields: optionalBool(doc.omitManagedFields, 'omitManagedFields', problems) ?? false,
  };
}

function checkRule(raw: unknown, where: string, problems: Problems): PolicyRule | undefined {
  if (!isObject(raw)) {
    problems.push(`${where}: must be an object`);
    return undefined;
  }
  unknownFields(raw, RULE_FIELDS, where, problems);
  const level = raw.level;
  if (typeof level !== 'string' || !(AUDIT_LEVELS as readonly string[]).includes(level)) {
    problems.push(
      level === undefined
        ? `${where}.level: Required value`
        : `${where}.level: Unsupported value: ${JSON.stringify(level)}: supported values: ${AUDIT_LEVELS.map((l) => `"${l}"`).join(', ')}`,
    );
  }
  const rule: PolicyRule = {
    level: level as AuditLevel,
    users: stringList(raw.users, `${where}.users`, problems),
    userGroups: stringList(raw.userGroups, `${where}.userGroups`, problems),
    verbs: stringList(raw.verbs, `${where}.verbs`, problems),
    resources: [],
    namespaces: stringList(raw.namespaces, `${where}.namespaces`, problems),
    nonResourceURLs: stringList(raw.nonResourceURLs, `${where}.nonResourceURLs`, problems),
    omitStages: stageList(raw.omitStages, `${where}.omitStages`, problems),
  };
  const omitManagedFields = optionalBool(raw.omitManagedFields, `${where}.omitManagedFields`, problems);
  if (omitManagedFields !== undefined) rule.omitManagedFields = omitManagedFields;
  if (raw.resources !== undefined && raw.resources !== null) {
    if (!Array.isArray(raw.resources)) problems.push(`${where}.resources: must be a list of {group, resources, resourceNames}`);
    else rule.resources = raw.resources.map((gr, i) => checkGroupResources(gr, `${where}.resources[${i}]`, problems));
  }
  rule.verbs.forEach((verb, i) => {
    if (verb !== verb.toLowerCase() || verb.trim() === '')
      problems.push(
        `${where}.verbs[${i}]: Invalid value: ${JSON.stringify(verb)}: verbs are lower case (get, list, watch, create, update, patch, delete, deletecollection, or an HTTP method for non-resource URLs)`,
      );
  });
  if (rule.nonResourceURLs.length > 0 && (rule.resources.length > 0 || rule.namespaces.length > 0)) {
    problems.push(`${where}.nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs`);
  }
  rule.nonResourceURLs.forEach((url, i) => {
    if (url === '*') return;
    if (!url.startsWith('/'))
      problems.push(`${where}.nonResourceURLs[${i}]: Invalid value: ${JSON.stringify(url)}: non-resource URLs must start with "/" (or be "*")`);
    else if (url.slice(0, -1).includes('*'))
      problems.push(`${where}.nonResourceURLs[${i}]: Invalid value: ${JSON.stringify(url)}: "*" is only allowed at the end`);
  });
  return rule;
}

function checkGroupResources(raw: unknown, where: string, problems: Problems): GroupResources {
  const out: GroupResources = { group: '', resources: [], resourceNames: [] };
  if (!isObject(raw)) {
    problems.push(`${where}: must be an object {group, resources, resourceNames}`);
    return out;
  }
  unknownFields(raw, GROUP_RESOURCE_FIELDS, where, problems);
  if (raw.group !== undefined && raw.group !== null && typeof raw.group !== 'string') problems.push(`${where}.group: must be a string ("" is the core group)`);
  else out.group = (raw.group as string | undefined) ?? '';
  out.resources = stringList(raw.resources, `${where}.resources`, problems);
  out.resourceNames = stringList(raw.resourceNames, `${where}.resourceNames`, problems);
  out.resources.forEach((res, i) => {
    const parts = res.split('/');
    if (parts.length > 2 || parts.some((p) => p === '') || (res.includes('*') && !['*', '*/'].some((w) => res.startsWith(w)) && !res.endsWith('/*'))) {
      problems.push(`${where}.resources[${i}]: Invalid value: ${JSON.stringify(res)}: use "name", "name/subresource", "*", "*/subresource" or "name/*"`);
    }
    if (res.includes('*') && out.resourceNames.length > 0) {
      problems.push(`${where}.resources[${i}]: Invalid value: ${JSON.stringify(res)}: a wildcard cannot go with resourceNames`);
    }
  });
  return out;
}
