import { UsageError } from './errors.js';
import { parseResourceArgs, resolveTypes } from './resources.js';

const show = (args: string[]) => parseResourceArgs(args).map((t) => `${t.def.plural}${t.names ? `:${t.names.join(',')}` : ''}`);

describe('resource arguments', () => {
  it.each([
    [['vm'], ['virtualmachines']],
    [['vms', 'web', 'db'], ['virtualmachines:web,db']],
    [['VirtualMachine', 'web', 'web'], ['virtualmachines:web']],
    [['virtualmachines.quantix.io'], ['virtualmachines']],
    [['sp,qn'], ['storagepools', 'nodes']],
    [
      ['vm/web', 'sp/local', 'vm/db'],
      ['virtualmachines:web,db', 'storagepools:local'],
    ],
    [['quantix'], ['virtualmachines', 'virtualmachinesnapshots', 'virtualmachinerestores', 'storagepools', 'images', 'networks', 'nodes', 'hostjoins']],
    [['ev'], ['events']],
    [['vmsnap,vmrestore'], ['virtualmachinesnapshots', 'virtualmachinerestores']],
  ])('%j → %j', (args, expected) => expect(show(args)).toEqual(expected));

  it.each([
    [['bogus'], /the server doesn't have a resource type "bogus"/],
    [['vm,sp', 'web'], /names can only be given with a single resource type/],
    [['vm', 'sp/local'], /resource\/name form/],
    [['vm,'], /empty resource type/],
  ])('rejects %j', (args, message) => {
    expect(() => parseResourceArgs(args)).toThrow(UsageError);
    expect(() => parseResourceArgs(args)).toThrow(message);
  });

  it('resolves categories without duplicates', () => {
    expect(resolveTypes('vm,quantix').map((d) => d.kind)).toEqual([
      'VirtualMachine',
      'VirtualMachineSnapshot',
      'VirtualMachineRestore',
      'StoragePool',
      'Image',
      'Network',
      'Node',
      'HostJoin',
    ]);
  });
});
