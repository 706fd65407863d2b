/**
 * `qxctl logs [component | node/NAME | vm/[NS/]NAME]`: the cluster's log records through
 * GET /logs (every host's files, agents through the node gateway), filtered, as text, CSV or
 * JSON lines; `-f` follows. Sources that do not answer are named on stderr; the exit code
 * is non-zero only when none answered.
 *
 * `vm/NS/NAME`: the records of every write the VM had (the correlation ids its audit
 * records carry: create, update, patch, delete of virtualmachines/NAME in NS), and any
 * record whose field `vm` is `NS/NAME`.
 */
import { toCsv, toJsonLines, toText } from '../../lib/logging/export.js';
import type { LogRecord } from '../../lib/logging/record.js';
import { LOG_LEVELS } from '../../lib/logging/record.js';
import type { Query } from '../../lib/apiclient/request.js';
import { flagBool, flagNumber, flagString, OUTPUT_FLAG, type Command, type Ctx } from '../command.js';
import { CliError, ExitCode, UsageError } from '../errors.js';

interface LogSource {
  component: string;
  node: string;
  state: 'ok' | 'unreachable' | 'error';
  message?: string;
}

interface LogList {
  items: LogRecord[];
  sources: LogSource[];
}

export type LogTarget =
  | { kind: 'all' }
  | { kind: 'component'; component: string }
  | { kind: 'node'; node: string }
  | { kind: 'vm'; namespace: string; name: string };

/** The positional argument: a component, `node/NAME`, `vm/NS/NAME` or `vm/NAME` (namespace from -n). */
export function parseLogTarget(arg: string | undefined, namespace: string): LogTarget {
  if (arg === undefined) return { kind: 'all' };
  const parts = arg.split('/');
  if (parts[0] === 'node' || parts[0] === 'nodes') {
    if (parts.length !== 2 || !parts[1]) throw new UsageError(`"${arg}": expected node/NAME`, 'qxctl logs');
    return { kind: 'node', node: parts[1] };
  }
  if (parts[0] === 'vm' || parts[0] === 'vms' || parts[0] === 'virtualmachine' || parts[0] === 'virtualmachines') {
    if (parts.length === 2 && parts[1]) return { kind: 'vm', namespace, name: parts[1] };
    if (parts.length === 3 && parts[1] && parts[2]) return { kind: 'vm', namespace: parts[1], name: parts[2] };
    throw new UsageError(`"${arg}": expected vm/NAMESPACE/NAME or vm/NAME`, 'qxctl logs');
  }
  if (parts.length !== 1 || !/^[a-z][a-z0-9-]*$/.test(arg)) {
    throw new UsageError(`"${arg}": expected a component (apiserver, controller-manager, agent, ui, audit…), node/NAME or vm/NAMESPACE/NAME`, 'qxctl logs');
  }
  return { kind: 'component', component: arg };
}

const MUTATING_VERBS = new Set(['create', 'update', 'patch', 'delete']);

/** What an audit record's message says of a VM (`update virtualmachines NS/NAME → 200`, lib/logging/query.ts). */
export function vmAuditText(namespace: string, name: string): string {
  return `virtualmachines ${namespace}/${name}`;
}

