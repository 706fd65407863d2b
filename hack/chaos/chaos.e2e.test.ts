/**
 * The short chaos run in `make test` (docs/chaos.md): about a minute of random out-of-band
 * changes (CHAOS_DURATION seconds of changes, default 50, plus the stack's start: about 75 s in all) on the real libvirtd, against etcd, the
 * apiserver, the controller-manager and the agent as its own process. Every kind of change
 * happens at least once; after each, the API matches libvirt once settled: no wrong state,
 * no lost object, no duplicate domain, no libvirt event the API never reflected. The
 * latencies are printed (the report's JSON, with the seed for CHAOS_SEED), not asserted: the 5-minute run
 * (`tsx hack/bench/run.ts chaos`) is where the figures come from.
 */
import { CHANGE_KINDS, runChaos, type ChaosReport } from './runner.js';

const durationSeconds = Number(process.env.CHAOS_DURATION ?? 50);
/** A failed run prints its seed in the report: CHAOS_SEED repeats its choices of changes. */
const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : undefined;

describe('truthful status under chaos (real libvirt, agent process)', () => {
  let report: ChaosReport;

  beforeAll(
    async () => {
      report = await runChaos({ durationMs: durationSeconds * 1000, seed });
      process.stderr.write(`chaos report: ${JSON.stringify(report)}\n`);
    },
    240_000 + durationSeconds * 1000,
  );

  it('makes every kind of out-of-band change', () => {
    expect(Object.keys(report.changes.byKind).sort()).toEqual([...CHANGE_KINDS].sort());
    expect(report.libvirtEvents).toBeGreaterThan(0);
    expect(report.eventToApiTruth.count).toBeGreaterThan(0);
  });

  it('the API matches libvirt after every change: 0 wrong states, 0 lost objects, 0 duplicate domains', () => {
    expect(report.findings).toEqual([]);
    expect(report.wrongStatesAfterSettling).toBe(0);
    expect(report.lostObjects).toBe(0);
    expect(report.duplicateDomains).toBe(0);
  });

  it('the API reflected every libvirt event of the run', () => {
    expect(report.eventsNeverReflected).toBe(0);
  });
});
