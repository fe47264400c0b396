// Progress lines of the iterative trainers. Only rank 0 prints (every rank holds the same
// numbers); every rank forwards them to the dashboard when the communicator has `report`.
import type { Collective } from './collective.js';

export interface ProgressInfo {
  iteration: number;
  objective: number;
  gradNorm: number;
  seconds: number;
  /** Extra columns, printed as `key value`. */
  extra?: Record<string, number>;
}

/** A progress callback; `finish()` prints the last step when --log-every skipped it. */
export type ProgressLog = ((p: ProgressInfo) => void) & { finish(): void };

/**
 * `log` defaults to console.log on rank 0 and nothing elsewhere; pass null for silence. `pace`:
 * --log-every and the planned iterations (default: every line, no ETA cap known = 1).
 */
export function progressLogger(comm: Collective, label: string, log?: ((line: string) => void) | null, pace?: PacerOptions): ProgressLog {
  const sink = log === undefined ? (comm.rank === 0 ? (line: string) => console.log(line) : null) : log;
  const pacer = progressPacer(sink, pace ?? { every: 1, planned: 1 });
  const logger = (p: ProgressInfo): void => {
    if (comm.report) {
      const values: Record<string, number> = {};
      // `planned` lets the dashboard show an ETA (lib/monitor/job_view.ts); extra columns are charted too.
      const all = { ...p.extra, iteration: p.iteration, objective: p.objective, gradNorm: p.gradNorm, ...(pace ? { planned: pace.planned } : {}) };
      for (const [k, v] of Object.entries(all)) if (Number.isFinite(v)) values[k] = v;
      comm.report(values);
    }
    if (!sink) return;
    const extra = Object.entries(p.extra ?? {})
      .map(([k, v]) => `  ${k} ${Number.isInteger(v) ? v : v.toPrecision(3)}`)
      .join('');
    pacer.step(
      p.iteration,
      `${label} iter ${String(p.iteration).padStart(4)}  objective ${p.objective.toFixed(6).padStart(16)}  ` +
        `|g| ${p.gradNorm.toExponential(3)}${extra}  ${p.seconds.toFixed(3)}s`,
    );
  };
  return Object.assign(logger, { finish: () => pacer.finish() });
}

/** `--log-every` in every trainer's --help (the same meaning everywhere). */
export const LOG_EVERY_USAGE = 'print every N-th progress line, plus always the first and the last (default 1)';

/** Seconds as `12.3s`, `4m05s` or `1h02m`: short enough for a progress line. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface PacerOptions {
  /** Print every N-th step (>= 1); the first and the last are always printed. */
  every: number;
  /** Planned steps (max-iter, rounds, epochs): the ETA is the time of the steps left. */
  planned: number;
  /** The trainer may stop before `planned` (tolerance, early stopping): the ETA is an upper bound, `ETA ≤ …`. */
  mayStopEarly?: boolean;
}

/** Thins a trainer's progress lines to every N-th step and appends `elapsed … ETA …` to them. */
export interface ProgressPacer {
  /** Step `step` (of `planned`; the L-BFGS family reports its starting point as step 0) is done: print `text` now or hold it as the possible last line. */
  step(step: number, text: string): void;
  /** The trainer stopped: print the held line if the last step was not printed. */
  finish(): void;
}

/**
 * One pacer per training run, shared by every trainer so `--log-every` and the ETA mean the same
 * everywhere. The rate comes from the steps of this run only (a resumed run starts its clock at
 * its first step, not at step 1). `sink` null: nothing is printed.
 */
export function progressPacer(sink: ((line: string) => void) | null, options: PacerOptions): ProgressPacer {
  const t0 = performance.now();
  let firstStep: number | null = null;
  let held: string | null = null;
  return {
    step(step, text) {
      if (!sink) return;
      const first = firstStep === null;
      if (firstStep === null) firstStep = step - 1;
      const elapsed = (performance.now() - t0) / 1000;
      const left = Math.max(0, options.planned - step);
      const eta = (elapsed / Math.max(1, step - firstStep)) * left;
      const line = `${text}  elapsed ${formatSeconds(elapsed)}  ETA ${options.mayStopEarly && left > 0 ? '≤ ' : ''}${formatSeconds(eta)}`;
      if (first || step % options.every === 0 || step >= options.planned) {
        sink(line);
        held = null;
      } else held = line;
    },
    finish() {
      if (sink && held !== null) sink(held);
      held = null;
    },
  };
}
