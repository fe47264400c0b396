// Binary logistic regression primitives shared by the L-BFGS/OWL-QN and BCD trainers and by
// the metrics: margins, the stable log-loss, one rank's loss-and-gradient pass, penalties.
//
// The objective is liblinear's: F(w) = 0.5*l2*||w||^2 + l1*||w||_1 + C * sum_i v_i*log(1 + exp(-y_i w.x_i)),
// y_i = +1 when label > 0 else -1, v_i the instance weight (1 without a weight file). The
// optional bias is the last slot of w, sits in every row with value 1 and is never penalised.
// w is indexed by feature id (ids as in the file), so slot 0 is unused for 1-based libsvm data.
import { native } from '../../lib/native.js';
import { sigmoid } from '../../lib/sigmoid.js';
import type { CsrData } from './dataset.js';

/** Where the parameters live in w: feature ids 0..numFeatures-1, then the bias if any. */
export interface LinearLayout {
  numFeatures: number;
  bias: boolean;
  /** numFeatures + (bias ? 1 : 0) */
  dim: number;
}

export function linearLayout(numFeatures: number, bias: boolean): LinearLayout {
  return { numFeatures, bias, dim: numFeatures + (bias ? 1 : 0) };
}

/** Regularisation: 0.5*l2*||w||^2 + l1*||w||_1 over the feature slots (never the bias). */
export interface Penalty {
  l2: number;
  l1: number;
}

/** log(1 + exp(t)) without overflow. */
export function softplus(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

/** out[i] = w.x_i (+ bias) for every row. */
export function computeMargins(data: CsrData, w: Float64Array, layout: LinearLayout, out: Float64Array): Float64Array {
  const { rowPtr, featureIds, values } = data;
  const b = layout.bias ? w[layout.numFeatures]! : 0;
  for (let i = 0; i < data.numRows; i++) {
    let z = b;
    const end = rowPtr[i + 1]!;
    for (let k = rowPtr[i]!; k < end; k++) z += w[featureIds[k]!]! * values[k]!;
    out[i] = z;
  }
  return out;
}

/**
 * One rank's data term: returns C * sum_i v_i*loss_i over its rows and writes the gradient of
 * that term into `grad` (length layout.dim, overwritten). One fused native pass over the rows
 * (native/linear/logistic.h): per row the margin, then one e = exp(-|t|), t = -y*margin, for
 * both the stable log-loss max(t, 0) + log1p(e) and the gradient factor -y*v*C*sigmoid(t),
 * scattered in row order. `threads` (1..64) splits the rows into fixed contiguous chunks summed
 * in order: the bits depend on the count, not on timing. `work` is reusable scratch of
 * lossGradWorkSize(layout, threads) doubles (allocated per call when absent or short).
 * `curvature` (numRows doubles), when given, receives each row's C*v_i*sigma*(1-sigma).
 * Throws a RangeError when a feature id is >= layout.numFeatures.
 */
export function localLossGrad(
  data: CsrData,
  w: Float64Array,
  layout: LinearLayout,
  c: number,
  grad: Float64Array,
  threads = 1,
  work: Float64Array | null = null,
  curvature: Float64Array | null = null,
): number {
  const n = data.numRows;
  const { featureIds, values } = data;
  const rowPtr = fit(data.rowPtr, n + 1);
  const labels = fit(data.labels, n);
  const weights = data.weights ? fit(data.weights, n) : null;
  const size = lossGradWorkSize(layout, threads);
  const scratch = work && work.length >= size ? work : new Float64Array(size);
  return native.linear.lossGrad(rowPtr, featureIds, values, labels, weights, w, layout.numFeatures, layout.bias, c, grad, threads, scratch, curvature);
}

/** Doubles of scratch localLossGrad needs: threads * 2 * layout.dim. */
export function lossGradWorkSize(layout: LinearLayout, threads: number): number {
  return Math.max(1, threads) * 2 * layout.dim;
}

/** The first n values of a (possibly over-allocated) array, without a copy. */
function fit<T extends Uint32Array | Float32Array>(a: T, n: number): T {
  return (a.length === n ? a : a.subarray(0, n)) as T;
}

/** Value of the penalty at w. */
export function penaltyValue(w: Float64Array, layout: LinearLayout, penalty: Penalty): number {
  let sq = 0;
  let abs = 0;
  for (let j = 0; j < layout.numFeatures; j++) {
    const v = w[j]!;
    sq += v * v;
    abs += Math.abs(v);
  }
  return 0.5 * penalty.l2 * sq + penalty.l1 * abs;
}

/** Probabilities sigmoid(w.x + b) for every row. */
export function predictProbabilities(data: CsrData, w: Float64Array, layout: LinearLayout): Float64Array {
  const out = computeMargins(data, w, layout, new Float64Array(data.numRows));
  for (let i = 0; i < out.length; i++) out[i] = sigmoid(out[i]!);
  return out;
}
