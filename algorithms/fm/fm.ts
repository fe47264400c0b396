// Order-2 factorization machine math (Rendle 2010): prediction and gradient of one row in
// O(k * nnz) with the sum trick, plus the direct O(k * nnz^2) formula the tests compare with.
// Pure functions; no I/O, no parameter server.
//
//   y(x) = w0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j
//        = w0 + sum_i w_i x_i + 1/2 sum_f [ (sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2 ]
//   dy/dw0 = 1, dy/dw_i = x_i, dy/dv_if = x_i (s_f - v_if x_i) with s_f = sum_j v_jf x_j.
//
// Parameters of a row's features sit in a flat array with stride k + 1: [w_i, v_i1 .. v_ik]
// at `pos[e] * (k + 1)` for the row's e-th entry (the layout of one PS row of dim k + 1).

/** Score of entries [lo, hi): `pos[e]` is entry e's parameter row in `params`; `sums` (length k) receives s_f. */
export function fmScore(
  params: ArrayLike<number>,
  k: number,
  w0: number,
  pos: ArrayLike<number>,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  sums: Float64Array,
): number {
  const stride = k + 1;
  let linear = w0;
  sums.fill(0, 0, k);
  let sq = 0;
  for (let e = lo; e < hi; e++) {
    const base = pos[e]! * stride;
    const x = values[e]!;
    linear += params[base]! * x;
    for (let f = 0; f < k; f++) {
      const vx = params[base + 1 + f]! * x;
      sums[f] = sums[f]! + vx;
      sq += vx * vx;
    }
  }
  let pair = 0;
  for (let f = 0; f < k; f++) pair += sums[f]! * sums[f]!;
  return linear + 0.5 * (pair - sq);
}

/**
 * Adds dl * dy/dtheta (+ L2 terms per occurrence) of entries [lo, hi) into `grad` (same layout
 * as params). `sums` must hold s_f from fmScore of the same row.
 */
export function fmAccumulateGradient(
  params: ArrayLike<number>,
  k: number,
  pos: ArrayLike<number>,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  sums: Float64Array,
  dl: number,
  l2w: number,
  l2v: number,
  grad: Float32Array | Float64Array,
): void {
  const stride = k + 1;
  for (let e = lo; e < hi; e++) {
    const base = pos[e]! * stride;
    const x = values[e]!;
    grad[base] = grad[base]! + dl * x + l2w * params[base]!;
    for (let f = 0; f < k; f++) {
      const v = params[base + 1 + f]!;
      grad[base + 1 + f] = grad[base + 1 + f]! + dl * x * (sums[f]! - v * x) + l2v * v;
    }
  }
}

/** The direct formula: w0 + sum w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j, O(k n^2). */
export function fmScoreDirect(w0: number, w: ArrayLike<number>, v: ArrayLike<ArrayLike<number>>, x: ArrayLike<number>): number {
  let y = w0;
  for (let i = 0; i < x.length; i++) y += w[i]! * x[i]!;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      let dot = 0;
      for (let f = 0; f < v[i]!.length; f++) dot += v[i]![f]! * v[j]![f]!;
      y += dot * x[i]! * x[j]!;
    }
  }
  return y;
}

/** dy/dv_if by the direct formula: x_i * sum_{j != i} v_jf x_j. */
export function fmGradVDirect(v: ArrayLike<ArrayLike<number>>, x: ArrayLike<number>, i: number, f: number): number {
  let s = 0;
  for (let j = 0; j < x.length; j++) if (j !== i) s += v[j]![f]! * x[j]!;
  return x[i]! * s;
}

/** Root mean squared error. */
export function rmse(pred: ArrayLike<number>, label: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = pred[i]! - label[i]!;
    s += d * d;
  }
  return pred.length > 0 ? Math.sqrt(s / pred.length) : Number.NaN;
}
