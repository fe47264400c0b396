// Block coordinate descent for L2- or L1-regularised logistic regression, in the style of
// DiFacto / KunPeng: data-parallel over rows and sequential over feature blocks.
//
// State on every rank: the full weight vector w (identical everywhere) and the margins
// m_i = w.x_i of its own rows, kept up to date incrementally. For one block B of features:
//   1. statistics   each rank sums over its rows, with p_i = sigma(-y_i m_i), D_i = c v_i p_i (1 - p_i),
//                     g_j = sum_i -c v_i y_i p_i x_ij          (block gradient)
//                     H_jk = sum_i D_i x_ij x_ik              (hessian: 'block', packed lower triangle)
//                     h_j = H_jj                              (hessian: 'diagonal')
//                   and one allReduce of [g_B, H_B] gives the global sums.
//   2. step         G = g + l2 w, H += l2 I; the Newton step d minimises the quadratic model
//                   G.d + d'Hd/2 + l1 |w + d|_1 (block_newton.ts: Cholesky for l2, soft-thresholded
//                   coordinate descent for l1; per coordinate d_j = -G_j/H_jj, soft-thresholded,
//                   with the diagonal). The bias is never penalised.
//   3. line search  Armijo on the block (GLMNET/liblinear rule):
//                   F(w + a d) - F(w) <= sigma a delta, delta = G.d + l1(|w+d|_1 - |w|_1),
//                   a in {1, 1/2, ..., 1/2^11}. The loss change of 4 trial steps is computed
//                   from the margin change dm = X_B d in one pass and reduced in one allReduce
//                   of 4 doubles (up to 3 rounds); then w_B += a d, m += a dm.
// A scheduler (scheduler.ts) orders the blocks of a pass by their last decrease and skips
// converged ones, with a full pass at least every 4 passes; the run stops after a full pass
// whose relative objective decrease is below tol, or after maxIter passes.
//
// Cost per block: O(sum over rows of k_i^2) flops with the block Hessian (k_i = the row's
// non-zeros in B; O(nnz_B) with the diagonal) and 2-3 allReduces of |B| + |B|(|B|+1)/2 doubles
// (2|B| with the diagonal). The default block is min(dim, 256) features.
//
// Convergence (measured on a9a, see test/algorithms and the report in docs): blocks only see
// the other blocks through the margins, i.e. this is Gauss-Seidel across blocks. When the
// loss is flat along directions that mix blocks (a9a's 14 one-hot groups each sum to 1 in every
// row, so shifting weight between groups leaves the loss unchanged and only the penalty sees
// it) convergence across blocks is slow: 2 blocks of 62 are still 1.3e-4 (L2) above the optimum
// after 100 passes, the diagonal variant 7e-4. With one block (a9a: 124 slots <= 256) BCD is a
// Newton method (newGLMNET for l1) and reaches the optimum in 8 passes (L2) and 71 (L1).
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { penaltyValue, softplus, type LinearLayout, type Penalty } from '../common/logistic.js';
import type { IterationInfo, QuasiNewtonResult, StopReason } from '../lbfgs_lr/lbfgs.js';
import { choleskySolve, softThresholdedNewton } from './block_newton.js';
import { toCsc } from './csc.js';
import { BlockScheduler, type SchedulerSnapshot } from './scheduler.js';

/**
 * What BCD needs to continue after a lost rank or a restart (TrainingState). Margins are
 * per-rank and are recomputed from w, so a continued run follows the same schedule but may
 * differ from an uninterrupted one in the last bits.
 */
export interface BcdState {
  iteration: number;
  w: Float64Array;
  F: number;
  evaluations: number;
  gradNorm: number;
  scheduler: SchedulerSnapshot;
  stopped: StopReason | null;
}

export { BlockScheduler } from './scheduler.js';

export interface BcdOptions {
  c: number;
  penalty: Penalty;
  /** Passes over the blocks (default 500). */
  maxIter?: number;
  /** Relative objective decrease of a full pass below which to stop (default 1e-7). */
  tol?: number;
  /** Features per block (default: min(dim, 256) with the block Hessian, dim / 16 with the diagonal). */
  blockSize?: number;
  seed?: number;
  /**
   * 'block' (default): full |B| x |B| Hessian statistics per block and an exact block Newton
   * step (block_newton.ts); 'diagonal': the diagonal only, one Newton step per coordinate.
   */
  hessian?: 'block' | 'diagonal';
  onIteration?: (info: IterationInfo & { blocks: number }) => void;
  /** Called after every pass with the state to continue from there. */
  onCommit?: (state: BcdState) => void;
  /** Continue from a state given to onCommit. */
  resume?: BcdState | null;
}

const SIGMA = 0.01;
const STEPS_PER_ROUND = 4;
const ROUNDS = 3;

