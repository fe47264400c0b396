// TRON: trust-region Newton method (Lin, Weng & Keerthi, "Trust region Newton method for
// large-scale logistic regression", JMLR 2008; liblinear's solver for -s 0) for a smooth,
// twice differentiable f with Hessian-vector products.
//
// Per outer iteration: a truncated CG solve of the Newton system inside the trust region
// (trust_region_cg.ts, a few Hessian-vector products), one evaluation of f and its gradient
// at w + s, and the ratio of actual to predicted decrease decides whether the step is taken
// and how the radius delta changes (the paper's rules, eta = 1e-4 / 0.25 / 0.75, sigma =
// 0.25 / 0.5 / 4). Convergence is locally quadratic; on logistic regression a handful of outer
// iterations and a few dozen products reach a tight optimum, against hundreds of L-BFGS steps.
//
// Stops when ||g|| <= gradTol * ||g0|| (the caller scales gradTol as liblinear does), after
// maxIter accepted steps, or when neither actual nor predicted decrease is above 1e-12 |f|.
// The state after every outer iteration (accepted or not) goes to onCommit; resuming
// re-evaluates f, g and the curvature at the committed w (one evaluation), which gives the same
// bits as the uninterrupted run.
//
// The iteration (tronOn) sees scalars only: w, g, the trial point and the CG vectors live
// behind TronVectors, as arrays on every rank (DenseTron below, for `tron`) or as slots of a
// parameter-server vector table (algorithms/sharded_lr/tron_vectors.ts, for `--servers`).
import type { Phases } from './phase_clock.js';
import type { IterationInfo, QuasiNewtonResult, StopReason } from '../lbfgs_lr/lbfgs.js';
import { dot, norm2 } from '../lbfgs_lr/two_loop.js';
import { DenseCg, mNorm, truncatedCg, type CgVectors } from './trust_region_cg.js';

/** f with its gradient and Hessian-vector products at the last accepted point. */
export interface NewtonFunction {
  readonly dim: number;
  /** f(w); writes the gradient. The point becomes a candidate for acceptLast(). */
  evaluate(w: Float64Array, grad: Float64Array): Promise<number>;
  /** The last evaluated point is now the one hessianVector() uses. */
  acceptLast(): void;
  /** out = H v at the accepted point. */
  hessianVector(v: Float64Array, out: Float64Array): Promise<void>;
  /** out = the diagonal of H at the accepted point (for the preconditioner); optional. */
  hessianDiagonal?(out: Float64Array): Promise<void>;
}

/** What TRON needs to continue after a lost rank or a restart. */
export interface TronState {
  iteration: number;
  w: Float64Array;
  delta: number;
  gradNorm0: number;
  evaluations: number;
  products: number;
  stopped: StopReason | null;
}

export interface TronOptions {
  maxIter?: number;
  /** Stop when ||g|| <= gradTol * ||g(x0)|| (default 1e-3). */
  gradTol?: number;
  /** CG stops at residual xi * ||g|| (default 0.1). */
  xi?: number;
  /**
   * Weight of the Hessian's diagonal in the preconditioner M = (1 - a) I + a diag(H) (0: plain
   * CG; needs fn.hessianDiagonal). Default 0.01.
   */
  precondition?: number;
  onIteration?: (info: IterationInfo & { products: number; delta: number }) => void;
  onCommit?: (state: TronState) => void;
  resume?: TronState | null;
}

export interface TronResult extends QuasiNewtonResult {
  /** ||g|| at the start point (the stop rule's reference). */
  gradNorm0: number;
  /** Hessian-vector products (CG steps). */
  products: number;
  /** Where the time went on this rank (newton-l1). */
  phases?: Phases;
}

export const ETA0 = 1e-4;
const ETA1 = 0.25;
const ETA2 = 0.75;
const SIGMA1 = 0.25;
const SIGMA2 = 0.5;
const SIGMA3 = 4;

