/**
 * `qxctl vm snapshot VM [--name NAME]` and `qxctl vm restore VM SNAPSHOT`: create a
 * VirtualMachineSnapshot / VirtualMachineRestore and wait, with progress like the other vm
 * verbs, until it is Ready / Succeeded. Refusals (no such VM, no disks, VM running, snapshot
 * not Ready) come from the apiserver's admission as a Status and are shown as they are.
 */
import type { VirtualMachineRestore, VirtualMachineSnapshot } from '../../api-types/generated/types.js';
import type { KubeObject } from '../../api-types/meta.js';
import { virtualMachineRestoreDefinition, virtualMachineSnapshotDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { resourcePath } from '../../api-types/group-version.js';
import { qualifiedKind, type Client } from '../client.js';
import { flagBool, flagNumber, flagString, TIMEOUT_FLAG, type Command, type Ctx } from '../command.js';
import type { Convergence } from '../converge.js';
import { waitFor } from '../wait.js';

const SNAP = virtualMachineSnapshotDefinition as unknown as ResourceDefinition;
const RESTORE = virtualMachineRestoreDefinition as unknown as ResourceDefinition;

const WAIT_FLAGS = [
  { name: 'wait', type: 'boolean' as const, default: true, description: 'Wait until it is done.' },
  TIMEOUT_FLAG(600_000, 'for the snapshot or restore'),
];

/** A name for a snapshot nobody named: the VM and the time, as a DNS label. */
export function defaultSnapshotName(vm: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
  return `${vm.slice(0, 63 - stamp.length - 1)}-${stamp}`;
}

export function snapshotConvergence(obj: KubeObject | undefined): Convergence {
  const s = obj as VirtualMachineSnapshot | undefined;
  if (!s) return { done: false, state: 'deleted', want: 'phase Ready', failure: 'the snapshot was deleted' };
  const phase = s.status?.phase ?? 'Pending';
  const state = `phase ${phase}${s.status?.message ? `: ${s.status.message}` : ''}`;
  if (phase === 'Failed') return { done: false, state, want: 'phase Ready', failure: s.status?.message ?? 'the snapshot failed' };
  return { done: phase === 'Ready', state, want: 'phase Ready' };
}

export function restoreConvergence(obj: KubeObject | undefined): Convergence {
  const r = obj as VirtualMachineRestore | undefined;
  if (!r) return { done: false, state: 'deleted', want: 'phase Succeeded', failure: 'the restore was deleted' };
  const phase = r.status?.phase ?? 'Pending';
  const state = `phase ${phase}${r.status?.message ? `: ${r.status.message}` : ''}`;
  if (phase === 'Failed') return { done: false, state, want: 'phase Succeeded', failure: r.status?.message ?? 'the restore failed' };
  return { done: phase === 'Succeeded', state, want: 'phase Succeeded' };
}

async function createAndWait(
  ctx: Ctx,
  client: Client,
  def: ResourceDefinition,
  obj: KubeObject,
  check: (o: KubeObject | undefined) => Convergence,
  done: (o: KubeObject | undefined) => string,
) {
  const namespace = client.namespace;
  await client.request('POST', resourcePath(def, namespace), { body: obj });
  const label = `${qualifiedKind(def)}/${obj.metadata.name!}`;
  ctx.io.out(`${label} created`);
  if (!flagBool(ctx, 'wait')) return;
  await waitFor(client, [{ def, namespace, name: obj.metadata.name!, label, check }], {
    timeoutMs: flagNumber(ctx, 'timeout'),
    io: ctx.io,
    onDone: (t, o) => ctx.io.out(`${t.label} ${done(o)}`),
  });
}

export const snapshotCommands: Command[] = [
  {
    name: 'vm snapshot',
    summary: "Snapshot a VM's disks and wait until the snapshot is Ready.",
    usage: 'vm snapshot VM [--name NAME] [--wait=false] [--timeout DURATION] [flags]',
    description:
      'Creates a VirtualMachineSnapshot of the VM (internal qcow2 snapshots of each disk). A running VM\n' +
      'has its file systems frozen through qemu-guest-agent around the snapshot; without an answering\nagent the snapshot is crash-consistent (status.consistency says which). Then waits with a\nprogress line until it is Ready.',
    examples: ['qxctl vm snapshot web', 'qxctl vm snapshot web --name before-upgrade -n prod'],
    flags: [{ name: 'name', type: 'string', valueName: 'NAME', description: 'Name of the snapshot (default: VM-YYYYMMDD-HHMMSS).' }, ...WAIT_FLAGS],
    args: { min: 1, max: 1 },
    run: async (ctx) => {
      const client = await ctx.client();
      const vm = ctx.args[0]!;
      const name = flagString(ctx, 'name') ?? defaultSnapshotName(vm, new Date());
      const obj: VirtualMachineSnapshot = {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachineSnapshot',
        metadata: { name, namespace: client.namespace },
        spec: { virtualMachineName: vm },
      };
      await createAndWait(ctx, client, SNAP, obj as KubeObject, snapshotConvergence, (o) => {
        const s = (o as VirtualMachineSnapshot | undefined)?.status;
        return `ready (${s?.consistency ?? '?'}${s?.frozen ? ', file systems frozen' : ''})`;
      });
    },
  },
  {
    name: 'vm restore',
    summary: "Restore a stopped VM's disks from a snapshot and wait until done.",
    usage: 'vm restore VM SNAPSHOT [--wait=false] [--timeout DURATION] [flags]',
    description:
      'Creates a VirtualMachineRestore: the disks of the VM (which must be stopped: qxctl vm stop VM)\n' +
      'go back to the VirtualMachineSnapshot. Then waits until it Succeeded; start the VM afterwards.',
    examples: ['qxctl vm stop web && qxctl vm restore web before-upgrade && qxctl vm start web'],
    flags: WAIT_FLAGS,
    args: { min: 2, max: 2 },
    run: async (ctx) => {
      const client = await ctx.client();
      const [vm, snapshot] = [ctx.args[0]!, ctx.args[1]!];
      const name = defaultSnapshotName(`${vm}-restore`, new Date());
      const obj: VirtualMachineRestore = {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachineRestore',
        metadata: { name, namespace: client.namespace },
        spec: { virtualMachineName: vm, snapshotName: snapshot },
      };
      await createAndWait(
        ctx,
        client,
        RESTORE,
        obj as KubeObject,
        restoreConvergence,
        () => `restored from ${snapshot}; start the VM with: qxctl vm start ${vm}`,
      );
    },
  },
];
