// Preconditioned conjugate gradient for the trust-region subproblem of TRON (Steihaug's
// truncated CG; Lin, Weng & Keerthi 2008, Algorithm 2, with a diagonal preconditioner M):
//   approximately minimise  q(s) = g.s + 0.5 s'Hs  subject to  ||s||_M <= delta,
// ||s||_M = sqrt(s'Ms), by CG on H s = -g from s = 0. It stops when the preconditioned
// residual is small (||r||_{M^-1} <= xi ||g||_{M^-1}, r = -g - Hs), or when a step would
// leave the region: then it goes along the current direction to the boundary (||s||_M grows
// monotonically along PCG iterates, so the first crossing is the one). With M = I this is the
// paper's CG. H is only touched through Hessian-vector products (one pass over the data and
// one allReduce each in the LR trainer); everything else is O(dim) per step.
//
// The iteration is written on scalars only (truncatedCg): the vectors s, r, z = M^-1 r, d and
// Hd live behind CgVectors, as arrays on every rank (DenseCg here) or as slots on the
// parameter servers (algorithms/sharded_lr/tron_vectors.ts). Every rank computes the same
// numbers from the same allReduced products, so all ranks take the same branches.
import { dot } from '../lbfgs_lr/two_loop.js';

/** The CG vectors s, r, z = M^-1 r, d and Hd, wherever they live; every method returns only scalars. */
export interface CgVectors {
  /** s = 0, r = -g, z = M^-1 r, d = z; returns r.z. */
  cgStart(): Promise<number>;
  /** Hd = H d; returns d'Hd, s'Md and d'Md. */
  product(): Promise<{ dHd: number; sMd: number; dMd: number }>;
  /** s += alpha d, r -= alpha Hd, z = M^-1 r; returns the new r.z. */
  cgStep(alpha: number): Promise<number>;
  /** s += tau d, r -= tau Hd: the step to the boundary, the last one. */
  cgBoundary(tau: number): Promise<void>;
  /** d = z + beta d. */
  cgDirection(beta: number): void;
}

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
 * Steihaug's truncated PCG on `v` inside radius `delta`; s and r are left in `v`.
 * @param xi relative residual at which CG stops (0.1 in liblinear's TRON)
 * @param maxSteps bound on products (the dimension is the exact-arithmetic bound)
 */
export async function truncatedCg(v: CgVectors, delta: number, xi: number, maxSteps: number): Promise<{ products: number; boundary: boolean }> {
  let rz = await v.cgStart();
  const tol = xi * Math.sqrt(rz);
  // ||s||_M^2, kept up to date instead of recomputed.
  let sMs = 0;
  let products = 0;
  while (Math.sqrt(rz) > tol && products < maxSteps) {
    const { dHd, sMd, dMd } = await v.product();
    products++;
    const alpha = rz / dHd;
    // Past the boundary (or non-positive curvature, impossible for LR but cheap to guard):
    // stop at the tau >= 0 with ||s + tau d||_M = delta.
    if (!(dHd > 0) || sMs + alpha * (2 * sMd + alpha * dMd) > delta * delta) {
      const gap = Math.max(0, delta * delta - sMs);
      const rad = Math.sqrt(sMd * sMd + dMd * gap);
      const tau = sMd >= 0 ? gap / (sMd + rad) : (rad - sMd) / dMd;
      await v.cgBoundary(tau);
      return { products, boundary: true };
    }
    sMs += alpha * (2 * sMd + alpha * dMd);
    const rzNew = await v.cgStep(alpha);
    v.cgDirection(rzNew / rz);
    rz = rzNew;
  }
  return { products, boundary: false };
}

/** The CG vectors as arrays of g's length; `m` the diagonal preconditioner or null. */
export class DenseCg implements CgVectors {
  readonly s: Float64Array;
  readonly r: Float64Array;
  readonly #z: Float64Array;
  readonly #d: Float64Array;
  readonly #hd: Float64Array;
  /** The gradient the next cgStart() starts from (callers may swap it). */
  g: Float64Array;

  constructor(
    g: Float64Array,
    private readonly hv: (v: Float64Array, out: Float64Array) => Promise<void>,
    /** The diagonal preconditioner (positive), or null; callers may change its values between solves. */
    public m: Float64Array | null,
  ) {
    const dim = g.length;
    this.g = g;
    this.s = new Float64Array(dim);
    this.r = new Float64Array(dim);
    this.#z = new Float64Array(dim);
    this.#d = new Float64Array(dim);
    this.#hd = new Float64Array(dim);
  }

  async cgStart(): Promise<number> {
    const { g, m, s, r } = this;
    const z = this.#z;
    const d = this.#d;
    let rz = 0;
    for (let j = 0; j < g.length; j++) {
      s[j] = 0;
      r[j] = -g[j]!;
      z[j] = m ? r[j]! / m[j]! : r[j]!;
      d[j] = z[j]!;
      rz += r[j]! * z[j]!;
    }
    return rz;
  }

  async product(): Promise<{ dHd: number; sMd: number; dMd: number }> {
    const { m, s } = this;
    const d = this.#d;
    await this.hv(d, this.#hd);
    const dHd = dot(d, this.#hd);
    let sMd = 0;
    let dMd = 0;
    for (let j = 0; j < d.length; j++) {
      const mj = m ? m[j]! : 1;
      sMd += s[j]! * mj * d[j]!;
      dMd += d[j]! * mj * d[j]!;
    }
    return { dHd, sMd, dMd };
  }

  async cgStep(alpha: number): Promise<number> {
    const { m, s, r } = this;
    const z = this.#z;
    const d = this.#d;
    const hd = this.#hd;
    let rz = 0;
    for (let j = 0; j < s.length; j++) {
      s[j]! += alpha * d[j]!;
      r[j]! -= alpha * hd[j]!;
      z[j] = m ? r[j]! / m[j]! : r[j]!;
      rz += r[j]! * z[j]!;
    }
    return rz;
  }

  async cgBoundary(tau: number): Promise<void> {
    const { s, r } = this;
    const d = this.#d;
    const hd = this.#hd;
    for (let j = 0; j < s.length; j++) {
      s[j]! += tau * d[j]!;
      r[j]! -= tau * hd[j]!;
    }
  }

  cgDirection(beta: number): void {
    const z = this.#z;
    const d = this.#d;
    for (let j = 0; j < d.length; j++) d[j] = z[j]! + beta * d[j]!;
  }
}

/**
 * Dense form of truncatedCg (a fresh s and r per call).
 * @param hv out = H v (collective in the distributed trainer)
 * @param m the diagonal preconditioner (positive), or null for none
 */
export async function trustRegionCg(
  g: Float64Array,
  delta: number,
  hv: (v: Float64Array, out: Float64Array) => Promise<void>,
  m: Float64Array | null = null,
  xi = 0.1,
  maxSteps = g.length,
): Promise<TrustRegionStep> {
  const v = new DenseCg(g, hv, m);
  const { products, boundary } = await truncatedCg(v, delta, xi, maxSteps);
  return { s: v.s, r: v.r, norm: mNorm(v.s, m), products, boundary };
}
