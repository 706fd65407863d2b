/**
 * VM intent verbs: they patch the VM's spec (never its status) and wait, with progress,
 * until the agent reports the matching phase.
 *
 *   start    spec.runStrategy=Always, spec.paused=false  → Running
 *   stop     spec.runStrategy=Halted                     → Stopped
 *   pause    spec.paused=true                            → Paused
 *   resume   spec.paused=false                           → Running
 *   restart  annotation quantix.io/restart-requested-at  → restartCount grows, Running
 */
import type { VirtualMachine, VirtualMachinePhase } from '../../api-types/generated/types.js';
import type { KubeObject } from '../../api-types/meta.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { qualifiedKind, type Client } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import { RESTART_ANNOTATION, restartRequestPatch } from '../../api-types/vm-restart.js';
import { flagBool, flagNumber, TIMEOUT_FLAG, type Command, type Ctx } from '../command.js';
import { vmConvergence, vmState, type Convergence } from '../converge.js';
import { MultiError } from '../errors.js';
import { waitFor, type WaitTarget } from '../wait.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;

const WAIT_FLAGS = [
  { name: 'wait', type: 'boolean' as const, default: true, description: 'Wait for the VM to reach the phase.' },
  TIMEOUT_FLAG(300_000, 'for the phase'),
];

interface Intent {
  verb: string;
  summary: string;
  description: string;
  /** The merge patch for the VM as it is now. */
  patch(vm: VirtualMachine, now: Date): Record<string, unknown>;
  /** Nothing to do: the spec already says so (still waits for the phase). */
  alreadySet(vm: VirtualMachine): boolean;
  /** What "done" is, given the VM as read before the patch. */
  check(before: VirtualMachine): (obj: KubeObject | undefined) => Convergence;
  done: string;
  /** What the spec already says when there is nothing to patch. */
  already: string;
}

const phaseCheck = (phases: VirtualMachinePhase[]) => () => (obj: KubeObject | undefined) => vmConvergence(obj as VirtualMachine | undefined, phases);

/** Restart is done when the agent counted a restart after the request and the VM runs again. */
export function restartCheck(before: VirtualMachine) {
  const prior = before.status?.restartCount ?? 0;
  return (obj: KubeObject | undefined): Convergence => {
    const base = vmConvergence(obj as VirtualMachine | undefined, ['Running']);
    if (!obj || base.failure) return base;
    const count = (obj as VirtualMachine).status?.restartCount ?? 0;
    const restarted = count > prior;
    return {
      ...base,
      done: base.done && restarted,
      state: `${vmState(obj as VirtualMachine)}${restarted ? `, restarted (restartCount ${count})` : `, restart not done yet (restartCount ${count})`}`,
      want: `a restart (restartCount > ${prior}) and phase Running`,
    };
  };
}

export const INTENTS: Intent[] = [
  {
    verb: 'start',
    summary: 'Start a VM (runStrategy Always) and wait until it is Running.',
    description: 'Sets spec.runStrategy to Always (and spec.paused to false): the agent starts the domain and keeps it running.',
    patch: () => ({ spec: { runStrategy: 'Always', paused: false } }),
    alreadySet: (vm) => (vm.spec.runStrategy ?? 'Always') === 'Always' && !vm.spec.paused,
    check: phaseCheck(['Running']),
    done: 'started',
    already: 'runStrategy is already Always',
  },
  {
    verb: 'stop',
    summary: 'Stop a VM (runStrategy Halted) and wait until it is Stopped.',
    description: 'Sets spec.runStrategy to Halted: the agent shuts the guest down (ACPI, then forced off after a timeout) and keeps it off.',
    patch: () => ({ spec: { runStrategy: 'Halted' } }),
    alreadySet: (vm) => vm.spec.runStrategy === 'Halted',
    check: phaseCheck(['Stopped']),
    done: 'stopped',
    already: 'runStrategy is already Halted',
  },
  {
    verb: 'restart',
    summary: 'Restart a running VM and wait until it runs again.',
    description: `Sets the annotation ${RESTART_ANNOTATION} to the current time; the agent restarts the domain, counts it in status.restartCount and reports Running.`,
    patch: (_vm, now) => restartRequestPatch(now),
    alreadySet: () => false,
    check: restartCheck,
    done: 'restarted',
    already: '',
  },
  {
    verb: 'pause',
    summary: 'Pause a running VM (spec.paused) and wait until it is Paused.',
    description: 'Sets spec.paused to true: the agent suspends the domain (its memory stays allocated).',
    patch: () => ({ spec: { paused: true } }),
    alreadySet: (vm) => vm.spec.paused === true,
    check: phaseCheck(['Paused']),
    done: 'paused',
    already: 'is already paused in spec',
  },
  {
    verb: 'resume',
    summary: 'Resume a paused VM and wait until it is Running.',
    description: 'Sets spec.paused to false: the agent resumes the domain.',
    patch: () => ({ spec: { paused: false } }),
    alreadySet: (vm) => !vm.spec.paused,
    check: phaseCheck(['Running']),
    done: 'resumed',
    already: 'is not paused in spec',
  },
];

