import type { VirtualMachine } from '../../api-types/generated/types.js';
import { DISCOVERED_ON_LABEL, DOMAIN_UUID_LABEL } from '../../api-types/proto/contract.js';
import {
  compareSnapshot,
  powerFromDomstate,
  stateAfterEvent,
  eventLatency,
  latencySummary,
  parseEventLine,
  parseVirshList,
  powerAfterEvent,
  seededRandom,
  type LifecycleEvent,
  type Power,
} from './truth.js';

const managed = (name: string, status: VirtualMachine['status'], uid = `uid-${name}`): VirtualMachine => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name, namespace: 'run', uid },
  spec: { cpu: 1, memory: '64Mi' },
  status,
});

const discovered = (name: string, uuid: string, status: VirtualMachine['status']): VirtualMachine => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name, namespace: 'discovered', labels: { [DOMAIN_UUID_LABEL]: uuid, [DISCOVERED_ON_LABEL]: 'n1' } },
  spec: { cpu: 1, memory: '64Mi' },
  status: { origin: 'host-discovered', managed: false, ...status },
});

const options = {
  managedDomain: (vm: VirtualMachine) => `run_${vm.metadata.name}`,
  expectedVms: ['a', 'b'],
  handDomains: new Set(['run-hand0']),
  handUuids: new Map([['run-hand0', 'u-hand0']]),
};

describe('parseVirshList', () => {
  it('reads names and states, ids or dashes, and two-word states', () => {
    const out = ` Id   Name          State
------------------------------
 4    run_a         running
 -    run_b         shut off
 7    run-hand0     paused
 9    other         in shutdown
`;
    expect([...parseVirshList(out)]).toEqual([
      ['run_a', 'running'],
      ['run_b', 'shutoff'],
      ['run-hand0', 'paused'],
      ['other', 'shutdown'],
    ]);
  });
});

describe('powerFromDomstate', () => {
  it('paused while starting up is a start under way; other reasons keep the state', () => {
    expect(powerFromDomstate('paused (starting up)\n\n')).toBe('starting');
    expect(powerFromDomstate('paused (user)')).toBe('paused');
    expect(powerFromDomstate('shut off (destroyed)')).toBe('shutoff');
    expect(powerFromDomstate('running (booted)')).toBe('running');
  });
});

describe('parseEventLine', () => {
  it('reads the time (with its zone), the domain, the event and its detail', () => {
    expect(parseEventLine("2026-12-07 10:38:41.320+0000: event 'lifecycle' for domain 'run_a': Stopped Failed")).toEqual({
      at: Date.parse('2026-12-07T10:38:41.320Z'),
      domain: 'run_a',
      event: 'Stopped',
      detail: 'Failed',
    });
    expect(parseEventLine("2026-12-07 11:38:41.320+0100: event 'lifecycle' for domain 'x': Started Booted")?.at).toBe(Date.parse('2026-12-07T10:38:41.320Z'));
  });
  it('ignores other events and other lines', () => {
    expect(parseEventLine("2026-12-07 10:38:41.320+0000: event 'reboot' for domain 'run_a'")).toBeUndefined();
    expect(parseEventLine('events received: 3')).toBeUndefined();
  });
});

describe('powerAfterEvent', () => {
  const ev = (event: string, detail = ''): LifecycleEvent => ({ at: 0, domain: 'd', event, detail });
  it('follows the lifecycle', () => {
    expect(powerAfterEvent('gone', ev('Defined', 'Added'))).toBe('shutoff');
    expect(powerAfterEvent('shutoff', ev('Started', 'Booted'))).toBe('running');
    expect(powerAfterEvent('running', ev('Suspended', 'Paused'))).toBe('paused');
    expect(powerAfterEvent('paused', ev('Resumed', 'Unpaused'))).toBe('running');
    expect(powerAfterEvent('running', ev('Stopped', 'Failed'))).toBe('shutoff');
    expect(powerAfterEvent('shutoff', ev('Undefined', 'Removed'))).toBe('gone');
  });
  it('a running domain stays running when redefined or undefined (it becomes transient); Shutdown changes nothing', () => {
    expect(powerAfterEvent('running', ev('Defined', 'Updated'))).toBe('running');
    expect(powerAfterEvent('running', ev('Undefined', 'Removed'))).toBe('running');
    expect(powerAfterEvent('running', ev('Shutdown', 'Finished'))).toBe('running');
  });
});

describe('stateAfterEvent', () => {
  const ev = (event: string, detail = ''): LifecycleEvent => ({ at: 0, domain: 'd', event, detail });
  it('a running domain undefined is transient: gone once it stops; defined again, persistent', () => {
    const undefinedRunning = stateAfterEvent({ power: 'running', transient: false }, ev('Undefined', 'Removed'));
    expect(undefinedRunning).toEqual({ power: 'running', transient: true });
    expect(stateAfterEvent(undefinedRunning, ev('Suspended', 'Paused'))).toEqual({ power: 'paused', transient: true });
    expect(stateAfterEvent(undefinedRunning, ev('Stopped', 'Destroyed'))).toEqual({ power: 'gone', transient: false });
    expect(stateAfterEvent(undefinedRunning, ev('Defined', 'Added'))).toEqual({ power: 'running', transient: false });
  });
  it('a persistent domain that stops stays defined', () => {
    expect(stateAfterEvent({ power: 'running', transient: false }, ev('Stopped', 'Destroyed'))).toEqual({ power: 'shutoff', transient: false });
    expect(stateAfterEvent({ power: 'shutoff', transient: false }, ev('Undefined', 'Removed'))).toEqual({ power: 'gone', transient: false });
  });
});

