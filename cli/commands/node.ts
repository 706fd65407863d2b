/** Node verbs: cordon / uncordon (spec.unschedulable). */
import type { Node } from '../../api-types/generated/types.js';
import { nodeDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { qualifiedKind } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import type { Command } from '../command.js';
import { MultiError } from '../errors.js';

const QN = nodeDefinition as unknown as ResourceDefinition;

function cordonCommand(cordon: boolean): Command {
  const verb = cordon ? 'cordon' : 'uncordon';
  return {
    name: `node ${verb}`,
    summary: cordon ? 'Mark nodes unschedulable: no new VMs are placed on them.' : 'Mark nodes schedulable again.',
    usage: `node ${verb} NAME... [flags]`,
    description: `Sets spec.unschedulable to ${cordon}. VMs already on the node keep running${cordon ? ' (cordoning moves nothing)' : ''}.`,
    examples: [`qxctl node ${verb} node-1`],
    flags: [],
    args: { min: 1 },
    async run(ctx) {
      const client = await ctx.client();
      const errors: unknown[] = [];
      for (const name of ctx.args) {
        const label = `${qualifiedKind(QN)}/${name}`;
        try {
          const node = await client.get<Node>(resourcePath(QN, undefined, name));
          if ((node.spec?.unschedulable ?? false) === cordon) {
            ctx.io.out(`${label} already ${verb}ed`);
            continue;
          }
          await client.mergePatch(QN, undefined, name, { spec: { unschedulable: cordon } });
          ctx.io.out(`${label} ${verb}ed`);
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
    },
  };
}

export const nodeCommands: Command[] = [cordonCommand(true), cordonCommand(false)];
