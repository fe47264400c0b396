// OWL-QN (Andrew & Gao, "Scalable training of L1-regularized log-linear models", ICML 2007)
// for F(x) = f(x) + l1 * sum_{j < penalized} |x_j|, f smooth (the LR data term, plus any L2).
// Slots at index >= `penalized` (the bias) are not penalised.
//
// Per iteration:
//   pseudo-gradient  pg_j = g_j + l1*sign(x_j) if x_j != 0; else g_j + l1 if that is < 0,
//                    g_j - l1 if that is > 0, else 0 (the minimum-norm subgradient)
//   direction        d = -H pg (two-loop over pairs of *smooth* gradients), then d_j = 0 where
//                    d_j has the sign of pg_j (keeps d a descent direction coordinate-wise)
//   orthant          xi_j = sign(x_j), or sign(-pg_j) where x_j = 0
//   line search      backtracking on x(a) = P(x + a d) (P zeroes coordinates that leave the
//                    orthant xi) until F(x(a)) <= F(x) + c1 * pg.(x(a) - x)
// The stop tests are those of lbfgs.ts, on F and ||pg||.
import { objectiveConverged, type DifferentiableFunction, type QuasiNewtonOptions, type QuasiNewtonResult, type StopReason } from './lbfgs.js';
import { dot, LbfgsHistory, norm2 } from './two_loop.js';

export interface OwlqnOptions extends QuasiNewtonOptions {
  /** The L1 weight (> 0). */
  l1: number;
  /** Slots 0..penalized-1 carry the L1 term (default: all). */
  penalized?: number;
}

function l1Norm(x: Float64Array, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.abs(x[j]!);
  return s;
}

function pseudoGradient(x: Float64Array, g: Float64Array, l1: number, n: number, out: Float64Array): Float64Array {
  for (let j = 0; j < x.length; j++) {
    const gj = g[j]!;
    if (j >= n) out[j] = gj;
    else if (x[j]! > 0) out[j] = gj + l1;
    else if (x[j]! < 0) out[j] = gj - l1;
    else if (gj + l1 < 0) out[j] = gj + l1;
    else if (gj - l1 > 0) out[j] = gj - l1;
    else out[j] = 0;
  }
  return out;
}

/** Minimises f(x) + l1*||x[0:penalized]||_1 from `x0` (not modified). */
export async function owlqn(fn: DifferentiableFunction, x0: Float64Array, options: OwlqnOptions): Promise<QuasiNewtonResult> {
  const m = options.m ?? 10;
  const maxIter = options.maxIter ?? 100;
  const tol = options.tol ?? 1e-7;
  const past = options.past ?? 3;
  const gradTol = options.gradTol ?? 1e-10;
  const l1 = options.l1;
  const dim = fn.dim;
  const n = Math.min(options.penalized ?? dim, dim);
  const c1 = 1e-4;
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const history = new LbfgsHistory(dim, m);
  const r = options.resume ?? null;

  let x: Float64Array = r ? Float64Array.from(r.x) : Float64Array.from(x0);
  let g: Float64Array = r ? Float64Array.from(r.g) : new Float64Array(dim);
  let F = r ? r.f : (await fn.evaluate(x, g)) + l1 * l1Norm(x, n);
  let evaluations = r ? r.evaluations : 1;
  const pg = pseudoGradient(x, g, l1, n, new Float64Array(dim));
  let pgnorm = norm2(pg);
  const Fs = r ? [...r.fs] : [F];
  if (r) history.restore(r.history);
  else options.onIteration?.({ iteration: 0, objective: F, gradNorm: pgnorm, step: 0, evaluations, seconds: seconds() });
  const d = new Float64Array(dim);
  const s = new Float64Array(dim);
  const y = new Float64Array(dim);
  const orthant = new Float64Array(dim);
  let reason: StopReason = 'max-iter';
  let iteration = r ? r.iteration : 0;
  if (r?.stopped) reason = r.stopped;
  else if (!r && pgnorm <= gradTol * Math.max(1, norm2(x))) reason = 'gradient';
  else {
    for (iteration = iteration + 1; iteration <= maxIter; iteration++) {
      history.direction(pg, d);
      for (let j = 0; j < dim; j++) if (d[j]! * pg[j]! >= 0) d[j] = 0;
      if (!(dot(d, pg) < 0)) {
        // The projected quasi-Newton direction is useless: fall back to -pg.
        history.clear();
        for (let j = 0; j < dim; j++) d[j] = -pg[j]!;
      }
      for (let j = 0; j < dim; j++) orthant[j] = x[j] !== 0 ? Math.sign(x[j]!) : Math.sign(-pg[j]!);
      let alpha = history.count === 0 ? Math.min(1, 1 / norm2(d)) : 1;
      let accepted: { x: Float64Array; g: Float64Array; F: number } | null = null;
      for (let trial = 0; trial < 40; trial++) {
        const xt = new Float64Array(dim);
        let decrease = 0;
        for (let j = 0; j < dim; j++) {
          let v = x[j]! + alpha * d[j]!;
          if (j < n && Math.sign(v) !== orthant[j]) v = 0;
          xt[j] = v;
          decrease += pg[j]! * (v - x[j]!);
        }
        const gt = new Float64Array(dim);
        const Ft = (await fn.evaluate(xt, gt)) + l1 * l1Norm(xt, n);
        evaluations++;
        if (Ft <= F + c1 * decrease) {
          accepted = { x: xt, g: gt, F: Ft };
          break;
        }
        alpha *= 0.5;
      }
      if (!accepted) {
        if (history.count > 0) {
          history.clear();
          iteration--;
          continue;
        }
        reason = 'line-search';
        iteration--;
        break;
      }
      for (let j = 0; j < dim; j++) {
        s[j] = accepted.x[j]! - x[j]!;
        y[j] = accepted.g[j]! - g[j]!;
      }
      history.push(s, y);
      x = accepted.x;
      g = accepted.g;
      F = accepted.F;
      pseudoGradient(x, g, l1, n, pg);
      pgnorm = norm2(pg);
      Fs.push(F);
      options.onIteration?.({ iteration, objective: F, gradNorm: pgnorm, step: alpha, evaluations, seconds: seconds() });
      const stop: StopReason | null = pgnorm <= gradTol * Math.max(1, norm2(x)) ? 'gradient' : objectiveConverged(Fs, past, tol) ? 'objective' : null;
      options.onCommit?.({ iteration, x, g, f: F, fs: Fs, evaluations, history: history.snapshot(), stopped: stop });
      if (stop) {
        reason = stop;
        break;
      }
    }
    if (iteration > maxIter) iteration = maxIter;
  }
  return { x, objective: F, gradNorm: pgnorm, iterations: iteration, evaluations, reason, seconds: seconds() };
}