/** Trains on this rank's rows; every rank must call it with the same layout and options. */
export async function bcd(comm: Collective, data: CsrData, layout: LinearLayout, options: BcdOptions): Promise<QuasiNewtonResult> {
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const { c, penalty } = options;
  const maxIter = options.maxIter ?? 500;
  const tol = options.tol ?? 1e-7;
  const dim = layout.dim;
  const blockSize = Math.max(1, Math.min(dim, options.blockSize || (options.hessian === 'diagonal' ? Math.ceil(dim / 16) : 256)));
  const numBlocks = Math.ceil(dim / blockSize);
  const csc = toCsc(data, layout);
  const n = data.numRows;
  const ys = new Float64Array(n);
  const cw = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ys[i] = data.labels[i]! > 0 ? 1 : -1;
    cw[i] = data.weights ? c * data.weights[i]! : c;
  }
  const w = new Float64Array(dim);
  const margins = new Float64Array(n);
  const dm = new Float64Array(n);
  const touchedMark = new Uint8Array(n);
  const touched = new Uint32Array(n);
  const stats = new Float64Array(2 * blockSize);
  const trial = new Float64Array(STEPS_PER_ROUND);
  const d = new Float64Array(blockSize);
  const blockMode = (options.hessian ?? 'block') === 'block';
  const tri = (blockSize * (blockSize + 1)) / 2;
  const blockStats = blockMode ? new Float64Array(blockSize + tri) : stats;
  const hFull = blockMode ? new Float64Array(blockSize * blockSize) : stats;
  const gFull = new Float64Array(blockSize);
  const wBlock = new Float64Array(blockSize);
  const l1Block = new Float64Array(blockSize);
  const rowIdx = new Uint32Array(blockSize + 1);
  const rowVal = new Float64Array(blockSize + 1);
  const sorted = blockMode ? sortedRows(data) : null;

  const r = options.resume ?? null;
  const scheduler = new BlockScheduler(numBlocks, options.seed === undefined ? {} : { seed: options.seed });
  let evaluations = 0;
  let F: number;
  let iteration = 0;
  let gradNorm = Number.NaN;
  if (r) {
    if (r.w.length !== dim) throw new RangeError(`bcd: resumed weights have ${r.w.length} entries, the model has ${dim}`);
    w.set(r.w);
    // This rank's margins from w, column by column (all ranks do the same on resume).
    for (let j = 0; j < dim; j++) {
      const wj = w[j]!;
      if (wj === 0) continue;
      const end = csc.colPtr[j + 1]!;
      for (let k = csc.colPtr[j]!; k < end; k++) margins[csc.rows[k]!]! += wj * csc.values[k]!;
    }
    F = r.F;
    evaluations = r.evaluations;
    iteration = r.iteration;
    gradNorm = r.gradNorm;
    scheduler.restore(r.scheduler);
  } else {
    const init = new Float64Array([0]);
    for (let i = 0; i < n; i++) init[0]! += cw[i]! * Math.LN2;
    await comm.allReduce(init, { op: 'sum' });
    evaluations++;
    F = init[0]!;
    options.onIteration?.({ iteration: 0, objective: F, gradNorm, step: 0, evaluations, seconds: seconds(), blocks: 0 });
  }
  let reason: StopReason = r?.stopped ?? 'max-iter';

  const regAt = (j: number, v: number): number => (j >= layout.numFeatures ? 0 : 0.5 * penalty.l2 * v * v + penalty.l1 * Math.abs(v));

  const pseudo = (G: number, wj: number, l1: number): number =>
    l1 === 0 ? G : wj > 0 ? G + l1 : wj < 0 ? G - l1 : G + l1 < 0 ? G + l1 : G - l1 > 0 ? G - l1 : 0;

  // Diagonal statistics from the column view; d_j = argmin G d + H d^2/2 + l1 |w_j + d|.
  const diagonalStep = async (lo: number, len: number): Promise<{ delta: number; gsq: number }> => {
    const buf = stats.subarray(0, 2 * len);
    buf.fill(0);
    for (let j = lo; j < lo + len; j++) {
      let g = 0;
      let h = 0;
      const end = csc.colPtr[j + 1]!;
      for (let k = csc.colPtr[j]!; k < end; k++) {
        const i = csc.rows[k]!;
        const v = csc.values[k]!;
        const y = ys[i]!;
        const p = 1 / (1 + Math.exp(y * margins[i]!)); // sigma(-y m): probability of the wrong class
        g -= cw[i]! * y * p * v;
        h += cw[i]! * p * (1 - p) * v * v;
      }
      buf[j - lo] = g;
      buf[len + j - lo] = h;
    }
    await comm.allReduce(buf, { op: 'sum' });
    evaluations++;
    let delta = 0;
    let gsq = 0;
    for (let j = lo; j < lo + len; j++) {
      const wj = w[j]!;
      const penalised = j < layout.numFeatures;
      const l2 = penalised ? penalty.l2 : 0;
      const l1 = penalised ? penalty.l1 : 0;
      const G = buf[j - lo]! + l2 * wj;
      const H = buf[len + j - lo]! + l2;
      let step = 0;
      if (H > 1e-12) {
        if (G + l1 <= H * wj) step = -(G + l1) / H;
        else if (G - l1 >= H * wj) step = -(G - l1) / H;
        else step = -wj;
      }
      const pg = pseudo(G, wj, l1);
      gsq += pg * pg;
      d[j - lo] = step;
      delta += G * step + l1 * (Math.abs(wj + step) - Math.abs(wj));
    }
    return { delta, gsq };
  };

  // Full block statistics from the (sorted) rows: g_B and the packed lower triangle of H_B.
  const blockStep = async (lo: number, len: number): Promise<{ delta: number; gsq: number }> => {
    const srt = sorted!;
    const hi = lo + len;
    const ntri = (len * (len + 1)) / 2;
    const buf = blockStats.subarray(0, len + ntri);
    buf.fill(0);
    const hasBias = layout.bias && layout.numFeatures >= lo && layout.numFeatures < hi;
    for (let i = 0; i < n; i++) {
      const start = srt.rowPtr[i]!;
      const end = srt.rowPtr[i + 1]!;
      let k = lowerBound(srt.ids, start, end, lo);
      let cnt = 0;
      for (; k < end && srt.ids[k]! < hi; k++) {
        rowIdx[cnt] = srt.ids[k]! - lo;
        rowVal[cnt++] = srt.values[k]!;
      }
      if (hasBias) {
        rowIdx[cnt] = layout.numFeatures - lo;
        rowVal[cnt++] = 1;
      }
      if (cnt === 0) continue;
      const y = ys[i]!;
      const p = 1 / (1 + Math.exp(y * margins[i]!));
      const r = -y * cw[i]! * p;
      const D = cw[i]! * p * (1 - p);
      for (let a = 0; a < cnt; a++) {
        const ja = rowIdx[a]!;
        const va = rowVal[a]!;
        buf[ja]! += r * va;
        const rowBase = len + (ja * (ja + 1)) / 2;
        const dva = D * va;
        for (let bb = 0; bb <= a; bb++) buf[rowBase + rowIdx[bb]!]! += dva * rowVal[bb]!;
      }
    }
    await comm.allReduce(buf, { op: 'sum' });
    evaluations++;
    let gsq = 0;
    for (let a = 0; a < len; a++) {
      const j = lo + a;
      const penalised = j < layout.numFeatures;
      const l2 = penalised ? penalty.l2 : 0;
      wBlock[a] = w[j]!;
      l1Block[a] = penalised ? penalty.l1 : 0;
      gFull[a] = buf[a]! + l2 * w[j]!;
      for (let bb = 0; bb <= a; bb++) {
        const v = buf[len + (a * (a + 1)) / 2 + bb]!;
        hFull[a * len + bb] = v;
        hFull[bb * len + a] = v;
      }
      hFull[a * len + a]! += l2 + 1e-12;
      const pg = pseudo(gFull[a]!, w[j]!, l1Block[a]!);
      gsq += pg * pg;
    }
    const dv = d.subarray(0, len);
    if (penalty.l1 > 0 || !choleskySolve(hFull, gFull, len, dv)) softThresholdedNewton(hFull, gFull, wBlock, l1Block, len, dv);
    let delta = 0;
    for (let a = 0; a < len; a++) delta += gFull[a]! * dv[a]! + l1Block[a]! * (Math.abs(wBlock[a]! + dv[a]!) - Math.abs(wBlock[a]!));
    return { delta, gsq };
  };

  for (iteration = iteration + 1; iteration <= maxIter && !r?.stopped; iteration++) {
    const { blocks, full } = scheduler.plan((tol * Math.abs(F)) / numBlocks);
    const F0 = F;
    let gsq = 0;
    for (const b of blocks) {
      const lo = b * blockSize;
      const hi = Math.min(dim, lo + blockSize);
      const len = hi - lo;
      // 1-2. Block statistics summed over ranks, then the Newton step d (soft-thresholded under l1).
      const step = blockMode ? await blockStep(lo, len) : await diagonalStep(lo, len);
      gsq += step.gsq;
      const delta = step.delta;
      let any = false;
      for (let j = 0; j < len; j++) if (d[j] !== 0) any = true;
      if (!any || !(delta < 0)) {
        scheduler.report(b, 0);
        continue;
      }
      // 3. Margin change of the block step, then Armijo over trial steps 1, 1/2, ...
      let nt = 0;
      for (let j = lo; j < hi; j++) {
        const dj = d[j - lo]!;
        if (dj === 0) continue;
        const end = csc.colPtr[j + 1]!;
        for (let k = csc.colPtr[j]!; k < end; k++) {
          const i = csc.rows[k]!;
          if (!touchedMark[i]) {
            touchedMark[i] = 1;
            touched[nt++] = i;
          }
          dm[i]! += dj * csc.values[k]!;
        }
      }
      let accepted = 0;
      let change = 0;
      for (let round = 0; round < ROUNDS && accepted === 0; round++) {
        const a0 = Math.pow(0.5, round * STEPS_PER_ROUND);
        trial.fill(0);
        for (let t = 0; t < nt; t++) {
          const i = touched[t]!;
          const y = ys[i]!;
          const m = margins[i]!;
          const base = softplus(-y * m);
          let a = a0;
          for (let s = 0; s < STEPS_PER_ROUND; s++, a *= 0.5) trial[s]! += cw[i]! * (softplus(-y * (m + a * dm[i]!)) - base);
        }
        await comm.allReduce(trial, { op: 'sum' });
        evaluations++;
        let a = a0;
        for (let s = 0; s < STEPS_PER_ROUND; s++, a *= 0.5) {
          let reg = 0;
          for (let j = lo; j < hi; j++) reg += regAt(j, w[j]! + a * d[j - lo]!) - regAt(j, w[j]!);
          const total = trial[s]! + reg;
          if (total <= SIGMA * a * delta) {
            accepted = a;
            change = total;
            break;
          }
        }
      }
      if (accepted > 0) {
        for (let j = lo; j < hi; j++) w[j]! += accepted * d[j - lo]!;
        for (let t = 0; t < nt; t++) {
          const i = touched[t]!;
          margins[i]! += accepted * dm[i]!;
        }
        F += change;
      }
      for (let t = 0; t < nt; t++) {
        const i = touched[t]!;
        dm[i] = 0;
        touchedMark[i] = 0;
      }
      scheduler.report(b, accepted > 0 ? -change : 0);
    }
    gradNorm = Math.sqrt(gsq);
    options.onIteration?.({ iteration, objective: F, gradNorm, step: 0, evaluations, seconds: seconds(), blocks: blocks.length });
    const rel = (F0 - F) / Math.max(Math.abs(F), 1);
    const converged = full && rel < tol;
    if (!full && rel < tol) scheduler.requestFullPass();
    options.onCommit?.({ iteration, w, F, evaluations, gradNorm, scheduler: scheduler.snapshot(), stopped: converged ? 'objective' : null });
    if (converged) {
      reason = 'objective';
      break;
    }
  }
  if (r?.stopped) iteration = r.iteration;
  if (iteration > maxIter) iteration = maxIter;
  // The running objective accumulates rounding; report an exact one.
  let loss = 0;
  for (let i = 0; i < n; i++) loss += cw[i]! * softplus(-ys[i]! * margins[i]!);
  const exact = new Float64Array([loss]);
  await comm.allReduce(exact, { op: 'sum' });
  evaluations++;
  return {
    x: w,
    objective: exact[0]! + penaltyValue(w, layout, penalty),
    gradNorm,
    iterations: iteration,
    evaluations,
    reason,
    seconds: seconds(),
  };
}