describe('compareSnapshot', () => {
  it('finds nothing when the API says what libvirt says (a Lost VM for an undefined domain, a Terminated record for a gone hand-made one)', () => {
    const libvirt = new Map<string, Power>([['run_a', 'running']]);
    const vms = [managed('a', { phase: 'Running', powerState: 'running', domainUUID: 'uid-a' }), managed('b', { phase: 'Lost', domainUUID: 'uid-b' })];
    const records = [discovered('hand0', 'u-hand0', { phase: 'Terminated' })];
    expect(compareSnapshot({ libvirt, managed: vms, discovered: records }, options)).toEqual({ transitional: [], wrong: [], lost: [], duplicates: [] });
  });

  it('a domain starting up is neither right nor wrong (transitional), whatever the API says', () => {
    const libvirt = new Map<string, Power>([
      ['run_a', 'starting'],
      ['run_b', 'shutoff'],
    ]);
    const vms = [managed('a', { phase: 'Stopped', powerState: 'shutoff' }), managed('b', { phase: 'Stopped', powerState: 'shutoff' })];
    expect(compareSnapshot({ libvirt, managed: vms, discovered: [] }, options)).toEqual({
      transitional: ['run_a: starting up'],
      wrong: [],
      lost: [],
      duplicates: [],
    });
  });

  it('the right powerState with a phase that does not fit it is wrong too', () => {
    const libvirt = new Map<string, Power>([
      ['run_a', 'shutoff'],
      ['run_b', 'paused'],
    ]);
    const vms = [managed('a', { phase: 'Running', powerState: 'shutoff' }), managed('b', { phase: 'Stopping', powerState: 'paused' })];
    expect(compareSnapshot({ libvirt, managed: vms, discovered: [] }, options).wrong).toEqual(['run_a: libvirt shutoff, API shutoff (phase Running)']);
  });

  it('a state the API has wrong, a VM gone from the API, a hand-made domain with no record', () => {
    const libvirt = new Map<string, Power>([
      ['run_a', 'paused'],
      ['run-hand0', 'running'],
    ]);
    const f = compareSnapshot({ libvirt, managed: [managed('a', { phase: 'Running', powerState: 'running' })], discovered: [] }, options);
    expect(f.wrong).toEqual(['run_a: libvirt paused, API running (phase Running)']);
    expect(f.lost).toEqual(['VirtualMachine b is gone from the API', 'run-hand0: defined in libvirt (running), no record in the API']);
    expect(f.duplicates).toEqual([]);
  });

  it('duplicates: a domain of the run no VM names, two live records of one domain, a VM reporting another domain', () => {
    const libvirt = new Map<string, Power>([
      ['run_a', 'running'],
      ['run_a2', 'running'],
      ['run_b', 'shutoff'],
      ['run-hand0', 'paused'],
    ]);
    const vms = [
      managed('a', { phase: 'Running', powerState: 'running', domainUUID: 'uid-a' }),
      managed('b', { phase: 'Stopped', powerState: 'shutoff', domainUUID: 'someone-else' }),
    ];
    const records = [
      discovered('hand0', 'u-hand0', { phase: 'Paused', powerState: 'paused' }),
      discovered('hand0-1', 'u-hand0', { phase: 'Paused', powerState: 'paused' }),
    ];
    const f = compareSnapshot({ libvirt, managed: vms, discovered: records }, options);
    expect(f.wrong).toEqual([]);
    expect(f.duplicates).toEqual([
      "run_b: status.domainUUID someone-else is not the VM's uid uid-b",
      'run-hand0: 2 live host-discovered records (hand0, hand0-1)',
      'run_a2: running in libvirt, no VM of the run names it',
    ]);
  });
});

describe('eventLatency', () => {
  it('the time until the API first shows the state libvirt is in', () => {
    const libvirt = [
      [0, 'running'],
      [1000, 'shutoff'],
    ] as const;
    const api = [
      [10, 'running'],
      [1080, 'shutoff'],
    ] as const;
    expect(eventLatency(1000, libvirt, api)).toBe(80);
  });
  it('libvirt moved on before the API caught up: caught up once the API shows the newer state', () => {
    // Suspended at 1000, resumed by the agent at 1030; the API never showed paused.
    const libvirt = [
      [0, 'running'],
      [1000, 'paused'],
      [1030, 'running'],
    ] as const;
    const api = [[0, 'running']] as const;
    expect(eventLatency(1000, libvirt, api)).toBe(30);
  });
  it('an API change stamped before the event counts as 0; an API that never catches up is undefined', () => {
    expect(eventLatency(1000, [[1000, 'shutoff']], [[990, 'shutoff']])).toBe(0);
    expect(eventLatency(1000, [[1000, 'shutoff']], [[990, 'running']])).toBeUndefined();
  });
});

describe('latencySummary and seededRandom', () => {
  it('nearest-rank p50/p99/max; nulls for no samples', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(latencySummary(samples)).toEqual({ count: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
    expect(latencySummary([])).toEqual({ count: 0, p50Ms: null, p99Ms: null, maxMs: null });
  });
  it('the same seed gives the same sequence', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
