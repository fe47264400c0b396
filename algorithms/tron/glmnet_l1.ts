// `--solver newton-l1`: L1-regularised logistic regression by newGLMNET (Yuan, Ho & Lin,
// "An improved GLMNET for L1-regularized logistic regression", JMLR 2012; liblinear -s 6):
//   F(w) = l1 * sum_{j < numFeatures} |w_j| + C sum_i v_i log(1 + exp(-y_i w.x_i)).
// Each outer (Newton) iteration builds the quadratic model of the loss at w, gradient G and
// Hessian X'DX, minimises  G.d + d'X'DX d/2 + l1*|w + d|_1  by coordinate descent, then
// searches along d (Armijo on F: F(w + t d) - F(w) <= sigma t (G.d + l1 |w+d|_1 - l1 |w|_1),
// t = 1, 1/2, ...). liblinear's heuristics: outer shrinking (zero weights whose gradient sits
// inside (-l1, l1) by more than the last iteration's largest violation / numRows skip the inner
// solve; their violation still counts in the stop test), inner shrinking, and an adaptive inner
// tolerance (x 1/4 whenever the inner solve converged in one pass). Stops when the minimum-norm
// subgradient's 1-norm is <= gradTol times that at the start (liblinear's -s 6 rule).
//
// Distributed (docs/logistic_regression.md): rows stay split; each rank keeps its rows by
// columns (columns.ts), its margins z = X w and X d. w and d are replicated: every rank takes the
// same steps from the same sums. G and diag(H): summed with the loss of the full step's trial
// point (2*dim + 1 doubles), which is w's next point whenever t = 1 passes, so a Newton step
// that takes the full step needs no exchange of its own for them. The inner solve, above
// DENSE_MAX_DIM slots:
//   - `local` (default; l1_local_model.ts): each rank solves the model on its own rows with the
//     sequential native solver, the ranks combine the points weighted by their curvature and
//     check the exact model (2 allReduces per round; one round on the issue-14 set);
//   - `blocked` (blockedSolver): the exact coordinate descent a block of coordinates at a time:
//     each rank's share of x_j'D X d for the block (native columnDots), one allReduce, then the
//     same steps everywhere (blockStep, with shrinking). Within a block the steps are
//     simultaneous (Jacobi); blocks hold about BLOCK_ROW_NNZ of a row's features on average, so
//     they rarely interact. One allReduce per block: ~1000 per solve on the issue-14 set.
// One rank runs the sequential inner solve natively (coordinateDescent), exactly newGLMNET. Up to
// DENSE_MAX_DIM slots, at any np, the inner solve runs instead on X'DX formed once per outer
// iteration (denseSolver: one allReduce, then no pass over rows and no synchronisation inside
// the solve). The line search: t = 1 with the statistics above; a shorter step costs one
// allReduce of a few losses per batch of halvings and one of the statistics. Where the time goes (per phase,
// with the allReduces) is in the result's `phases` (phase_clock.ts).
import { native } from '../../lib/native.js';
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import type { LinearLayout } from '../common/logistic.js';
import { Rng } from '../../lib/rng.js';
import type { IterationInfo, StopReason } from '../lbfgs_lr/lbfgs.js';
import { toColumns, type Columns } from './columns.js';
import { PhaseClock, type Phases } from './phase_clock.js';
import { inSlices, passSlice, violation, type CdOptions, type InnerSolve, type SumFn } from './l1_inner.js';
import { localModelSolver } from './l1_local_model.js';
import type { TronResult, TronState } from './tron.js';

export interface GlmnetL1Options {
  c: number;
  l1: number;
  maxIter: number;
  gradTol: number;
  /** The inner solve at np > 1 above DENSE_MAX_DIM slots: localModelSolver or blockedSolver. */
  inner?: 'local' | 'blocked';
  /** `products`: inner coordinate-descent passes so far; `delta`: the inner tolerance factor. */
  onIteration?: (info: IterationInfo & { products: number; delta: number }) => void;
  /** TronState's delta carries the inner tolerance factor. */
  onCommit?: (state: TronState) => void;
  resume?: TronState | null;
}

const NU = 1e-12;
const SIGMA = 0.01;
const MAX_HALVINGS = 20;
/** Step sizes tried per allReduce of losses: 1, 1/2, 1/4. */
const TRIALS = 3;
const MAX_PASSES = 1000;
/** Inner solve up to this dim: on the dense Hessian X'DX (one allReduce of dim^2 doubles), no passes over rows. */
const DENSE_MAX_DIM = 1024;
/** Distributed inner solve above it: a block's expected non-zeros per row. */
const BLOCK_ROW_NNZ = 0.25;

