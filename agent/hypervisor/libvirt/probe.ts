/**
 * Latency probe: per-call cost of the persistent RPC connection against a `virsh`
 * subprocess per call, for the same questions (list domains, look one up, read its state).
 *
 *   node_modules/.bin/tsx agent/hypervisor/libvirt/probe.ts [--domains N] [--iterations N] [--virsh-iterations N]
 *
 * It defines N inactive qxtest-probe-* domains (no disks) so the list is not empty, and
 * undefines them at the end.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { LibvirtDriver } from './driver.js';
import { Procs } from './protocol.js';
import { RpcClient } from './rpc.js';
import { uuidToBytes } from '../validate.js';

const execFileP = promisify(execFile);

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

interface Stats {
  name: string;
  n: number;
  mean: number;
  p50: number;
  p95: number;
}

async function measure(name: string, n: number, fn: () => Promise<unknown>): Promise<Stats> {
  await fn(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const pick = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { name, n, mean: samples.reduce((a, b) => a + b, 0) / n, p50: pick(0.5), p95: pick(0.95) };
}

function print(rows: Stats[]): void {
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'call'.padEnd(w)}  ${'n'.padStart(5)}  ${'mean ms'.padStart(8)}  ${'p50 ms'.padStart(8)}  ${'p95 ms'.padStart(8)}`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${String(r.n).padStart(5)}  ${r.mean.toFixed(2).padStart(8)}  ${r.p50.toFixed(2).padStart(8)}  ${r.p95.toFixed(2).padStart(8)}`,
    );
  }
}

async function main(): Promise<void> {
  const domains = arg('domains', 5);
  const iterations = arg('iterations', 200);
  const virshIterations = arg('virsh-iterations', 20);
  const driver = new LibvirtDriver();
  await driver.connect();
  const created: string[] = [];
  try {
    for (let i = 0; i < domains; i++) {
      const uuid = randomUUID();
      await driver.defineDomain({
        uuid,
        name: `qxtest-probe-${uuid.slice(0, 8)}`,
        vcpus: 1,
        memoryBytes: 64 * 1024 * 1024,
        disks: [],
        networks: [],
        owner: { namespace: 'qxtest', name: `probe-${i}` },
      });
      created.push(uuid);
    }
    const target = created[0];

    // A raw client, to show the cost of single RPCs without the driver's fan-out.
    const raw = await RpcClient.connect('/var/run/libvirt/libvirt-sock');
    await raw.call(Procs.authList, undefined);
    await raw.call(Procs.connectOpen, { name: 'qemu:///system', flags: 0 });

    const rows: Stats[] = [];
    rows.push(await measure('rpc CONNECT_LIST_ALL_DOMAINS', iterations, () => raw.call(Procs.connectListAllDomains, { flags: 0 })));
    if (target) {
      const uuid = uuidToBytes(target);
      rows.push(await measure('rpc DOMAIN_LOOKUP_BY_UUID', iterations, () => raw.call(Procs.domainLookupByUuid, { uuid })));
      const dom = await raw.call(Procs.domainLookupByUuid, { uuid });
      rows.push(await measure('rpc DOMAIN_GET_STATE', iterations, () => raw.call(Procs.domainGetState, { dom, flags: 0 })));
      rows.push(await measure('driver.getDomain (lookup+state+info+persistence)', iterations, () => driver.getDomain(target)));
    }
    rows.push(await measure(`driver.listDomains (${domains}+ domains, full info)`, Math.max(20, iterations / 4), () => driver.listDomains()));
    rows.push(
      await measure('virsh list --all --uuid (subprocess)', virshIterations, () => execFileP('virsh', ['-c', 'qemu:///system', 'list', '--all', '--uuid'])),
    );
    if (target) {
      rows.push(
        await measure('virsh domstate <uuid> (subprocess)', virshIterations, () =>
          execFileP('virsh', ['-c', 'qemu:///system', 'domstate', target, '--reason']),
        ),
      );
      rows.push(await measure('virsh dominfo <uuid> (subprocess)', virshIterations, () => execFileP('virsh', ['-c', 'qemu:///system', 'dominfo', target])));
    }
    const concurrent = 100;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrent }, () => raw.call(Procs.connectListAllDomains, { flags: 0 })));
    const concurrentMs = performance.now() - t0;
    raw.close();

    print(rows);
    console.log(
      `\n${concurrent} concurrent CONNECT_LIST_ALL_DOMAINS on one connection: ${concurrentMs.toFixed(1)} ms total (${(concurrentMs / concurrent).toFixed(2)} ms each)`,
    );
  } finally {
    for (const uuid of created) {
      try {
        await driver.undefineDomain(uuid);
      } catch {
        // best effort
      }
    }
    await driver.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
