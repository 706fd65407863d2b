/**
 * What the browser suite runs against: real etcd + apiserver (serving web/dist at /ui/) +
 * node gateway, the real controller-manager, and two agents on the sim driver (pool file
 * listings from real directories, see DiskSimDriver). Pools: `local` (dir, a temp
 * directory, on both hosts) and `backup` (nfs, on hv-2, whose mount the sim makes fail).
 * hv-2 reports the Linux bridges br0 and virbr0.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControllerManager } from '../../controllers/setup.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../../hack/testenv/agent.js';
import { kubectl, type CommandResult } from '../../hack/testenv/apiserver.js';
import { DiskSimDriver } from './disk-sim-driver.js';

export const WEB_ROOT = resolve(fileURLToPath(new URL('../dist', import.meta.url)));
export const HOSTS = ['hv-1', 'hv-2'] as const;
const GiB = 1024 ** 3;

export interface UiCluster {
  cp: TestControlPlane;
  baseUrl: string;
  drivers: DiskSimDriver[];
  poolDir: string;
  kubectl(args: string[], input?: string): Promise<CommandResult>;
  /** kubectl that throws on a non-zero exit. */
  must(args: string[], input?: string): Promise<string>;
  /**
   * A merge patch of `status` on the status subresource, as the admin: stands in for the
   * agent or controller that owns those fields (an image import's progress, a guest's
   * addresses, a node's acceleration), which the sim agents do not report.
   */
  patchStatus(resource: string, name: string, status: Record<string, unknown>, namespace?: string): Promise<string>;
  stopControllers(): Promise<void>;
  stop(): Promise<void>;
}

export async function startUiCluster(): Promise<UiCluster> {
  if (!existsSync(join(WEB_ROOT, 'index.html'))) throw new Error(`${WEB_ROOT}/index.html is missing: build the UI first (make web)`);
  // Component logs would drown the test output (the failing NFS mount warns every retry).
  setLogLevel(process.env.QUANTIX_LOG_LEVEL ?? 'error');
  const poolDir = mkdtempSync(join(tmpdir(), 'quantix-ui-pools-'));
  mkdirSync(join(poolDir, 'local'));
  const cp = await startTestControlPlane({ extra: { webRoot: WEB_ROOT } });
  const run = (args: string[], input?: string) => kubectl(cp.env.kubeconfig, args, input);
  const must = async (args: string[], input?: string) => {
    const r = await run(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const controllers = await startControllerManager({ kubeconfig: cp.env.kubeconfig });
  const drivers = HOSTS.map((hostname) => new DiskSimDriver({ hostname, cpuCount: 16, memoryBytes: 64 * GiB, poolCapacityBytes: 500 * GiB }));
  // hv-2 has two Linux bridges (the sim driver's bridges are seen only through a lister).
  const bridges: Record<string, string[]> = { 'hv-2': ['br0', 'virbr0'] };
  const agents: TestAgent[] = await Promise.all(
    HOSTS.map((hostname, i) => startAgent(cp, { driver: drivers[i]!, hostname, listBridges: async () => bridges[hostname] ?? [] })),
  );
  await must(['apply', '-f', '-'], pools(poolDir));
  // The sim mounts any export; make backup's NFS server unreachable from hv-2 as soon as the
  // pool exists there (as on this sandbox, which has no NFS client at all).
  await eventually(
    async () => {
      drivers[1]!.setPoolMountFailure('backup', 'mount.nfs: Connection timed out for 192.0.2.10:/exports/backup');
      return true;
    },
    { timeoutMs: 15_000, message: 'backup defined on hv-2' },
  );
  await drivers[1]!.stopPool('backup').catch(() => undefined);
  let controllersUp = true;
  const stopControllers = async () => {
    if (!controllersUp) return;
    controllersUp = false;
    await controllers.manager.stop();
    controllers.client.close();
  };
  return {
    cp,
    baseUrl: cp.env.apiserver.url,
    drivers,
    poolDir,
    kubectl: run,
    must,
    patchStatus: (resource, name, status, namespace) =>
      must(['patch', resource, name, ...(namespace ? ['-n', namespace] : []), '--subresource=status', '--type', 'merge', '-p', JSON.stringify({ status })]),
    stopControllers,
    async stop() {
      await stopControllers().catch(() => undefined);
      await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
      await Promise.all(drivers.map((d) => d.close().catch(() => undefined)));
      await cp.stop();
      rmSync(poolDir, { recursive: true, force: true });
    },
  };
}

function pools(dir: string): string {
  return `apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: local
spec:
  type: dir
  dir:
    path: ${join(dir, 'local')}
  assignedNodes: [hv-1, hv-2]
---
apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: backup
spec:
  type: nfs
  nfs:
    server: 192.0.2.10
    exportPath: /exports/backup
  assignedNodes: [hv-2]
`;
}

export function vmYaml(
  name: string,
  o: { cpu?: number; memory?: string; pool?: string; runStrategy?: string; labels?: Record<string, string>; namespace?: string } = {},
): string {
  const labels = Object.entries(o.labels ?? {})
    .map(([k, v]) => `\n    ${k}: ${v}`)
    .join('');
  return `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
  namespace: ${o.namespace ?? 'default'}${labels ? `\n  labels:${labels}` : ''}
spec:
  runStrategy: ${o.runStrategy ?? 'Always'}
  cpu: ${o.cpu ?? 1}
  memory: ${o.memory ?? '512Mi'}
  disks:
    - name: root
      storagePool: ${o.pool ?? 'local'}
      size: 1Gi
`;
}
