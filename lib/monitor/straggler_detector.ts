// Straggler detection (KunPeng's backup instances): from the metrics every worker sends with its
// heartbeat, the coordinator computes each worker's compute time per operation (wall time not
// spent inside collectives or parameter-server calls, divided by the collectives and PS calls
// it finished) over windows of `windowMs`. In a synchronous job every rank finishes the same
// ops, so a rank whose per-op compute exceeds `factor` x the median of the others (and the
// median by at least `minExcessMs`) is what the others wait for. Likewise a worker whose
// parameter-server calls take `factor` x the others' median per call: it sits behind a slow
// link (a host with a slow network); PS calls have their own noise floor (`minPsExcessMs`),
// since a round trip is sub-millisecond on a LAN. After `windows` such windows
// in a row it is reported once; the launcher may then retire it and start a backup instance.
import { psWaitingSeconds, type ProcessView } from './job_view.js';

export interface StragglerOptions {
  /** Slower than factor x the median per-op compute time (default 2). */
  factor?: number;
  /** ... for this many consecutive windows (default 3). */
  windows?: number;
  /** Window length in ms (default 1000, the heartbeat period: one metrics sample per window). */
  windowMs?: number;
  /** Ignore differences below this per op (default 5 ms): timer noise, not a slow machine. */
  minExcessMs?: number;
  /**
   * Ignore differences below this per parameter-server call (default 1 ms). A call takes a
   * fraction of a millisecond on a LAN, so a link 20x slower adds only a few ms per call: the
   * compute floor of 5 ms would hide it.
   */
  minPsExcessMs?: number;
}

/** Windows of per-call PS time kept per worker: its typical time is their median. */
const PS_HISTORY = 5;

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
  psMs: number;
  psCalls: number;
}

export class StragglerDetector {
  readonly factor: number;
  readonly windows: number;
  readonly windowMs: number;
  readonly minExcessMs: number;
  readonly minPsExcessMs: number;
  #last = new Map<number, Sample>();
  #streak = new Map<number, number>();
  /**
   * Each worker's per-call PS time over its last windows with calls. A worker done with its PS
   * work (waiting for the others) still sets the pace; the median of its history keeps one odd
   * window (a large final pull) from standing for it while it waits.
   */
  #psHistory = new Map<number, number[]>();
  #lastEval = 0;

  constructor(options: StragglerOptions = {}) {
    this.factor = options.factor ?? 2;
    this.windows = options.windows ?? 3;
    this.windowMs = options.windowMs ?? 1000;
    this.minExcessMs = options.minExcessMs ?? 5;
    this.minPsExcessMs = options.minPsExcessMs ?? 1;
  }

  /** A retired or replaced rank starts over (its successor has new counters). */
  forget(rank: number): void {
    this.#last.delete(rank);
    this.#streak.delete(rank);
    this.#psHistory.delete(rank);
  }

  /** Called often (every coordinator sweep); evaluates once per window. Returns newly confirmed stragglers. */
  check(workers: readonly ProcessView[], now: number): Straggler[] {
    if (now - this.#lastEval < this.windowMs) return [];
    this.#lastEval = now;
    const perOp = new Map<number, number>();
    const perPsCall = new Map<number, number>();
    for (const w of workers) {
      const m = w.metrics;
      if (!w.alive || !m) continue;
      const ops = Object.values(m.ops).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0) + m.psCalls;
      // A collective or a parameter-server call still in flight is waiting, not computing (its
      // time is counted when it settles).
      const psWaitingMs = 1000 * psWaitingSeconds(m);
      const inFlightMs = Math.max(m.current ? Math.max(0, m.now - m.current.since) : 0, psWaitingMs);
      const sample: Sample = { at: m.now, computeMs: m.now - m.startedAt - 1000 * (m.collectiveSeconds + m.psSeconds) - inFlightMs, ops, psMs: 1000 * m.psSeconds, psCalls: m.psCalls };
      const prev = this.#last.get(w.rank);
      this.#last.set(w.rank, sample);
      if (!prev || sample.ops < prev.ops || sample.at <= prev.at) continue;
      // A rank that finished no op in the window is stuck or very slow: count its whole window.
      perOp.set(w.rank, (sample.computeMs - prev.computeMs) / Math.max(1, sample.ops - prev.ops));
      // Parameter-server calls are each worker's own round trips (unlike a collective, which
      // makes every rank wait for the slowest): a worker whose calls take longer than the others'
      // sits behind a slow link, such as its host's network.
      if (sample.psCalls > prev.psCalls) {
        const callMs = (sample.psMs - prev.psMs) / (sample.psCalls - prev.psCalls);
        perPsCall.set(w.rank, callMs);
        const history = this.#psHistory.get(w.rank) ?? [];
        history.push(callMs);
        if (history.length > PS_HISTORY) history.shift();
        this.#psHistory.set(w.rank, history);
      }
      // A call that has not come back within the window (a very slow link): what it has waited
      // so far is a lower bound on its time, and it must not reset the rank's streak.
      if (psWaitingMs >= this.windowMs) perPsCall.set(w.rank, Math.max(perPsCall.get(w.rank) ?? 0, psWaitingMs));
    }
    const found: Straggler[] = [];
    if (perOp.size < 2) return found;
    const psTypical = new Map([...this.#psHistory].map(([rank, history]) => [rank, lowerMedian(history)]));
    for (const [rank, ms] of perOp) {
      const median = medianOfOthers(perOp, rank);
      const psMs = perPsCall.get(rank);
      const psMedian = psTypical.size >= 2 ? medianOfOthers(psTypical, rank) : NaN;
      const slowCompute = ms > this.factor * median && ms - median > this.minExcessMs;
      const slowPs = psMs !== undefined && psMs > this.factor * psMedian && psMs - psMedian > this.minPsExcessMs;
      const streak = slowCompute || slowPs ? (this.#streak.get(rank) ?? 0) + 1 : 0;
      this.#streak.set(rank, streak);
      if (streak === this.windows) {
        const what = slowCompute
          ? `${ms.toFixed(1)} ms of compute per op vs a median of ${median.toFixed(1)} ms for the other ranks`
          : `${psMs!.toFixed(1)} ms per parameter-server call vs a median of ${psMedian.toFixed(1)} ms for the other ranks (a slow link from its host?)`;
        found.push({
          rank,
          perOpMs: slowCompute ? ms : psMs!,
          medianMs: slowCompute ? median : psMedian,
          message: `rank ${rank} is a straggler: ${what}, ${this.windows} windows of ${this.windowMs / 1000} s in a row`,
        });
      }
    }
    return found;
  }
}

/** Median of the values of every rank but `rank`. */
function medianOfOthers(values: ReadonlyMap<number, number>, rank: number): number {
  return median([...values].filter(([r]) => r !== rank).map(([, v]) => v));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
}

/** The middle value, the smaller of the two for an even count: a worker's usual pace, not its worst window. */
function lowerMedian(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
}
