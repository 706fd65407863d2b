/**
 * The truthful-status chaos run as a benchmark (`tsx hack/bench/run.ts chaos`, part of
 * `make bench`): hack/chaos/runner.ts for CHAOS_DURATION seconds (default 300), seeded with
 * CHAOS_SEED when given; prints its JSON report (docs/chaos.md). Needs the real libvirtd;
 * restarts it during the run, so run it alone (flock /tmp/qx-libvirt.lock on a shared host).
 */
import { setLogLevel } from '../../../lib/logging/logger.js';
import { runChaos } from '../../chaos/runner.js';

// The in-process control plane's info records (every API write) would bury the run's progress.
if (!process.env.QUANTIX_LOG_LEVEL) setLogLevel('warn');

const durationSeconds = Number(process.env.CHAOS_DURATION ?? 300);
const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : undefined;
if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
  process.stderr.write(`CHAOS_DURATION must be a positive number of seconds, got "${process.env.CHAOS_DURATION}"\n`);
  process.exit(2);
}

const report = await runChaos({ durationMs: durationSeconds * 1000, seed, log: (m) => process.stderr.write(`[chaos] ${new Date().toISOString()} ${m}\n`) });
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