function l1Norm(w: Float64Array, penalized: number, d?: Float64Array, t = 1): number {
  let s = 0;
  if (d) for (let j = 0; j < penalized; j++) s += Math.abs(w[j]! + t * d[j]!);
  else for (let j = 0; j < penalized; j++) s += Math.abs(w[j]!);
  return s;
}

/** Collective: every rank calls it with its own rows; returns the same result everywhere. */
export async function glmnetL1(comm: Collective, data: CsrData, layout: LinearLayout, options: GlmnetL1Options): Promise<TronResult & { phases: Phases }> {
  const t0 = performance.now();
  const clock = new PhaseClock();
  clock.enter('setup');
  const seconds = (): number => (performance.now() - t0) / 1000;
  const x = toColumns(data, layout);
  const { dim, numFeatures: penalized } = layout;
  const n = data.numRows;
  const { labels, weights } = data;
  const { c, l1 } = options;
  const r = options.resume ?? null;
  const w = r ? Float64Array.from(r.w) : new Float64Array(dim);
  const z = new Float64Array(n);
  if (r) for (let j = 0; j < dim; j++) if (w[j] !== 0) addColumn(x, j, w[j]!, z);
  // Row factors r, D and G, H at the current w; the trial arrays at w + d (swapped in when the
  // full step is taken). GH holds [G, H, loss]: one allReduce carries all three.
  let rr = new Float64Array(n);
  let D = new Float64Array(n);
  let rTrial = new Float64Array(n);
  let dTrial = new Float64Array(n);
  const sum = (buf: Float64Array): Promise<Float64Array> => clock.sum(comm, buf);
  let GH = new Float64Array(2 * dim + 1);
  let ghTrial = new Float64Array(2 * dim + 1);
  let G = GH.subarray(0, dim);
  let H = GH.subarray(dim, 2 * dim);
  const d = new Float64Array(dim);
  const xd = new Float64Array(n);
  const active = new Uint32Array(dim);
  const losses = new Float64Array(TRIALS);
  // Non-zeros and rows of the job: the shrinking margin and the inner solver's block size.
  const totals = await sum(new Float64Array([data.rowPtr[n]! - data.rowPtr[0]!, n]));
  const rows = Math.max(totals[1]!, 1);
  const localH = dim > DENSE_MAX_DIM && comm.size > 1 && options.inner !== 'blocked' ? new Float64Array(dim) : null;
  /** This rank's loss, r, D at margins z + t X d (t = 0: z), its G and H into `gh` (and localH), then the sums: the loss. */
  const statsAt = async (t: number, gh: Float64Array, r: Float64Array, dd: Float64Array): Promise<number> => {
    gh[2 * dim] = native.linear.rowsLoss(z, t === 0 ? null : xd, t, labels, weights, c, r, dd);
    native.linear.columnStats(x.colPtr, x.rowIdx, x.values, r, dd, 0, gh.subarray(0, dim), gh.subarray(dim, 2 * dim));
    localH?.set(gh.subarray(dim, 2 * dim));
    return (await sum(gh))[2 * dim]!;
  };
  let loss = await statsAt(0, GH, rr, D);
  let wNorm = l1Norm(w, penalized);
  let F = loss + l1 * wNorm;
  const blocked = comm.size > 1 ? blockedSolver(sum, x, Math.max(1, Math.floor((BLOCK_ROW_NNZ * dim * rows) / Math.max(totals[0]!, 1))), rows) : null;
  const dense = dim <= DENSE_MAX_DIM ? denseSolver(sum, data, layout, rows) : null;
  const local = !dense && localH && blocked ? localModelSolver(sum, x, { size: comm.size, localH, l1, penalized, clock, check: () => comm.size > 2 || step !== 1 }) : null;
  const inner = dense ?? local ?? blocked;
  let iteration = r?.iteration ?? 0;
  let gradNorm0 = r?.gradNorm0 ?? 0;
  let innerTol = r?.delta ?? 1;
  let passes = r?.products ?? 0;
  let evaluations = (r?.evaluations ?? 0) + 1;
  let gmaxOld = Number.POSITIVE_INFINITY;
  let gradNorm = 0;
  let reason: StopReason = 'max-iter';
  let step = 0;
  const info = () => ({ iteration, objective: F, gradNorm, step, evaluations, products: passes, delta: innerTol, seconds: seconds() });
  for (;;) {
    clock.enter('stop test and shrinking');
    // Let the event loop run once per Newton step (heartbeats: at np 1 nothing else here yields
    // but the sliced inner solve, and a starved rank is killed after 10 s without one).
    await new Promise((resolve) => setImmediate(resolve));
    for (let j = 0; j < dim; j++) H[j] = H[j]! + NU;
    // Violations over every slot (the exact stop test); outer shrinking picks the active set.
    let count = 0;
    let gmax = 0;
    gradNorm = 0;
    const margin = gmaxOld / rows;
    for (let j = 0; j < dim; j++) {
      const pen = j < penalized;
      const v = violation(w[j]!, G[j]!, l1, pen);
      gradNorm += v;
      gmax = Math.max(gmax, v);
      if (!(pen && w[j] === 0 && G[j]! + l1 > margin && G[j]! - l1 < -margin)) active[count++] = j;
    }
    gmaxOld = gmax;
    if (iteration === 0 && !r) {
      gradNorm0 = gradNorm;
      options.onIteration?.(info());
    }
    if (r?.stopped && iteration === r.iteration) {
      reason = r.stopped;
      break;
    }
    if (gradNorm <= options.gradTol * gradNorm0) {
      reason = 'gradient';
      break;
    }
    if (iteration >= options.maxIter) break;
    const cd = { l1, penalized, nu: NU, tol: innerTol * gradNorm0, maxPasses: MAX_PASSES, seed: iteration % 4294967296 };
    const cols = active.subarray(0, count);
    clock.enter('inner solve');
    d.fill(0);
    xd.fill(0);
    let cdPasses = inner
      ? await inner(D, G, H, w, cols, d, xd, cd)
      : await inSlices(cd, passSlice(x.colPtr[dim]!), (o) => native.linear.coordinateDescent(x.colPtr, x.rowIdx, x.values, D, G, H, w, cols, d, xd, o), d, xd);
    let decrease = modelDecrease(G, w, d, l1, penalized, wNorm);
    const flat = !(decrease < -1e-15 * Math.abs(F));
    if (flat && local && blocked) {
      // The local models' combination found no descent (not seen on the issue-14 set): the exact solve.
      clock.enter('inner: blocked fallback');
      d.fill(0);
      xd.fill(0);
      cdPasses += await blocked(D, G, H, w, cols, d, xd, cd);
      decrease = modelDecrease(G, w, d, l1, penalized, wNorm);
    }
    passes += cdPasses;
    if (cdPasses === 1) innerTol *= 0.25;
    if (!(decrease < -1e-15 * Math.abs(F))) {
      reason = 'objective';
      break;
    }
    // The full step first, with the next Newton step's statistics in the same allReduce: t = 1
    // is almost always accepted (then r, D, G, H at w + d are already summed); else Armijo
    // from t = 1/2, the losses of TRIALS step sizes per allReduce, and the statistics again.
    clock.enter('full step and next gradient');
    const lossFull = await statsAt(1, ghTrial, rTrial, dTrial);
    evaluations++;
    let t = 0;
    if (lossFull + l1 * l1Norm(w, penalized, d) - F <= SIGMA * decrease) {
      t = 1;
      loss = lossFull;
      [GH, ghTrial, rr, rTrial, D, dTrial] = [ghTrial, GH, rTrial, rr, dTrial, D];
      G = GH.subarray(0, dim);
      H = GH.subarray(dim, 2 * dim);
    } else {
      clock.enter('line search');
      for (let k = 1; k < MAX_HALVINGS && t === 0; k += TRIALS) {
        for (let q = 0; q < TRIALS; q++) losses[q] = native.linear.rowsLoss(z, xd, 0.5 ** (k + q), labels, weights, c, null, null);
        await sum(losses);
        evaluations += TRIALS;
        for (let q = 0; q < TRIALS && t === 0; q++) {
          const tq = 0.5 ** (k + q);
          if (losses[q]! + l1 * l1Norm(w, penalized, d, tq) - F <= SIGMA * tq * decrease) {
            t = tq;
            loss = losses[q]!;
          }
        }
      }
    }
    if (t === 0) {
      reason = 'line-search';
      break;
    }
    clock.enter('step');
    for (let j = 0; j < dim; j++) w[j] = w[j]! + t * d[j]!;
    for (let i = 0; i < n; i++) z[i] = z[i]! + t * xd[i]!;
    // After a shorter step: r, D, G and H at the new w (its loss is the accepted trial's, already summed).
    if (t !== 1) await statsAt(0, GH, rr, D);
    wNorm = l1Norm(w, penalized);
    F = loss + l1 * wNorm;
    step = t;
    iteration++;
    options.onIteration?.(info());
    options.onCommit?.({ iteration, w, delta: innerTol, gradNorm0, evaluations, products: passes, stopped: null });
  }
  clock.enter(null);
  if (reason !== 'max-iter') options.onCommit?.({ iteration, w, delta: innerTol, gradNorm0, evaluations, products: passes, stopped: reason });
  return { x: w, objective: F, gradNorm, gradNorm0, iterations: iteration, evaluations, products: passes, reason, seconds: seconds(), phases: clock.phases };
}

