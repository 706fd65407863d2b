import { GiB, vm } from '../testing/fixtures.js';
import { UsageTracker } from './scheduler_usage.js';

describe('UsageTracker', () => {
  it('sums bound VMs per node from informer events', () => {
    const t = new UsageTracker();
    t.observe('default/a', vm('a', { nodeName: 'n1', cpu: 2, memory: '2Gi' }));
    t.observe('default/b', vm('b', { nodeName: 'n1', cpu: 1, memory: '1Gi' }));
    t.observe('default/c', vm('c'));
    expect(t.usage('n1')).toEqual({ cpu: 3, memoryBytes: 3 * GiB, vmCount: 2 });
    t.observe('default/a', undefined);
    expect(t.usage('n1')).toEqual({ cpu: 1, memoryBytes: GiB, vmCount: 1 });
    t.observe('default/b', vm('b', { nodeName: 'n1', phase: 'Terminated' }));
    expect(t.usage('n1')).toEqual({ cpu: 0, memoryBytes: 0, vmCount: 0 });
  });

  it('counts an assumed binding until the cache shows it, never twice', () => {
    const t = new UsageTracker();
    const a = vm('a', { memory: '4Gi' });
    t.observe('default/a', a);
    t.assume('default/a', a, 'n1');
    expect(t.usage('n1').memoryBytes).toBe(4 * GiB);
    expect(t.assumedNode('default/a')).toBe('n1');
    t.observe('default/a', vm('a', { memory: '4Gi', phase: 'Pending' })); // a status update, still unbound
    expect(t.usage('n1').memoryBytes).toBe(4 * GiB);
    t.observe('default/a', vm('a', { memory: '4Gi', nodeName: 'n1' })); // the bind comes back
    expect(t.usage('n1')).toEqual({ cpu: 1, memoryBytes: 4 * GiB, vmCount: 1 });
    expect(t.assumedNode('default/a')).toBeUndefined();
  });

  it('forgets an assumption when the bind fails', () => {
    const t = new UsageTracker();
    const a = vm('a');
    t.assume('default/a', a, 'n1');
    t.forget('default/a');
    expect(t.usage('n1').vmCount).toBe(0);
  });

  it("leaves a VM's own claim out when validating it", () => {
    const t = new UsageTracker();
    t.observe('default/a', vm('a', { nodeName: 'n1', memory: '2Gi' }));
    t.observe('default/b', vm('b', { nodeName: 'n1', memory: '1Gi' }));
    expect(t.usage('n1', 'default/a').memoryBytes).toBe(GiB);
    expect(t.usage('n2', 'default/a').memoryBytes).toBe(0);
  });
});
