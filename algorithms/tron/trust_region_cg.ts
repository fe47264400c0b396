// Preconditioned conjugate gradient for the trust-region subproblem of TRON (Steihaug's
// truncated CG; Lin, Weng & Keerthi 2008, Algorithm 2, with a diagonal preconditioner M):
//   approximately minimise  q(s) = g.s + 0.5 s'Hs  subject to  ||s||_M <= delta,
// ||s||_M = sqrt(s'Ms), by CG on H s = -g from s = 0. It stops when the preconditioned
// residual is small (||r||_{M^-1} <= xi ||g||_{M^-1}, r = -g - Hs), or when a step would
// leave the region: then it goes along the current direction to the boundary (||s||_M grows
// monotonically along PCG iterates, so the first crossing is the one). With M = I this is the
// paper's CG. H is only touched through Hessian-vector products (one pass over the data and
// one allReduce each in the LR trainer); everything else is O(dim) per step. Every rank
// computes the same numbers from the same allReduced products, so all ranks take the same
// branches.
import { dot } from '../lbfgs_lr/two_loop.js';

export interface TrustRegionStep {
  /** The step. */
  s: Float64Array;
  /** The residual -g - H s (gives the model decrease without another product). */
  r: Float64Array;
  /** ||s||_M */
  norm: number;
  /** Hessian-vector products used. */
  products: number;
  /** True when the step was cut at the trust-region boundary. */
  boundary: boolean;
}

/** sqrt(a' diag(m) a), m = null for the identity. */
export function mNorm(a: Float64Array, m: Float64Array | null): number {
  if (!m) return Math.sqrt(dot(a, a));
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j]! * m[j]! * a[j]!;
  return Math.sqrt(s);
}

/**
 * @param hv out = H v (collective in the distributed trainer)
 * @param m the diagonal preconditioner (positive), or null for none
 * @param xi relative residual at which CG stops (0.1 in liblinear's TRON)
 * @param maxSteps bound on products (the dimension is the exact-arithmetic bound)
 */
export async function trustRegionCg(
  g: Float64Array,
  delta: number,
  hv: (v: Float64Array, out: Float64Array) => Promise<void>,
  m: Float64Array | null = null,
  xi = 0.1,
  maxSteps = g.length,
): Promise<TrustRegionStep> {
  const dim = g.length;
  const s = new Float64Array(dim);
  const r = new Float64Array(dim);
  const z = new Float64Array(dim);
  const d = new Float64Array(dim);
  const hd = new Float64Array(dim);
  let rz = 0;
  for (let j = 0; j < dim; j++) {
    r[j] = -g[j]!;
    z[j] = m ? r[j]! / m[j]! : r[j]!;
    d[j] = z[j]!;
    rz += r[j]! * z[j]!;
  }
  const tol = xi * Math.sqrt(rz);
  // ||s||_M^2 and s'Md, kept up to date instead of recomputed.
  let sMs = 0;
  let products = 0;
  while (Math.sqrt(rz) > tol && products < maxSteps) {
    await hv(d, hd);
    products++;
    const dhd = dot(d, hd);
    const alpha = rz / dhd;
    let sMd = 0;
    let dMd = 0;
    for (let j = 0; j < dim; j++) {
      const mj = m ? m[j]! : 1;
      sMd += s[j]! * mj * d[j]!;
      dMd += d[j]! * mj * d[j]!;
    }
    // Past the boundary (or non-positive curvature, impossible for LR but cheap to guard):
    // stop at the tau >= 0 with ||s + tau d||_M = delta.
    if (!(dhd > 0) || sMs + alpha * (2 * sMd + alpha * dMd) > delta * delta) {
      const gap = Math.max(0, delta * delta - sMs);
      const rad = Math.sqrt(sMd * sMd + dMd * gap);
      const tau = sMd >= 0 ? gap / (sMd + rad) : (rad - sMd) / dMd;
      for (let j = 0; j < dim; j++) {
        s[j]! += tau * d[j]!;
        r[j]! -= tau * hd[j]!;
      }
      return { s, r, norm: mNorm(s, m), products, boundary: true };
    }
    sMs += alpha * (2 * sMd + alpha * dMd);
    let rzNew = 0;
    for (let j = 0; j < dim; j++) {
      s[j]! += alpha * d[j]!;
      r[j]! -= alpha * hd[j]!;
      z[j] = m ? r[j]! / m[j]! : r[j]!;
      rzNew += r[j]! * z[j]!;
    }
    const beta = rzNew / rz;
    for (let j = 0; j < dim; j++) d[j] = z[j]! + beta * d[j]!;
    rz = rzNew;
  }
  return { s, r, norm: mNorm(s, m), products, boundary: false };
}