/** The model's predicted change of F along d without its quadratic term: G.d + l1 (|w + d|_1 - |w|_1). */
function modelDecrease(G: Float64Array, w: Float64Array, d: Float64Array, l1: number, penalized: number, wNorm: number): number {
  let gd = 0;
  for (let j = 0; j < G.length; j++) gd += G[j]! * d[j]!;
  return gd + l1 * (l1Norm(w, penalized, d) - wNorm);
}

/** out += v * column j. */
function addColumn(x: Columns, j: number, v: number, out: Float64Array): void {
  for (let k = x.colPtr[j]!; k < x.colPtr[j + 1]!; k++) out[x.rowIdx[k]!]! += v * x.values[k]!;
}

/**
 * The inner solve over rows split between ranks: passes over the active columns in a random
 * order (the same on every rank), `blockSize` columns at a time, until a pass's violation
 * 1-norm is <= tol. Shrinking as in the native solver (descend): a column at zero whose summed
 * model gradient sits inside (-l1, l1) by more than the last pass's largest violation / rows
 * leaves the passes (blockStep decides it from summed values, so alike on every rank); once
 * the shrunk set converges, every active column is checked again.
 */
function blockedSolver(sum: SumFn, x: Columns, blockSize: number, rows: number): InnerSolve {
  const dots = new Float64Array(blockSize);
  return async (D, G, H, w, active, d, xd, cd) => {
    const order = Uint32Array.from(active);
    let count = order.length;
    let gmaxOld = Number.POSITIVE_INFINITY;
    const rng = new Rng(cd.seed + 1);
    let pass = 0;
    while (pass < cd.maxPasses) {
      pass++;
      for (let s = count - 1; s > 0; s--) {
        const q = Math.floor(rng.next() * (s + 1));
        [order[s], order[q]] = [order[q]!, order[s]!];
      }
      let norm1 = 0;
      let gmax = 0;
      let kept = 0;
      for (let b = 0; b < count; b += blockSize) {
        const cols = order.subarray(b, Math.min(b + blockSize, count));
        const share = dots.subarray(0, cols.length);
        native.linear.columnDots(x.colPtr, x.rowIdx, x.values, D, xd, cols, share);
        await sum(share);
        const r = native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, cols, share, d, xd, cd, gmaxOld / rows);
        norm1 += r.norm1;
        gmax = Math.max(gmax, r.gmax);
        order.copyWithin(kept, b, b + r.kept);
        kept += r.kept;
      }
      const shrunk = kept < order.length;
      count = kept;
      if (norm1 <= cd.tol) {
        if (!shrunk) break;
        // Converged on the shrunk set: every active column once more.
        order.set(active);
        count = order.length;
        gmaxOld = Number.POSITIVE_INFINITY;
        continue;
      }
      gmaxOld = gmax;
    }
    return pass;
  };
}

