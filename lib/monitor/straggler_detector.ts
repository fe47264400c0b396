// Straggler detection (KunPeng's backup instances): from the metrics every worker sends with its
// heartbeat, the coordinator computes each worker's compute time per operation (wall time not
// spent inside collectives or parameter-server calls, divided by the collectives and PS calls
// it finished) over windows of `windowMs`. In a synchronous job every rank finishes the same
// ops, so a rank whose per-op compute exceeds `factor` x the median of the others (and the
// median by at least `minExcessMs`) is what the others wait for. After `windows` such windows
// in a row it is reported once; the launcher may then retire it and start a backup instance.
import type { ProcessView } from './job_view.js';

export interface StragglerOptions {
  /** Slower than factor x the median per-op compute time (default 2). */
  factor?: number;
  /** ... for this many consecutive windows (default 3). */
  windows?: number;
  /** Window length in ms (default 1000, the heartbeat period: one metrics sample per window). */
  windowMs?: number;
  /** Ignore differences below this per op (default 5 ms): timer noise, not a slow machine. */
  minExcessMs?: number;
}

export interface Straggler {
  rank: number;
  /** Per-op compute time of the straggler and the median of the others, in ms. */
  perOpMs: number;
  medianMs: number;
  message: string;
}

interface Sample {
  at: number;
  computeMs: number;
  ops: number;
}

export class StragglerDetector {
  readonly factor: number;
  readonly windows: number;
  readonly windowMs: number;
  readonly minExcessMs: number;
  #last = new Map<number, Sample>();
  #streak = new Map<number, number>();
  #lastEval = 0;

  constructor(options: StragglerOptions = {}) {
    this.factor = options.factor ?? 2;
    this.windows = options.windows ?? 3;
    this.windowMs = options.windowMs ?? 1000;
    this.minExcessMs = options.minExcessMs ?? 5;
  }

  /** A retired or replaced rank starts over (its successor has new counters). */
  forget(rank: number): void {
    this.#last.delete(rank);
    this.#streak.delete(rank);
  }

  /** Called often (every coordinator sweep); evaluates once per window. Returns newly confirmed stragglers. */
  check(workers: readonly ProcessView[], now: number): Straggler[] {
    if (now - this.#lastEval < this.windowMs) return [];
    this.#lastEval = now;
    const perOp = new Map<number, number>();
    for (const w of workers) {
      const m = w.metrics;
      if (!w.alive || !m) continue;
      const ops = Object.values(m.ops).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0) + m.psCalls;
      const sample: Sample = { at: m.now, computeMs: m.now - m.startedAt - 1000 * (m.collectiveSeconds + m.psSeconds), ops };
      const prev = this.#last.get(w.rank);
      this.#last.set(w.rank, sample);
      if (!prev || sample.ops < prev.ops || sample.at <= prev.at) continue;
      // A rank that finished no op in the window is stuck or very slow: count its whole window.
      perOp.set(w.rank, (sample.computeMs - prev.computeMs) / Math.max(1, sample.ops - prev.ops));
    }
    const found: Straggler[] = [];
    if (perOp.size < 2) return found;
    for (const [rank, ms] of perOp) {
      const others = [...perOp].filter(([r]) => r !== rank).map(([, v]) => v).sort((a, b) => a - b);
      const median = others.length % 2 ? others[(others.length - 1) / 2]! : (others[others.length / 2 - 1]! + others[others.length / 2]!) / 2;
      const slow = ms > this.factor * median && ms - median > this.minExcessMs;
      const streak = slow ? (this.#streak.get(rank) ?? 0) + 1 : 0;
      this.#streak.set(rank, streak);
      if (streak === this.windows) {
        found.push({
          rank,
          perOpMs: ms,
          medianMs: median,
          message: `rank ${rank} is a straggler: ${ms.toFixed(1)} ms of compute per op vs a median of ${median.toFixed(1)} ms for the other ranks, ${this.windows} windows of ${this.windowMs / 1000} s in a row`,
        });
      }
    }
    return found;
  }
}