/** Row entries sorted by feature id (copies only when some row is out of order). */
function sortedRows(data: CsrData): { rowPtr: Uint32Array; ids: Uint32Array; values: Float32Array } {
  const { rowPtr, featureIds, values } = data;
  let ordered = true;
  for (let i = 0; i < data.numRows && ordered; i++) {
    for (let k = rowPtr[i]! + 1; k < rowPtr[i + 1]!; k++) if (featureIds[k]! < featureIds[k - 1]!) ordered = false;
  }
  if (ordered) return { rowPtr, ids: featureIds, values };
  const ids = featureIds.slice();
  const vals = values.slice();
  for (let i = 0; i < data.numRows; i++) {
    const start = rowPtr[i]!;
    const end = rowPtr[i + 1]!;
    const order = Array.from({ length: end - start }, (_, t) => start + t).sort((a, b) => featureIds[a]! - featureIds[b]!);
    order.forEach((src, t) => {
      ids[start + t] = featureIds[src]!;
      vals[start + t] = values[src]!;
    });
  }
  return { rowPtr, ids, values: vals };
}

/** First k in [start, end) with ids[k] >= key (ids sorted in that range). */
function lowerBound(ids: Uint32Array, start: number, end: number, key: number): number {
  let a = start;
  let b = end;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (ids[mid]! < key) a = mid + 1;
    else b = mid;
  }
  return a;
}