export const vmCommands: Command[] = INTENTS.map((intent) => ({
  name: `vm ${intent.verb}`,
  summary: intent.summary,
  usage: `vm ${intent.verb} NAME... [--wait=false] [--timeout DURATION] [flags]`,
  description: `${intent.description}\nThen waits with a progress line (unless --wait=false / --no-wait); on timeout the error\nnames the phase, the VM's conditions and its latest Events.`,
  examples: [`qxctl vm ${intent.verb} web`, `qxctl vm ${intent.verb} web db -n prod --no-wait`],
  flags: WAIT_FLAGS,
  args: { min: 1 },
  run: (ctx) => runIntent(ctx, intent),
}));

async function runIntent(ctx: Ctx, intent: Intent): Promise<void> {
  const client: Client = await ctx.client();
  const namespace = client.namespace;
  const targets: WaitTarget[] = [];
  const errors: unknown[] = [];
  for (const name of ctx.args) {
    const label = `${qualifiedKind(VM)}/${name}`;
    try {
      const before = await client.get<VirtualMachine>(resourcePath(VM, namespace, name));
      if (intent.alreadySet(before)) ctx.io.out(`${label} ${intent.already}`);
      else {
        await client.mergePatch(VM, namespace, name, intent.patch(before, new Date()));
        ctx.io.out(`${label} ${intent.verb} requested`);
      }
      targets.push({ def: VM, namespace, name, label, check: intent.check(before) });
    } catch (err) {
      errors.push(err);
    }
  }
  if (flagBool(ctx, 'wait') && targets.length) {
    await waitFor(client, targets, {
      timeoutMs: flagNumber(ctx, 'timeout'),
      io: ctx.io,
      onDone: (t, obj) => ctx.io.out(`${t.label} ${intent.done} (phase ${(obj as VirtualMachine | undefined)?.status?.phase ?? '?'})`),
    });
  }
  if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
}

/**
 * `qxctl vm clone SRC DST`: the clone subresource (api-types/vm-clone.ts) creates DST with
 * copies of SRC's disks; then waits until the agent copied them and DST reached the phase
 * its runStrategy asks for.
 */
export const cloneCommand: Command = {
  name: 'vm clone',
  summary: 'Clone a stopped VM: a new VM with copies of its disks, a new uid, MACs and host name.',
  usage: 'vm clone SRC DST [--wait=false] [--timeout DURATION] [flags]',
  description: `
Asks the apiserver (POST virtualmachines/SRC/clone) to create DST in the same namespace, on
SRC's node, with SRC's spec: each disk starts as a full copy of SRC's (spec.disks[].cloneFrom),
made by the node's agent while SRC is shut off. DST gets its own uid, so new MAC addresses and a
new cloud-init instance id (the guest runs its first-boot set-up again, with DST as its host
name); fixed MACs, host port forwards and an explicit cloudInit.hostname are not copied.
SRC must be stopped (qxctl vm stop SRC). Then waits for DST's phase (unless --wait=false).`,
  examples: ['qxctl vm clone web web-2', 'qxctl vm clone web web-test -n prod --no-wait'],
  flags: WAIT_FLAGS,
  args: { min: 2, max: 2 },
  async run(ctx) {
    const client: Client = await ctx.client();
    const namespace = client.namespace;
    const [src, dst] = ctx.args as [string, string];
    await client.request('POST', resourcePath(VM, namespace, src, 'clone'), {
      body: { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachineCloneOptions', name: dst },
    });
    const label = `${qualifiedKind(VM)}/${dst}`;
    ctx.io.out(`${label} created (clone of ${src})`);
    if (!flagBool(ctx, 'wait')) return;
    await waitFor(client, [{ def: VM, namespace, name: dst, label, check: (obj) => vmConvergence(obj as VirtualMachine | undefined) }], {
      timeoutMs: flagNumber(ctx, 'timeout'),
      io: ctx.io,
      onDone: (t, obj) => ctx.io.out(`${t.label} cloned (phase ${(obj as VirtualMachine | undefined)?.status?.phase ?? '?'})`),
    });
  },
};