/**
 * The trust-region radius after a step of M-norm `snorm` with g.s = `gs`, actual decrease
 * `actual` and model decrease `predicted` (the paper's rules). A step is taken when
 * actual > ETA0 * predicted.
 */
export function updateRadius(delta: number, snorm: number, gs: number, actual: number, predicted: number): number {
  // alpha: the minimiser of the quadratic through f, g.s and f(w + s) along s, in units of s.
  const curv = -actual - gs;
  const alpha = curv <= 0 ? SIGMA3 : Math.max(SIGMA1, (-0.5 * gs) / curv);
  if (!(actual >= ETA0 * predicted)) return Math.min(Math.max(alpha, SIGMA1) * snorm, SIGMA2 * delta);
  if (actual < ETA1 * predicted) return Math.max(SIGMA1 * delta, Math.min(alpha * snorm, SIGMA2 * delta));
  if (actual < ETA2 * predicted) return Math.max(SIGMA1 * delta, Math.min(alpha * snorm, SIGMA3 * delta));
  return Math.max(delta, Math.min(alpha * snorm, SIGMA3 * delta));
}

/** TRON's vectors (w, g, the trial point and the CG vectors), wherever they live; only scalars come back. */
export interface TronVectors extends CgVectors {
  /** Evaluates f and g at the start point, which becomes the accepted point. */
  start(): Promise<{ f: number; gnorm: number }>;
  /** M = (1 - a) I + a diag(H) at the accepted point (or I); returns ||g||_{M^-1} (the first radius). */
  precondition(): Promise<number>;
  /** Evaluates at w + s (s from the last CG): f, g.s, s.r, ||s||_M and the new point's ||g||. */
  trial(): Promise<{ f: number; gs: number; sr: number; snorm: number; gnorm: number }>;
  /** The last trial point becomes the accepted point. */
  accept(): void;
}

/** TronOptions for tronOn: the committed state carries scalars only (the vectors are v's). */
export type TronDriverOptions = Omit<TronOptions, 'onCommit' | 'resume' | 'precondition'> & {
  /** The state after an outer iteration; the iteration waits for a returned promise (sharded commits). */
  onCommit?: (state: Omit<TronState, 'w'>) => void | Promise<void>;
  resume?: Omit<TronState, 'w'> | null;
  /** Bound on CG steps per Newton step (default: no bound). */
  maxCgSteps?: number;
};

/** Minimises `fn` from `x0` (not modified), with its vectors as arrays on this process. */
export async function tron(fn: NewtonFunction, x0: Float64Array, options: TronOptions = {}): Promise<TronResult> {
  const r = options.resume ?? null;
  const a = fn.hessianDiagonal ? (options.precondition ?? 0.01) : 0;
  const v = new DenseTron(fn, r ? Float64Array.from(r.w) : Float64Array.from(x0), a);
  const { onCommit, resume: _resume, precondition: _precondition, ...rest } = options;
  const result = await tronOn(v, { ...rest, resume: r, maxCgSteps: fn.dim, ...(onCommit ? { onCommit: (s) => onCommit({ ...s, w: v.w }) } : {}) });
  return { x: v.w, ...result };
}

