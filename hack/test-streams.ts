/**
 * How `make test` splits its suites into two jest processes that run side by side
 * (hack/test-summary.ts --streams): one runs, one at a time, every suite that uses the
 * host's libvirtd; the other runs everything else (unit, integration and end-to-end suites
 * on etcd, the sim hypervisor, Chromium, haproxy). Suites on the host's libvirtd cannot
 * overlap: some restart libvirtd, and all of them define domains on it. Two cores, one jest
 * worker each: a TCG guest keeps one core busy while the other runs the rest.
 */

/** What marks a suite as a user of the host's libvirtd: the modules that reach it, or make up's script. */
const HOST_LIBVIRT = [/testenv\/libvirt\.js'/, /chaos\/runner\.js'|from '\.\/runner\.js'/, /--driver=libvirt/, /hack\/up\.sh/];

/** Whether a suite's source says it uses the host's libvirtd. */
export function usesHostLibvirt(source: string): boolean {
  return HOST_LIBVIRT.some((re) => re.test(source));
}

export interface TestStreams {
  /** Suites on the host's libvirtd, run one at a time. */
  hostLibvirt: string[];
  /** All other suites. */
  other: string[];
}

/** Splits suite paths by their sources (`read` returns a file's text). */
export function splitTestStreams(paths: readonly string[], read: (path: string) => string): TestStreams {
  const streams: TestStreams = { hostLibvirt: [], other: [] };
  for (const p of paths) (usesHostLibvirt(read(p)) ? streams.hostLibvirt : streams.other).push(p);
  return streams;
}
