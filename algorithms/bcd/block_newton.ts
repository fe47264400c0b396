// The per-block sub-problem of BCD with full block Hessian statistics: minimise the quadratic
// model q(d) = G.d + d'Hd/2 + l1 * sum_j |w_j + d_j| over the block's coordinates.
// With l1 = 0 it is one Cholesky solve of H d = -G; with l1 > 0, cyclic coordinate descent
// with soft thresholding on q (the inner loop of newGLMNET). Local arithmetic only: every rank
// runs it on the same allReduced G and H and gets the same d.

/**
 * Solves H d = -g in place of `d` for a symmetric positive definite H (row-major n x n).
 * Returns false if H is not numerically positive definite.
 */
export function choleskySolve(h: Float64Array, g: Float64Array, n: number, d: Float64Array): boolean {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = h[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (!(s > 1e-300)) return false;
        L[i * n + i] = Math.sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j]!;
      }
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = -g[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * z[k]!;
    z[i] = s / L[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * d[k]!;
    d[i] = s / L[i * n + i]!;
  }
  return true;
}

/**
 * Coordinate descent on q(d) (see the file comment); l1[j] is coordinate j's L1 weight (0 for
 * the bias). Writes d and returns it.
 */
export function softThresholdedNewton(
  h: Float64Array,
  g: Float64Array,
  w: ArrayLike<number>,
  l1: ArrayLike<number>,
  n: number,
  d: Float64Array,
  maxSweeps = 100,
): Float64Array {
  d.fill(0, 0, n);
  const hd = new Float64Array(n);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let biggest = 0;
    let scale = 0;
    for (let j = 0; j < n; j++) {
      const hjj = h[j * n + j]!;
      if (!(hjj > 1e-12)) continue;
      const gq = g[j]! + hd[j]!;
      const u = w[j]! + d[j]!;
      const lam = l1[j]!;
      let z: number;
      if (gq + lam <= hjj * u) z = -(gq + lam) / hjj;
      else if (gq - lam >= hjj * u) z = -(gq - lam) / hjj;
      else z = -u;
      if (z === 0) continue;
      d[j]! += z;
      for (let k = 0; k < n; k++) hd[k]! += z * h[k * n + j]!;
      biggest = Math.max(biggest, Math.abs(z));
      scale = Math.max(scale, Math.abs(d[j]!));
    }
    if (biggest <= 1e-10 * Math.max(1, scale)) break;
  }
  return d;
}
