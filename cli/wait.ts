/**
 * Waiting for objects to converge, with a progress line on stderr and, on timeout, an
 * error naming every object that did not converge and why: its state, its conditions
 * and its most recent Events.
 *
 * Each object is followed with list+watch (field selector metadata.name), so a wait
 * reacts at once and survives dropped connections.
 */
import type { Event } from '../api-types/generated/types.js';
import type { KubeObject } from '../api-types/meta.js';
import { eventDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { humanDuration } from '../api-types/schema/printing.js';
import { formatDuration } from './args.js';
import type { Client } from './client.js';
import { resourcePath } from '../api-types/group-version.js';
import type { Io } from './command.js';
import type { Convergence } from './converge.js';
import { CliError, ExitCode, TimeoutError } from './errors.js';
import { conditionSummary } from './output.js';
import { listWatch } from './watch.js';

export interface WaitTarget {
  def: ResourceDefinition;
  namespace?: string;
  name: string;
  /** `virtualmachine.quantix.io/web` */
  label: string;
  check(obj: KubeObject | undefined): Convergence;
}

export interface WaitOptions {
  timeoutMs: number;
  io: Io;
  /** Printed on stdout for each object once it converges (default `LABEL STATE`). */
  onDone?(target: WaitTarget, obj: KubeObject | undefined, c: Convergence): void;
}

interface Tracked {
  target: WaitTarget;
  obj?: KubeObject;
  conv?: Convergence;
  done: boolean;
}

/** A progress reporter: redraws one line on a TTY, prints each change otherwise. */
export class Progress {
  #last = '';
  #drawn = false;
  constructor(private readonly io: Io) {}

  update(text: string, changed: boolean): void {
    if (this.io.isTTY) {
      const width = Math.max(20, (process.stderr.columns || 120) - 1);
      const line = text.length > width ? text.slice(0, width - 1) + '…' : text;
      process.stderr.write(`\r\x1b[2K${line}`);
      this.#drawn = true;
    } else if (changed && text !== this.#last) {
      this.io.err(text);
    }
    this.#last = text;
  }

  /** Clears the redrawn line before other output. */
  clear(): void {
    if (this.#drawn) process.stderr.write('\r\x1b[2K');
    this.#drawn = false;
  }
}

/** The most recent Events about an object (newest first), or [] when they cannot be read. */
export async function recentEvents(
  client: Client,
  def: ResourceDefinition,
  obj: KubeObject | undefined,
  namespace: string | undefined,
  name: string,
  limit = 5,
): Promise<Event[]> {
  const selector = [`involvedObject.name=${name}`, `involvedObject.kind=${def.kind}`];
  if (def.namespaced && namespace) selector.push(`involvedObject.namespace=${namespace}`);
  if (obj?.metadata.uid) selector.push(`involvedObject.uid=${obj.metadata.uid}`);
  try {
    const list = await client.get<{ items: Event[] }>(resourcePath(eventDefinition, def.namespaced ? namespace : undefined), {
      query: { fieldSelector: selector.join(',') },
    });
    return [...list.items].sort((a, b) => eventTime(b) - eventTime(a)).slice(0, limit);
  } catch {
    return [];
  }
}

export function eventTime(e: Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
  return t ? Date.parse(t) : 0;
}

/** Lines explaining why one object has not converged: its state, conditions and latest Events. */
export async function diagnose(client: Client, t: Tracked, now = new Date()): Promise<string[]> {
  const { target } = t;
  const lines = [
    `${target.label}${target.namespace ? ` (namespace ${target.namespace})` : ''}: ${t.conv?.state ?? 'not observed'}; want ${t.conv?.want ?? 'convergence'}`,
  ];
  const conditions = (t.obj as { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } } | undefined)?.status
    ?.conditions;
  for (const c of conditionSummary(conditions)) lines.push(`  condition ${c}`);
  const events = await recentEvents(client, target.def, t.obj, target.namespace, target.name);
  for (const e of events) {
    const age = eventTime(e) ? `${humanDuration(now.getTime() - eventTime(e))} ago ` : '';
    lines.push(`  event ${age}${e.type ?? 'Normal'} ${e.reason ?? ''}: ${e.message ?? ''}`);
  }
  if (!conditions?.length && !events.length) lines.push('  (no conditions or events reported yet)');
  return lines;
}

/** Waits until every target converges; throws TimeoutError (exit 7) naming what did not. */
export async function waitFor(client: Client, targets: WaitTarget[], opts: WaitOptions): Promise<void> {
  if (targets.length === 0) return;
  const tracked: Tracked[] = targets.map((target) => ({ target, done: false }));
  const progress = new Progress(opts.io);
  const started = Date.now();
  const controller = new AbortController();
  let failure: unknown;

  const render = (changed: boolean) => {
    const pending = tracked.filter((t) => !t.done);
    if (pending.length === 0) return;
    const elapsed = formatDuration(Date.now() - started);
    const parts = pending.map((t) => `${t.target.label}: ${t.conv ? `${t.conv.state} → want ${t.conv.want}` : 'waiting for status'}`);
    progress.update(`waiting (${elapsed}) for ${parts.join('; ')}`, changed);
  };

  const observe = (t: Tracked, obj: KubeObject | undefined): boolean => {
    t.obj = obj;
    const before = t.conv?.state;
    const conv = t.target.check(obj);
    t.conv = conv;
    if (conv.done) {
      t.done = true;
      progress.clear();
      if (opts.onDone) opts.onDone(t.target, obj, conv);
      else opts.io.out(`${t.target.label} ${conv.state}`);
      render(true);
      return true;
    }
    if (conv.failure) {
      failure ??= new CliError(`${t.target.label} did not converge: ${conv.failure} (${conv.state})`, obj ? ExitCode.Timeout : ExitCode.NotFound);
      controller.abort();
      return true;
    }
    render(before !== conv.state);
    return false;
  };

  const follow = async (t: Tracked) => {
    const { def, namespace, name } = t.target;
    try {
      await listWatch<{ items: KubeObject[] }, KubeObject>(
        client,
        resourcePath(def, namespace),
        { fieldSelector: `metadata.name=${name}` },
        {
          onList: (list) =>
            observe(
              t,
              list.items.find((o) => o.metadata.name === name),
            ),
          onEvent: (ev) => observe(t, ev.type === 'DELETED' ? undefined : ev.object),
        },
        { signal: controller.signal },
      );
    } catch (err) {
      if (controller.signal.aborted) return;
      failure ??= err;
      controller.abort();
    }
  };

  const ticker = setInterval(() => render(false), 1000);
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
  try {
    await Promise.all(tracked.map(follow));
  } finally {
    clearInterval(ticker);
    clearTimeout(timer);
    progress.clear();
  }
  if (failure) throw failure;
  const pending = tracked.filter((t) => !t.done);
  if (pending.length === 0) return;
  const diagnoses = await Promise.all(pending.map((t) => diagnose(client, t)));
  const what = tracked.length === 1 ? 'it did not converge' : `${pending.length} of ${tracked.length} objects did not converge`;
  throw new TimeoutError(`timed out after ${formatDuration(opts.timeoutMs)}; ${what}:\n${diagnoses.map((lines) => `  ${lines.join('\n  ')}`).join('\n')}`);
}
