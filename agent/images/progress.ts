/**
 * Import progress: the event shape and the throttle (pure) that keeps a fast download from
 * calling back for every 64 KiB chunk, and the reporter that also passes the last event
 * the throttle held back, so a transfer that stalls shows the bytes it got.
 */

export type ImportPhase = 'Downloading' | 'Verifying' | 'Converting';

export interface ImportProgress {
  phase: ImportPhase;
  bytesDone: number;
  /** Unknown when the server sent no length. */
  bytesTotal?: number;
  /** Whole percent (0–100), when bytesTotal is known. */
  percent?: number;
}

export function progressEvent(phase: ImportPhase, bytesDone: number, bytesTotal?: number): ImportProgress {
  if (bytesTotal === undefined) return { phase, bytesDone };
  const percent = bytesTotal > 0 ? Math.min(100, Math.floor((bytesDone * 100) / bytesTotal)) : 100;
  return { phase, bytesDone, bytesTotal, percent };
}

export const PROGRESS_INTERVAL_MS = 250;

/**
 * Passes the first event of a phase, the last one (`final`), and in between at most one per
 * `intervalMs`. A whole-percent step alone does not pass: at 1 GB/s one percent of a small
 * image is a few milliseconds, and the receiver (a status report) wants a steady pace.
 */
export class ProgressThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  #last: { phase: ImportPhase; at: number; bytesDone: number } | undefined;

  constructor(intervalMs = PROGRESS_INTERVAL_MS, now: () => number = () => performance.now()) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** True when this event should be passed on (and then counts as the last one passed). */
  shouldEmit(event: ImportProgress, final = false): boolean {
    const now = this.#now();
    const last = this.#last;
    const pass =
      !last ||
      last.phase !== event.phase ||
      (final && last.bytesDone !== event.bytesDone) ||
      (now - last.at >= this.#intervalMs && last.bytesDone !== event.bytesDone);
    if (pass) this.#last = { phase: event.phase, at: now, bytesDone: event.bytesDone };
    return pass;
  }
}

/** Runs `fn` after `ms`; returns what cancels it. */
export type ScheduleFn = (fn: () => void, ms: number) => () => void;

const scheduleTimer: ScheduleFn = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

/**
 * The throttle plus a trailing event: an event it holds back is passed once the interval has
 * gone by, unless a later one passed first. Without it, a download that stalls right after a
 * burst (a server that stops sending) would show the count from before the burst, e.g. 0
 * bytes, for as long as it stalls. One timer at a time, none per chunk; close() drops what
 * is pending (call it when the phase ends, so nothing of it is reported after).
 */
export class ProgressReporter {
  readonly #emit: (event: ImportProgress) => void;
  readonly #throttle: ProgressThrottle;
  readonly #intervalMs: number;
  readonly #schedule: ScheduleFn;
  #pending: ImportProgress | undefined;
  #cancel: (() => void) | undefined;

  constructor(
    emit: (event: ImportProgress) => void,
    { intervalMs = PROGRESS_INTERVAL_MS, now, schedule = scheduleTimer }: { intervalMs?: number; now?: () => number; schedule?: ScheduleFn } = {},
  ) {
    this.#emit = emit;
    this.#intervalMs = intervalMs;
    this.#throttle = new ProgressThrottle(intervalMs, now);
    this.#schedule = schedule;
  }

  report(event: ImportProgress, final = false): void {
    if (this.#throttle.shouldEmit(event, final)) {
      this.#pending = undefined;
      this.#emit(event);
      return;
    }
    this.#pending = event;
    this.#cancel ??= this.#schedule(() => {
      this.#cancel = undefined;
      const pending = this.#pending;
      this.#pending = undefined;
      if (pending && this.#throttle.shouldEmit(pending)) this.#emit(pending);
    }, this.#intervalMs);
  }

  close(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#pending = undefined;
  }
}
