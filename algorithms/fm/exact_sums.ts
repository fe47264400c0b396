// Sums that do not depend on how rows are split over ranks: the FM coordinate solvers combine
// per-coordinate statistics (sum h^2, sum h e over a feature's rows) across workers, and plain
// float sums would differ in the last bits between np 1 and np 2, which Gibbs sampling then
// amplifies. Each term is rounded to a multiple of 2^-32 and the integer it becomes is
// accumulated exactly as two float64 limbs (high: units of 2^-6, low: units of 2^-32, each an
// integer below 2^53); integer addition is associative, so every split and every reduction
// order gives the same bits. Terms must stay below 2^20 in magnitude (checked).
import type { Collective } from '../common/collective.js';

const SCALE = 2 ** 32;
const LIMB = 2 ** 26;
const HIGH_UNIT = 2 ** -6;
export const EXACT_TERM_LIMIT = 2 ** 20;

/** `count` exact sums; add terms, then allReduce(), then read value(i). */
export class ExactSums {
  /** [high limbs (count), low limbs (count)]: one buffer so one allReduce combines both. */
  readonly limbs: Float64Array;
  readonly count: number;

  constructor(count: number) {
    this.count = count;
    this.limbs = new Float64Array(2 * count);
  }

  reset(): void {
    this.limbs.fill(0);
  }

  /** Adds `term` to sum i; false (nothing added) when |term| >= 2^20 or it is not finite. */
  add(i: number, term: number): boolean {
    if (!(Math.abs(term) < EXACT_TERM_LIMIT)) return false;
    const m = Math.round(term * SCALE);
    const hi = Math.floor(m / LIMB);
    this.limbs[i] = this.limbs[i]! + hi;
    this.limbs[this.count + i] = this.limbs[this.count + i]! + (m - hi * LIMB);
    return true;
  }

  /** Moves whole 2^26 multiples of every low limb into its high limb: low in [0, 2^26), a unique pair per sum. */
  normalize(): void {
    const n = this.count;
    for (let i = 0; i < n; i++) {
      const carry = Math.floor(this.limbs[n + i]! / LIMB);
      this.limbs[i] = this.limbs[i]! + carry;
      this.limbs[n + i] = this.limbs[n + i]! - carry * LIMB;
    }
  }

  /**
   * Sums the limbs of every rank (each rank normalized first, so no limb reaches 2^53 below 2^27
   * ranks). `normalized`: the limbs already are (the native kernels write them so), which skips
   * a pass over them. The summed limbs are not normalized again: value() reads any pair exactly
   * (below), and the solvers rewrite the limbs before adding to them.
   */
  async allReduce(comm: Collective, normalized = false): Promise<void> {
    if (!normalized) this.normalize();
    if (comm.size === 1) return;
    await comm.allReduce(this.limbs, { op: 'sum' });
  }

  /**
   * Sum i as a double, the same bits on every rank for every split: high * 2^-6 and low * 2^-32
   * are exact, so their sum is the exact total rounded once, whichever pair of limbs holds it.
   */
  value(i: number): number {
    return this.limbs[i]! * HIGH_UNIT + this.limbs[this.count + i]! / SCALE;
  }
}
