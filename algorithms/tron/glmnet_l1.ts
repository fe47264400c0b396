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
// Distributed (docs/linear_solvers.md): rows stay split; each rank keeps its rows by columns
// (columns.ts), its margins z = X w and X d. w and d are replicated: every rank takes the same
// steps from the same sums. G and diag(H): one allReduce of 2*dim doubles per outer iteration.
// Coordinate descent runs a block of coordinates at a time: each rank's share of x_j'D X d for
// the block (native columnDots), one allReduce, then the same steps everywhere (blockStep).
// Within a block the steps are simultaneous (Jacobi); blocks are sized so that a row holds
// about BLOCK_ROW_NNZ of a block's features on average, so they rarely interact and a pass
// behaves like the sequential one. One rank runs the sequential inner solve natively
// (coordinateDescent), exactly newGLMNET. Up to DENSE_MAX_DIM slots, at any np, the inner solve
// runs instead on X'DX formed once per outer iteration (denseSolver: one allReduce, then no
// pass over rows and no synchronisation inside the solve). The line search: one allReduce of
// a few losses.
import { native } from '../../lib/native.js';
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import type { LinearLayout } from '../common/logistic.js';
import { Rng } from '../../lib/rng.js';
import type { IterationInfo, StopReason } from '../lbfgs_lr/lbfgs.js';
import { toColumns, type Columns } from './columns.js';
import type { TronResult, TronState } from './tron.js';

export interface GlmnetL1Options {
  c: number;
  l1: number;
  maxIter: number;
  gradTol: number;
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

/** |minimum-norm subgradient| of F at one slot (penalized slots with the l1 term). */
function violation(w: number, g: number, l1: number, penalized: boolean): number {
  if (!penalized) return Math.abs(g);
  if (w > 0) return Math.abs(g + l1);
  if (w < 0) return Math.abs(g - l1);
  return Math.max(0, g - l1, -g - l1);
}

function l1Norm(w: Float64Array, penalized: number, d?: Float64Array, t = 1): number {
  let s = 0;
  if (d) for (let j = 0; j < penalized; j++) s += Math.abs(w[j]! + t * d[j]!);
  else for (let j = 0; j < penalized; j++) s += Math.abs(w[j]!);
  return s;
}

/** Collective: every rank calls it with its own rows; returns the same result everywhere. */
export async function glmnetL1(comm: Collective, data: CsrData, layout: LinearLayout, options: GlmnetL1Options): Promise<TronResult> {
  const t0 = performance.now();
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
  const rr = new Float64Array(n);
  const D = new Float64Array(n);
  const sum = async (buf: Float64Array): Promise<Float64Array> => (comm.size > 1 ? comm.allReduce(buf, { op: 'sum' }) : buf);
  const scalar = new Float64Array(1);
  const globalLoss = async (): Promise<number> => {
    scalar[0] = native.linear.rowsLoss(z, null, 0, labels, weights, c, rr, D);
    return (await sum(scalar))[0]!;
  };
  let loss = await globalLoss();
  let wNorm = l1Norm(w, penalized);
  let F = loss + l1 * wNorm;
  const GH = new Float64Array(2 * dim);
  const G = GH.subarray(0, dim);
  const H = GH.subarray(dim);
  const d = new Float64Array(dim);
  const xd = new Float64Array(n);
  const active = new Uint32Array(dim);
  const losses = new Float64Array(TRIALS);
  // Non-zeros and rows of the job: the shrinking margin and the inner solver's block size.
  const totals = await sum(new Float64Array([data.rowPtr[n]! - data.rowPtr[0]!, n]));
  const rows = Math.max(totals[1]!, 1);
  const inner =
    dim <= DENSE_MAX_DIM
      ? denseSolver(comm, data, layout, rows)
      : comm.size > 1
        ? blockedSolver(comm, x, Math.max(1, Math.floor((BLOCK_ROW_NNZ * dim * rows) / Math.max(totals[0]!, 1))))
        : null;
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
    native.linear.columnStats(x.colPtr, x.rowIdx, x.values, rr, D, 0, G, H);
    await sum(GH);
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
    const cdPasses = inner
      ? await inner(D, G, H, w, cols, d, xd, cd)
      : await inSlices(cd, passSlice(x.colPtr[dim]!), (o) => native.linear.coordinateDescent(x.colPtr, x.rowIdx, x.values, D, G, H, w, cols, d, xd, o), d, xd);
    passes += cdPasses;
    if (cdPasses === 1) innerTol *= 0.25;
    let gd = 0;
    for (let j = 0; j < dim; j++) gd += G[j]! * d[j]!;
    const decrease = gd + l1 * (l1Norm(w, penalized, d) - wNorm);
    if (!(decrease < -1e-15 * Math.abs(F))) {
      reason = 'objective';
      break;
    }
    // Armijo along d: the losses of TRIALS step sizes per allReduce (usually t = 1 passes).
    let t = 0;
    for (let k = 0; k < MAX_HALVINGS && t === 0; k += TRIALS) {
      for (let q = 0; q < TRIALS; q++) losses[q] = native.linear.rowsLoss(z, xd, 0.5 ** (k + q), labels, weights, c, null, null);
      await sum(losses);
      evaluations += TRIALS;
      for (let q = 0; q < TRIALS && t === 0; q++) {
        const tq = 0.5 ** (k + q);
        if (losses[q]! + l1 * l1Norm(w, penalized, d, tq) - F <= SIGMA * tq * decrease) t = tq;
      }
    }
    if (t === 0) {
      reason = 'line-search';
      break;
    }
    for (let j = 0; j < dim; j++) w[j] = w[j]! + t * d[j]!;
    for (let i = 0; i < n; i++) z[i] = z[i]! + t * xd[i]!;
    loss = await globalLoss();
    wNorm = l1Norm(w, penalized);
    F = loss + l1 * wNorm;
    step = t;
    iteration++;
    options.onIteration?.(info());
    options.onCommit?.({ iteration, w, delta: innerTol, gradNorm0, evaluations, products: passes, stopped: null });
  }
  if (reason !== 'max-iter') options.onCommit?.({ iteration, w, delta: innerTol, gradNorm0, evaluations, products: passes, stopped: reason });
  return { x: w, objective: F, gradNorm, gradNorm0, iterations: iteration, evaluations, products: passes, reason, seconds: seconds() };
}

