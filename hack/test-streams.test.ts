import { readFileSync } from 'node:fs';
import { splitTestStreams, usesHostLibvirt } from './test-streams.js';

describe('usesHostLibvirt', () => {
  it('marks suites that import the libvirt test environment or the chaos runner, or start an agent or make up on libvirt', () => {
    expect(usesHostLibvirt("import { ensureLibvirt } from '../hack/testenv/libvirt.js';")).toBe(true);
    expect(usesHostLibvirt("import { runChaos } from './runner.js';")).toBe(true);
    expect(usesHostLibvirt("import { runChaos } from '../chaos/runner.js';")).toBe(true);
    expect(usesHostLibvirt("const args = ['--driver=libvirt'];")).toBe(true);
    expect(usesHostLibvirt("await run('bash', ['hack/up.sh']);")).toBe(true);
  });

  it('leaves suites on etcd, the sim hypervisor or Chromium to the other stream', () => {
    expect(usesHostLibvirt("import { startAgent } from '../hack/testenv/agent.js';\nconst driver = 'sim';")).toBe(false);
    expect(usesHostLibvirt("import { startFileServer } from './testenv/file-server.js';")).toBe(false);
  });
});

describe('splitTestStreams on this repository', () => {
  it('puts every suite that restarts or defines domains on libvirtd in the host-libvirt stream, and each suite in exactly one stream', () => {
    const suites = [
      'agent/agent.e2e.test.ts',
      'agent/guests.e2e.test.ts',
      'hack/chaos/chaos.e2e.test.ts',
      'hack/quickstart/walkthrough.e2e.test.ts',
      'agent/hypervisor/libvirt/libvirt.int.test.ts',
      'web/console.e2e.test.ts',
      'hack/up-ha.e2e.test.ts',
      'cli/qxctl.e2e.test.ts',
      'web/ui.e2e.test.ts',
    ];
    const streams = splitTestStreams(suites, (file) => readFileSync(file, 'utf8'));
    expect(streams.hostLibvirt.sort()).toEqual(suites.slice(0, 6).sort());
    expect(streams.other.sort()).toEqual(suites.slice(6).sort());
  });
});
