/**
 * Import progress (pure): the event shape and the throttle that keeps a fast download from
 * calling back for every 64 KiB chunk.
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