/** out += v * column j. */
function addColumn(x: Columns, j: number, v: number, out: Float64Array): void {
  for (let k = x.colPtr[j]!; k < x.colPtr[j + 1]!; k++) out[x.rowIdx[k]!]! += v * x.values[k]!;
}

type CdOptions = Parameters<typeof native.linear.coordinateDescent>[10];

/** Passes per native call: about WORK_PER_CALL multiply-adds over a model of `size` non-zeros. */
const WORK_PER_CALL = 2e7;
const passSlice = (size: number): number => Math.max(1, Math.floor(WORK_PER_CALL / Math.max(size, 1)));

/**
 * A native inner solve from zero `state` arrays, `slice` passes per call with the event loop
 * let through in between: a long solve must not starve the heartbeats (the launcher kills a
 * rank that sends none for 10 s). Returns the passes made in all.
 */
async function inSlices(cd: CdOptions, slice: number, run: (o: CdOptions) => number, ...state: Float64Array[]): Promise<number> {
  for (const a of state) a.fill(0);
  let total = 0;
  for (;;) {
    const passes = run({ ...cd, maxPasses: Math.min(slice, cd.maxPasses - total), seed: (cd.seed + total) % 4294967296 });
    total += passes;
    if (passes < slice || total >= cd.maxPasses) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * The inner solve over rows split between ranks: passes over the active columns in a random
 * order (the same on every rank), `blockSize` columns at a time, until a pass's violation
 * 1-norm is <= tol (no inner shrinking here).
 */
function blockedSolver(comm: Collective, x: Columns, blockSize: number) {
  const dots = new Float64Array(blockSize);
  return async (D: Float64Array, G: Float64Array, H: Float64Array, w: Float64Array, active: Uint32Array, d: Float64Array, xd: Float64Array, cd: CdOptions): Promise<number> => {
    d.fill(0);
    xd.fill(0);
    const order = Uint32Array.from(active);
    const rng = new Rng(cd.seed + 1);
    let pass = 0;
    while (pass < cd.maxPasses) {
      pass++;
      for (let s = order.length - 1; s > 0; s--) {
        const q = Math.floor(rng.next() * (s + 1));
        [order[s], order[q]] = [order[q]!, order[s]!];
      }
      let norm1 = 0;
      for (let b = 0; b < order.length; b += blockSize) {
        const cols = order.subarray(b, Math.min(b + blockSize, order.length));
        const share = dots.subarray(0, cols.length);
        native.linear.columnDots(x.colPtr, x.rowIdx, x.values, D, xd, cols, share);
        await comm.allReduce(share, { op: 'sum' });
        norm1 += native.linear.blockStep(x.colPtr, x.rowIdx, x.values, G, H, w, cols, share, d, xd, cd);
      }
      if (norm1 <= cd.tol) break;
    }
    return pass;
  };
}

/**
 * The inner solve when dim is small: X'DX summed over the ranks once (dim^2 doubles), then the
 * sequential solve on it, the same on every rank, and X d on this rank's rows for the line
 * search.
 */
function denseSolver(comm: Collective, data: CsrData, layout: LinearLayout, rows: number) {
  const { dim, numFeatures, bias } = layout;
  const Q = new Float64Array(dim * dim);
  const sum = async (): Promise<unknown> => (comm.size > 1 ? comm.allReduce(Q, { op: 'sum' }) : Q);
  const qd = new Float64Array(dim);
  const n = data.numRows;
  const rowPtr = data.rowPtr.length === n + 1 ? data.rowPtr : data.rowPtr.subarray(0, n + 1);
  return async (D: Float64Array, G: Float64Array, H: Float64Array, w: Float64Array, active: Uint32Array, d: Float64Array, xd: Float64Array, cd: CdOptions): Promise<number> => {
    native.linear.denseHessian(rowPtr, data.featureIds, data.values, D, numFeatures, bias, Q);
    await sum();
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
