// One rank's side of model-parallel Lasso by coordinate descent,
//   min_w (1/(2n)) ||y - Xw||^2 + lambda ||w||_1   (no intercept: sklearn's Lasso convention),
// with the rows split over the ranks. Each rank keeps its rows as columns (CSC) and the
// residual r = y - Xw of its rows. Updating coordinate j needs (1/n) sum_i x_ij r_i over all
// rows: every rank sums its rows (partialSums), one allReduce adds them up, and every rank
// applies the same new w_j to w and to its residual (applyUpdates), so w and the residuals stay
// consistent without sending either.
import { toCsc, type CscView } from '../bcd/csc.js';
import type { CsrData } from '../common/dataset.js';
import { linearLayout } from '../common/logistic.js';

/** sign(v) * max(|v| - t, 0). */
export function softThreshold(v: number, t: number): number {
  return v > t ? v - t : v < -t ? v + t : 0;
}

export class LassoState {
  readonly numFeatures: number;
  readonly lambda: number;
  /** Rows over all ranks. */
  readonly n: number;
  readonly w: Float64Array;
  /** This rank's residuals y - Xw. */
  readonly residual: Float64Array;
  /** Global sum_i x_ij^2 per column. */
  readonly colSq: Float64Array;
  readonly #csc: CscView;
  /** Scratch: one column scattered over this rank's rows (dependency checks). */
  readonly #dense: Float64Array;

  /**
   * @param colSq global column sums of squares (an allReduce of localColumnSquares)
   * @param n global number of rows
   */
  constructor(data: CsrData, numFeatures: number, lambda: number, colSq: Float64Array, n: number) {
    this.numFeatures = numFeatures;
    this.lambda = lambda;
    this.n = n;
    this.#csc = toCsc(data, linearLayout(numFeatures, false));
    this.colSq = colSq;
    this.w = new Float64Array(numFeatures);
    this.residual = Float64Array.from(data.labels);
    this.#dense = new Float64Array(data.numRows);
  }

  /** This rank's sum_i x_ij^2 per column, and sum_i y_i^2 in the last slot. */
  static localColumnSquares(data: CsrData, numFeatures: number): Float64Array {
    const out = new Float64Array(numFeatures + 1);
    const end = data.rowPtr[data.numRows] ?? 0;
    for (let k = 0; k < end; k++) {
      const v = data.values[k]!;
      out[data.featureIds[k]!]! += v * v;
    }
    for (let i = 0; i < data.numRows; i++) out[numFeatures]! += data.labels[i]! * data.labels[i]!;
    return out;
  }

  /** This rank's sum_i x_ij r_i for each of `params` into out[0..P), and sum_i r_i^2 into out[P]. */
  partialSums(params: Uint32Array, out: Float64Array): Float64Array {
    const { colPtr, rows, values } = this.#csc;
    const r = this.residual;
    for (let p = 0; p < params.length; p++) {
      const j = params[p]!;
      let s = 0;
      for (let k = colPtr[j]!; k < colPtr[j + 1]!; k++) s += values[k]! * r[rows[k]!]!;
      out[p] = s;
    }
    let rr = 0;
    for (let i = 0; i < r.length; i++) rr += r[i]! * r[i]!;
    out[params.length] = rr;
    return out;
  }

  /**
   * Updates every coordinate of `params` from the same residual (the global sums in
   * `sums[0..P)`), then the residual. Returns each coordinate's change.
   */
  applyUpdates(params: Uint32Array, sums: Float64Array): Float64Array {
    const { colPtr, rows, values } = this.#csc;
    const changes = new Float64Array(params.length);
    for (let p = 0; p < params.length; p++) {
      const j = params[p]!;
      const a = this.colSq[j]! / this.n;
      if (!(a > 0)) continue; // an empty column stays 0
      const old = this.w[j]!;
      const next = softThreshold(sums[p]! / this.n + a * old, this.lambda) / a;
      changes[p] = next - old;
      this.w[j] = next;
    }
    const r = this.residual;
    for (let p = 0; p < params.length; p++) {
      const d = changes[p]!;
      if (d === 0) continue;
      const j = params[p]!;
      for (let k = colPtr[j]!; k < colPtr[j + 1]!; k++) r[rows[k]!]! -= values[k]! * d;
    }
    return changes;
  }

  /** The objective from the global sum of squared residuals. */
  objective(globalResidualSq: number): number {
    let l1 = 0;
    for (let j = 0; j < this.w.length; j++) l1 += Math.abs(this.w[j]!);
    return globalResidualSq / (2 * this.n) + this.lambda * l1;
  }

  /**
   * This rank's column dot products x_a . x_b of the given pairs (candidate positions, a < b
   * in each pair): each column a is scattered once and dotted with its partners.
   */
  localDots(candidates: Uint32Array, pairs: ReadonlyArray<readonly [number, number]>): Float64Array {
    const { colPtr, rows, values } = this.#csc;
    const out = new Float64Array(pairs.length);
    const dense = this.#dense;
    let i = 0;
    while (i < pairs.length) {
      const ja = candidates[pairs[i]![0]]!;
      for (let q = colPtr[ja]!; q < colPtr[ja + 1]!; q++) dense[rows[q]!] = values[q]!;
      for (; i < pairs.length && candidates[pairs[i]![0]] === ja; i++) {
        const jb = candidates[pairs[i]![1]]!;
        let s = 0;
        for (let q = colPtr[jb]!; q < colPtr[jb + 1]!; q++) s += values[q]! * dense[rows[q]!]!;
        out[i] = s;
      }
      for (let q = colPtr[ja]!; q < colPtr[ja + 1]!; q++) dense[rows[q]!] = 0;
    }
    return out;
  }

  /** |x_a . x_b| / (||x_a|| ||x_b||) from a global dot product. */
  correlation(ja: number, jb: number, dot: number): number {
    const norm = Math.sqrt(this.colSq[ja]! * this.colSq[jb]!);
    return norm > 0 ? Math.abs(dot) / norm : 0;
  }
}