/** Minimises the function behind `v` from its start point (tron's outer iteration). */
export async function tronOn(v: TronVectors, options: TronDriverOptions = {}): Promise<Omit<TronResult, 'x'>> {
  const maxIter = options.maxIter ?? 500;
  const gradTol = options.gradTol ?? 1e-3;
  const xi = options.xi ?? 0.1;
  const maxCgSteps = options.maxCgSteps ?? Infinity;
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const r = options.resume ?? null;
  const first = await v.start();
  let f = first.f;
  let gnorm = first.gnorm;
  const gnorm0 = r ? r.gradNorm0 : gnorm;
  const gMinvNorm = await v.precondition();
  let delta = r ? r.delta : gMinvNorm;
  let evaluations = (r?.evaluations ?? 0) + 1;
  let products = r?.products ?? 0;
  let iteration = r?.iteration ?? 0;
  let reason: StopReason = 'max-iter';
  const info = (step: number) => ({ iteration, objective: f, gradNorm: gnorm, step, evaluations, products, delta, seconds: seconds() });
  if (!r) options.onIteration?.(info(0));
  if (r?.stopped) reason = r.stopped;
  else if (gnorm <= gradTol * gnorm0) reason = 'gradient';
  else {
    while (iteration < maxIter) {
      const step = await truncatedCg(v, delta, xi, maxCgSteps);
      products += step.products;
      const t = await v.trial();
      evaluations++;
      const predicted = -0.5 * (t.gs - t.sr);
      const actual = f - t.f;
      const snorm = t.snorm;
      // Until a first step is taken, the radius is at most that step's length.
      if (iteration === 0) delta = Math.min(delta, snorm);
      delta = updateRadius(delta, snorm, t.gs, actual, predicted);
      let stop: StopReason | null = null;
      if (actual > ETA0 * predicted) {
        iteration++;
        v.accept();
        f = t.f;
        gnorm = t.gnorm;
        options.onIteration?.(info(snorm));
        if (gnorm <= gradTol * gnorm0) stop = 'gradient';
        else await v.precondition();
      }
      // No decrease left to measure in double precision: the optimum is as good as it gets.
      if (!stop && Math.abs(actual) <= 1e-12 * Math.abs(f) && Math.abs(predicted) <= 1e-12 * Math.abs(f)) stop = 'objective';
      if (!stop && !(delta > 0)) stop = 'line-search';
      await options.onCommit?.({ iteration, delta, gradNorm0: gnorm0, evaluations, products, stopped: stop });
      if (stop) {
        reason = stop;
        break;
      }
    }
  }
  return { objective: f, gradNorm: gnorm, gradNorm0: gnorm0, iterations: iteration, evaluations, products, reason, seconds: seconds() };
}

/** TronVectors as arrays on this process; `fn` computes f, g and the products. */
class DenseTron extends DenseCg implements TronVectors {
  /** The accepted point (a new array at every accepted step: committed states keep theirs). */
  w: Float64Array;
  #wNew: Float64Array;
  #gNew: Float64Array;

  constructor(
    private readonly fn: NewtonFunction,
    w0: Float64Array,
    /** The preconditioner's weight on diag(H) (0: none). */
    private readonly a: number,
  ) {
    super(new Float64Array(fn.dim), (x, out) => fn.hessianVector(x, out), a > 0 ? new Float64Array(fn.dim) : null);
    this.w = w0;
    this.#wNew = w0;
    this.#gNew = this.g;
  }

  async start(): Promise<{ f: number; gnorm: number }> {
    const f = await this.fn.evaluate(this.w, this.g);
    this.fn.acceptLast();
    return { f, gnorm: norm2(this.g) };
  }

  async precondition(): Promise<number> {
    const { m, a } = this;
    if (m) {
      await this.fn.hessianDiagonal!(m);
      for (let j = 0; j < m.length; j++) m[j] = 1 - a + a * m[j]!;
    }
    return mNorm(this.g, m && m.map((x) => 1 / x));
  }

  async trial(): Promise<{ f: number; gs: number; sr: number; snorm: number; gnorm: number }> {
    const { s, r, w, g } = this;
    const dim = w.length;
    this.#wNew = new Float64Array(dim);
    for (let j = 0; j < dim; j++) this.#wNew[j] = w[j]! + s[j]!;
    this.#gNew = new Float64Array(dim);
    const f = await this.fn.evaluate(this.#wNew, this.#gNew);
    return { f, gs: dot(g, s), sr: dot(s, r), snorm: mNorm(s, this.m), gnorm: norm2(this.#gNew) };
  }

  accept(): void {
    this.fn.acceptLast();
    this.w = this.#wNew;
    this.g = this.#gNew;
  }
}
