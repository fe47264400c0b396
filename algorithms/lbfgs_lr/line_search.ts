// Line search along a descent direction d satisfying the strong Wolfe conditions
// (Nocedal & Wright, Algorithms 3.5 and 3.6: bracketing, then zoom with safeguarded cubic
// interpolation):
//   sufficient decrease  phi(a) <= phi(0) + c1 * a * phi'(0)
//   curvature            |phi'(a)| <= c2 * |phi'(0)|
// with phi(a) = f(x + a d). Every trial point costs one evaluation (one fused allReduce in the
// LR trainer); all ranks see the same values, so they take the same branches. If zoom runs out
// of evaluations it returns the best point with sufficient decrease, if any.

/**
 * One evaluated trial point. `V` is how the caller names the point's x and gradient: arrays
 * here, slot handles for the sharded solver (algorithms/sharded_lr), whose vectors live on
 * the parameter servers. The search only reads alpha, f and dg.
 */
export interface LinePoint<V = Float64Array> {
  alpha: number;
  f: number;
  /** phi'(alpha) = grad(x + alpha d) . d */
  dg: number;
  x: V;
  g: V;
}

export interface LineSearchOptions {
  c1?: number;
  c2?: number;
  maxEvals?: number;
  maxStep?: number;
}

export interface LineSearchResult<V = Float64Array> {
  point: LinePoint<V> | null;
  evals: number;
}

function cubicMin<V>(lo: LinePoint<V>, hi: LinePoint<V>): number {
  const d1 = lo.dg + hi.dg - (3 * (lo.f - hi.f)) / (lo.alpha - hi.alpha);
  const disc = d1 * d1 - lo.dg * hi.dg;
  if (!(disc >= 0)) return Number.NaN;
  const d2 = Math.sign(hi.alpha - lo.alpha) * Math.sqrt(disc);
  return hi.alpha - (hi.alpha - lo.alpha) * ((hi.dg + d2 - d1) / (hi.dg - lo.dg + 2 * d2));
}

/**
 * Finds a step satisfying the strong Wolfe conditions.
 * @param evalAt evaluates f and its gradient at x + alpha d
 * @param start the point at alpha = 0 (f, dg < 0)
 * @param alpha0 first trial step
 */
export async function strongWolfe<V = Float64Array>(
  evalAt: (alpha: number) => Promise<LinePoint<V>>,
  start: LinePoint<V>,
  alpha0: number,
  options: LineSearchOptions = {},
): Promise<LineSearchResult<V>> {
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? 0.9;
  const maxEvals = options.maxEvals ?? 25;
  const maxStep = options.maxStep ?? 1e10;
  const f0 = start.f;
  const dg0 = start.dg;
  let evals = 0;
  const armijo = (p: LinePoint<V>): boolean => p.f <= f0 + c1 * p.alpha * dg0;
  const curvature = (p: LinePoint<V>): boolean => Math.abs(p.dg) <= -c2 * dg0;

  const zoom = async (lo: LinePoint<V>, hi: LinePoint<V>): Promise<LineSearchResult<V>> => {
    while (evals < maxEvals) {
      const left = Math.min(lo.alpha, hi.alpha);
      const right = Math.max(lo.alpha, hi.alpha);
      const width = right - left;
      if (width <= 1e-14 * right) break;
      let a = cubicMin(lo, hi);
      if (!Number.isFinite(a) || a < left + 0.1 * width || a > right - 0.1 * width) a = (lo.alpha + hi.alpha) / 2;
      const p = await evalAt(a);
      evals++;
      if (!armijo(p) || p.f >= lo.f) {
        hi = p;
      } else {
        if (curvature(p)) return { point: p, evals };
        if (p.dg * (hi.alpha - lo.alpha) >= 0) hi = lo;
        lo = p;
      }
    }
    // Out of budget: the best point with sufficient decrease still makes progress.
    return { point: lo.alpha > 0 ? lo : null, evals };
  };

  let prev = start;
  let alpha = alpha0;
  for (;;) {
    const p = await evalAt(alpha);
    evals++;
    if (!Number.isFinite(p.f) || !armijo(p) || (prev.alpha > 0 && p.f >= prev.f)) return zoom(prev, p);
    if (curvature(p)) return { point: p, evals };
    if (p.dg >= 0) return zoom(p, prev);
    if (evals >= maxEvals || alpha >= maxStep) return { point: p, evals };
    prev = p;
    alpha = Math.min(2 * alpha, maxStep);
  }
}