/**
 * The inner solve when dim is small: X'DX summed over the ranks once (dim^2 doubles), then the
 * sequential solve on it, the same on every rank, and X d on this rank's rows for the line
 * search.
 */
function denseSolver(sum: SumFn, data: CsrData, layout: LinearLayout, rows: number): InnerSolve {
  const { dim, numFeatures, bias } = layout;
  const Q = new Float64Array(dim * dim);
  const qd = new Float64Array(dim);
  const n = data.numRows;
  const rowPtr = data.rowPtr.length === n + 1 ? data.rowPtr : data.rowPtr.subarray(0, n + 1);
  return async (D: Float64Array, G: Float64Array, H: Float64Array, w: Float64Array, active: Uint32Array, d: Float64Array, xd: Float64Array, cd: CdOptions): Promise<number> => {
    native.linear.denseHessian(rowPtr, data.featureIds, data.values, D, numFeatures, bias, Q);
    await sum(Q);
    const passes = await inSlices(cd, passSlice(dim * dim), (o) => native.linear.denseCoordinateDescent(Q, G, H, w, active, rows, d, qd, o), d, qd);
    const b = bias ? d[numFeatures]! : 0;
    for (let i = 0; i < n; i++) {
      let s = b;
      for (let k = rowPtr[i]!; k < rowPtr[i + 1]!; k++) s += d[data.featureIds[k]!]! * data.values[k]!;
      xd[i] = s;
    }
    return passes;
  };
}