/** The correlation ids of a VM's writes, from its audit records (newest last): by the request URI or, for a create, the object named in the message. */
export function vmWriteCorrelationIds(auditRecords: readonly LogRecord[], namespace: string, name: string): string[] {
  const uri = new RegExp(`/namespaces/${escapeRegExp(namespace)}/virtualmachines/${escapeRegExp(name)}(?:[/?]|$)`);
  const message = new RegExp(`^\\S+ virtualmachines(?:/\\S+)? ${escapeRegExp(`${namespace}/${name}`)}(?: |$)`);
  const ids: string[] = [];
  for (const r of auditRecords) {
    if (!r.correlationId || !MUTATING_VERBS.has(String(r.verb))) continue;
    if (!uri.test(String(r.requestURI ?? '')) && !message.test(r.message)) continue;
    if (!ids.includes(r.correlationId)) ids.push(r.correlationId);
  }
  return ids;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** At most this many of a VM's writes are followed up (the newest). */
const MAX_VM_WRITES = 50;

/** The records as lines without the final line break (io.out adds it); CSV with the Unix line ends of a terminal. */
function format(records: readonly LogRecord[], output: string, header: boolean): string {
  let text: string;
  if (output === 'json') text = toJsonLines(records);
  else if (output === 'csv') {
    const csv = toCsv(records).replace(/\r\n/g, '\n');
    text = header ? csv : csv.slice(csv.indexOf('\n') + 1);
  } else text = toText(records);
  return text.replace(/\n$/, '');
}

function reportSources(ctx: Ctx, sources: readonly LogSource[]): void {
  for (const s of sources) if (s.state !== 'ok') ctx.io.err(`qxctl logs: ${s.component} on ${s.node} ${s.state}${s.message ? `: ${s.message}` : ''}`);
}

export const logsCommand: Command = {
  name: 'logs',
  summary: 'Read the log records of every component and host',
  usage: 'logs [COMPONENT | node/NAME | vm/[NAMESPACE/]NAME] [flags]',
  description: [
    'Reads the log files of every host through the apiserver (GET /logs): the control plane',
    "hosts' (apiserver, controller-manager, audit, ui) and each agent's through the node gateway.",
    'Records come in time order, the newest --limit that match. A component or host that does',
    'not answer is named on stderr; the exit code is non-zero only when no source answered.',
    '',
    'vm/NAMESPACE/NAME selects the records of every write the VM had (the correlation ids of its',
    'audit records) and any record whose field vm is NAMESPACE/NAME.',
    '',
    '--since and --until take an RFC 3339 time (2026-12-07T08:00:00Z) or a duration back from now (10m, 2h).',
    '-o json writes one JSON record per line; csv starts with the header time,level,component,node,correlationId,message.',
  ].join('\n'),
  examples: [
    'qxctl logs --correlation-id 3f0c…   # one action, across components and hosts',
    'qxctl logs agent --level warn --since 1h',
    'qxctl logs node/host-1 -f',
    'qxctl logs vm/default/web -o csv > web.csv',
  ],
  flags: [
    { name: 'since', type: 'string', valueName: 'TIME', description: 'Records at or after this time (RFC 3339, or a duration back from now: 10m).' },
    { name: 'until', type: 'string', valueName: 'TIME', description: 'Records at or before this time (RFC 3339 or a duration).' },
    { name: 'level', type: 'string', valueName: 'LEVEL', choices: LOG_LEVELS, description: 'Minimum level: warn means warn and error.' },
    { name: 'correlation-id', type: 'string', valueName: 'ID', description: "One action's records (X-Request-Id, annotation quantix.io/correlation-id)." },
    { name: 'grep', type: 'string', valueName: 'TEXT', description: 'Records whose message or fields contain TEXT (any case).' },
    { name: 'follow', short: 'f', type: 'boolean', description: 'After the matching tail, print new records as they are written.' },
    { name: 'limit', type: 'int', valueName: 'N', default: 1000, description: 'The newest N matching records (1–10000).' },
    OUTPUT_FLAG(['txt', 'csv', 'json']),
  ],
  args: { max: 1 },
  async run(ctx) {
    const api = await ctx.client();
    const target = parseLogTarget(ctx.args[0], api.namespace);
    const output = flagString(ctx, 'output') ?? 'txt';
    const follow = flagBool(ctx, 'follow');
    const limit = flagNumber(ctx, 'limit');
    const query: Query = {
      since: flagString(ctx, 'since'),
      until: flagString(ctx, 'until'),
      level: flagString(ctx, 'level'),
      correlationId: flagString(ctx, 'correlation-id'),
      grep: flagString(ctx, 'grep'),
      limit,
      ...(target.kind === 'component' ? { component: target.component } : {}),
      ...(target.kind === 'node' ? { node: target.node } : {}),
    };

    if (target.kind === 'vm') {
      if (follow) throw new UsageError('-f does not go with vm/…: follow one of its writes with --correlation-id ID', 'qxctl logs');
      const answered = new Set<string>();
      const sources = new Map<string, LogSource>();
      const get = async (q: Query): Promise<LogRecord[]> => {
        const list = await api.get<LogList>('/logs', { query: q });
        for (const s of list.sources) {
          const key = `${s.component}/${s.node}`;
          if (s.state === 'ok') answered.add(key);
          sources.set(key, sources.get(key)?.state === 'ok' ? sources.get(key)! : s);
        }
        return list.items;
      };
      const audit = await get({ component: 'audit', grep: vmAuditText(target.namespace, target.name), limit: 10_000 });
      const ids = vmWriteCorrelationIds(audit, target.namespace, target.name).slice(-MAX_VM_WRITES);
      const byKey = new Map<string, LogRecord>();
      const add = (records: LogRecord[]) => {
        for (const r of records) byKey.set(JSON.stringify(r), r);
      };
      for (const id of ids) add(await get({ ...query, correlationId: id }));
      add((await get({ ...query, grep: `${target.namespace}/${target.name}` })).filter((r) => r.vm === `${target.namespace}/${target.name}`));
      const records = [...byKey.values()].sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).slice(-limit);
      ctx.io.out(format(records, output, true));
      reportSources(ctx, [...sources.values()]);
      if (answered.size === 0) throw new CliError('no log source answered', ExitCode.Unavailable);
      return;
    }

    if (!follow) {
      const list = await api.get<LogList>('/logs', { query });
      const text = format(list.items, output, true);
      if (text) ctx.io.out(text);
      reportSources(ctx, list.sources);
      if (!list.sources.some((s) => s.state === 'ok')) throw new CliError('no log source answered', ExitCode.Unavailable);
      return;
    }

    // Follow until interrupted (Ctrl-C ends the process) or the server ends the stream.
    let header = true;
    let anyOk = false;
    for await (const text of api.lines('/logs', { ...query, follow: true })) {
      let line: { type: string; record?: LogRecord; source?: LogSource };
      try {
        line = JSON.parse(text) as typeof line;
      } catch {
        continue;
      }
      if (line.type === 'record' && line.record) {
        ctx.io.out(format([line.record], output, header));
        header = false;
      } else if (line.type === 'source' && line.source) {
        if (line.source.state === 'ok') anyOk = true;
        reportSources(ctx, [line.source]);
        if (output === 'csv' && header) {
          // The header comes first even before any record.
          ctx.io.out(format([], output, true));
          header = false;
        }
      }
    }
    if (!anyOk) throw new CliError('no log source answered', ExitCode.Unavailable);
  },
};
