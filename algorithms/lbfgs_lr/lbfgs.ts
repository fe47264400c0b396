// L-BFGS (Nocedal & Wright, Algorithm 7.5) for a smooth objective whose evaluation may be
// distributed: `fn.evaluate` returns f(x) and its gradient, identical on every rank (the LR
// trainer sums the ranks' shares with one fused allReduce), so every rank runs the same
// iterations on the same numbers and ends with the same x.
//
// Each iteration: d = -H g (two_loop.ts), a strong-Wolfe line search (line_search.ts), then
// the pair (s, y) joins the history (m pairs). Stops on the first of:
//   'gradient'   ||g|| <= gradTol * max(1, ||x||)
//   'objective'  (f_{k-past} - f_k) / max(|f_k|, 1) < tol   (liblbfgs's delta test, past = 3)
//   'max-iter'   maxIter iterations
//   'line-search' no acceptable step even along -g (numerically at the optimum)
import { strongWolfe, type LinePoint } from './line_search.js';
import { dot, LbfgsHistory, norm2, type HistorySnapshot } from './two_loop.js';

/** A differentiable function: returns f(x) and writes its gradient into `grad`. */
export interface DifferentiableFunction {
  readonly dim: number;
  evaluate(x: Float64Array, grad: Float64Array): Promise<number>;
}

export interface IterationInfo {
  iteration: number;
  objective: number;
  /** Norm of the (pseudo-)gradient. */
  gradNorm: number;
  step: number;
  /** Function evaluations so far (each one allReduce in the LR trainer). */
  evaluations: number;
  /** Seconds since the optimizer started. */
  seconds: number;
}

export type StopReason = 'gradient' | 'objective' | 'max-iter' | 'line-search';

export interface QuasiNewtonOptions {
  /** History size (default 10). */
  m?: number;
  /** Iteration limit (default 100). */
  maxIter?: number;
  /** Relative objective decrease over `past` iterations below which to stop (default 1e-7). */
  tol?: number;
  /** Iterations the objective test looks back (default 3). */
  past?: number;
  /** Gradient test: ||g|| <= gradTol * max(1, ||x||) (default 1e-10). */
  gradTol?: number;
  /** Called after every iteration (and once for iteration 0). */
  onIteration?: (info: IterationInfo) => void;
  /** Called after every completed iteration with what it takes to continue from there (TrainingState.commit). */
  onCommit?: (state: QuasiNewtonState) => void;
  /** Continue from a state given to onCommit (a recovered or resumed run): the same iterations follow, bit for bit. */
  resume?: QuasiNewtonState | null;
}

/** Everything an iteration of L-BFGS / OWL-QN depends on (plain data: a TrainingState can hold it). */
export interface QuasiNewtonState {
  iteration: number;
  x: Float64Array;
  g: Float64Array;
  /** Objective (OWL-QN: including the L1 term). */
  f: number;
  /** Objectives of iterations 0..iteration (the stop test looks back). */
  fs: number[];
  evaluations: number;
  history: HistorySnapshot;
  /** Set when the committed iteration met a stop test: a resumed run stops there too. */
  stopped: StopReason | null;
}

export interface QuasiNewtonResult {
  x: Float64Array;
  objective: number;
  gradNorm: number;
  iterations: number;
  evaluations: number;
  reason: StopReason;
  seconds: number;
}

/** Shared stop test on the objective history. */
export function objectiveConverged(history: number[], past: number, tol: number): boolean {
  const k = history.length - 1;
  if (k < 1) return false;
  const then = history[Math.max(0, k - past)]!;
  const now = history[k]!;
  return (then - now) / Math.max(Math.abs(now), 1) < tol;
}

/** Minimises `fn` from `x0` (not modified). */
export async function lbfgs(fn: DifferentiableFunction, x0: Float64Array, options: QuasiNewtonOptions = {}): Promise<QuasiNewtonResult> {
  const m = options.m ?? 10;
  const maxIter = options.maxIter ?? 100;
  const tol = options.tol ?? 1e-7;
  const past = options.past ?? 3;
  const gradTol = options.gradTol ?? 1e-10;
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const dim = fn.dim;
  const history = new LbfgsHistory(dim, m);
  const r = options.resume ?? null;
  let x: Float64Array = r ? Float64Array.from(r.x) : Float64Array.from(x0);
  let g: Float64Array = r ? Float64Array.from(r.g) : new Float64Array(dim);
  let f = r ? r.f : await fn.evaluate(x, g);
  let evaluations = r ? r.evaluations : 1;
  let gnorm = norm2(g);
  const fs = r ? [...r.fs] : [f];
  if (r) history.restore(r.history);
  else options.onIteration?.({ iteration: 0, objective: f, gradNorm: gnorm, step: 0, evaluations, seconds: seconds() });
  const d = new Float64Array(dim);
  const s = new Float64Array(dim);
  const y = new Float64Array(dim);
  let reason: StopReason = 'max-iter';
  let iteration = r ? r.iteration : 0;
  if (r?.stopped) reason = r.stopped;
  else if (!r && gnorm <= gradTol * Math.max(1, norm2(x))) reason = 'gradient';
  else {
    for (iteration = iteration + 1; iteration <= maxIter; iteration++) {
      history.direction(g, d);
      let dg = dot(g, d);
      if (!(dg < 0)) {
        history.clear();
        for (let j = 0; j < dim; j++) d[j] = -g[j]!;
        dg = -gnorm * gnorm;
      }
      const base = x;
      const evalAt = async (alpha: number): Promise<LinePoint> => {
        const xt = new Float64Array(dim);
        for (let j = 0; j < dim; j++) xt[j] = base[j]! + alpha * d[j]!;
        const gt = new Float64Array(dim);
        const ft = await fn.evaluate(xt, gt);
        return { alpha, f: ft, dg: dot(gt, d), x: xt, g: gt };
      };
      // The first step has no curvature information: scale it to unit length.
      const alpha0 = history.count === 0 ? Math.min(1, 1 / norm2(d)) : 1;
      let ls = await strongWolfe(evalAt, { alpha: 0, f, dg, x, g }, alpha0);
      evaluations += ls.evals;
      if (!ls.point && history.count > 0) {
        // The quasi-Newton direction failed: restart from steepest descent once.
        history.clear();
        for (let j = 0; j < dim; j++) d[j] = -g[j]!;
        ls = await strongWolfe(evalAt, { alpha: 0, f, dg: -gnorm * gnorm, x, g }, Math.min(1, 1 / gnorm));
        evaluations += ls.evals;
      }
      const p = ls.point;
      if (!p) {
        reason = 'line-search';
        iteration--;
        break;
      }
      for (let j = 0; j < dim; j++) {
        s[j] = p.x[j]! - x[j]!;
        y[j] = p.g[j]! - g[j]!;
      }
      history.push(s, y);
      x = p.x;
      g = p.g;
      f = p.f;
      gnorm = norm2(g);
      fs.push(f);
      options.onIteration?.({ iteration, objective: f, gradNorm: gnorm, step: p.alpha, evaluations, seconds: seconds() });
      const stop: StopReason | null = gnorm <= gradTol * Math.max(1, norm2(x)) ? 'gradient' : objectiveConverged(fs, past, tol) ? 'objective' : null;
      options.onCommit?.({ iteration, x, g, f, fs, evaluations, history: history.snapshot(), stopped: stop });
      if (stop) {
        reason = stop;
        break;
      }
    }
    if (iteration > maxIter) iteration = maxIter;
  }
  return { x, objective: f, gradNorm: gnorm, iterations: iteration, evaluations, reason, seconds: seconds() };
}
