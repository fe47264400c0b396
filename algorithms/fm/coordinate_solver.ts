// Distributed FM training by coordinate-wise closed-form updates (Rendle 2012, "Factorization
// Machines with libFM"): ALS, and MCMC (Gibbs sampling of the parameters and of the
// hyper-parameters, Freudenthaler et al. 2011), with libFM's priors: w0 flat; w_j ~ N(mu_w,
// 1/lambda_w), v_jf ~ N(mu_f, 1/lambda_f); lambda ~ Gamma, mu ~ Normal (Normal-Gamma, alpha_0 =
// gamma_0 = beta_0 = 1, mu_0 = 0); noise precision alpha ~ Gamma. Binary tasks use the probit
// link: each iteration redraws a latent target z_i ~ N(y_hat_i, 1) truncated to the side of
// the label (ALS: its expectation) and regresses on z with alpha = 1.
//
// The model y_hat is linear in every single parameter theta: y_hat_i = g_i + theta h_i, with
// h = 1 (w0), x_ij (w_j), x_ij (q_if - v_jf x_ij) (v_jf; q_if = sum_l v_lf x_il). Given the
// residuals e_i = z_i - y_hat_i, theta's posterior is Normal with precision alpha sum h^2 +
// lambda and mean (alpha sum h (e + theta h) + lambda mu) / precision; ALS takes the mean
// (lambda = the L2 flag, mu = 0, alpha = 1).
//
// Distribution: rows stay where readLibsvm put them; each worker keeps its rows' e_i and
// q_if. Parameters (w0, w, V) are replicated: every rank applies the same updates. Features
// are grouped into blocks that never share a row (feature_blocks.ts). Per block one allReduce
// sums, per feature, the Gram sums sum h_a h_b of its coordinates (w, v_1..v_k) and sum h_a e;
// then every rank draws the same new values, each coordinate in turn from its full
// conditional (the earlier coordinates' changes folded into sum h e through the Gram sums:
// native/fm/coordinate_kernels.h), and updates its own rows. The first block's exchange also
// carries [sum e^2, sum e] for alpha and w0; the hyper-parameters are drawn by every rank from
// the replicated parameters, without an exchange. Per iteration: one allReduce per block
// (MovieLens u1: 2; k + 1 > MAX_STEP_WIDTH, or a block with more sums than MAX_STEP_SUMS,
// splits a block's coordinates into several steps).
// The passes over the rows, the draws and the probit targets are native (native/fm/).
//
// The sampler is libFM's coordinate-wise Gibbs sampler with another scan order: a feature's w,
// v_1..v_k in turn, block by block, after alpha, w0 and the hyper-parameters (libFM: all w,
// then all v_.1, ..., with the v hyper-parameters drawn between). Every coordinate is still
// drawn from its full conditional given the current values of all others, so the chain has
// the same stationary distribution; ALS is likewise exact coordinate descent in that order.
//
// Same results for every np: the sums are exact (exact_sums.ts), every random number is a
// function of (seed, iteration, coordinate) (coordinate_stream.ts), hyper-parameter sums run
// over the replicated parameters in feature order on every rank, and a row's cached terms see
// the same updates in the same order wherever it lives.
//
// Recovery (lib/recovery): the iterations run inside resilient() with a TrainingState
// (FmCoordinateState: parameters, hyper-parameters, kept samples, the caller's evaluation sums)
// committed after each; the per-row caches are recomputed from the parameters at the start of
// every iteration, so continuing from a commit (a replaced worker, --resume) gives the bits of
// an uninterrupted run.
//
// Cost per iteration and worker: O(k^2 * local nnz) arithmetic (the Gram sums; k = 8: 54 sums
// per entry against 18 for per-factor steps), O(k^2 * features) for the draws.
import type { Collective } from '../common/collective.js';
import type { CsrMatrix } from '../../lib/data/csr.js';
import { binaryLabel } from '../ps_trainer/flags.js';
import { CoordinateStream, STREAM, truncatedMeanAbove } from './coordinate_stream.js';
import { ExactSums } from './exact_sums.js';
import { featureBlocks, globalIndices, type FeatureBlocks } from './feature_blocks.js';
import { resilient } from '../../lib/recovery/resilient.js';
import { TrainingState, type TrainingStateOptions } from '../../lib/recovery/training_state.js';
import { fmScore } from './fm.js';
import { native } from '../../lib/native.js';
import type { FmTask } from './params.js';

export type FmCoordinateSolver = 'als' | 'mcmc';

export interface FmCoordinateOptions {
  solver: FmCoordinateSolver;
  task: FmTask;
  factors: number;
  iterations: number;
  seed: number;
  /** std of the normal initialisation of V (libFM: 0.1). */
  initStd: number;
  /** ALS: L2 on w and on v (MCMC samples its own). */
  l2w: number;
  l2v: number;
  /** MCMC: samples before this iteration are not averaged or kept. */
  burnIn: number;
  /** MCMC: at most this many samples (evenly thinned) go into the result. */
  keepSamples: number;
  labelThreshold?: number;
  /**
   * Binary MCMC: 'fixed' (default) keeps the probit model's alpha = 1; 'sampled' draws it like
   * regression, as libFM does (no difference measured: bench/fm_probit_validation.ts).
   */
  probitAlpha?: 'fixed' | 'sampled';
}

/** One parameter set: w0 and `params` (global feature index g at g * (k + 1): [w_g, v_g1..v_gk]). */
export interface FmSample {
  w0: number;
  params: Float64Array;
}

export interface FmIterationStats {
  iteration: number;
  /** RMSE of the training residuals (of the latent targets for binary) at the start of the iteration, over every rank's rows. */
  trainRmse: number;
  /** MCMC noise precision alpha (1 for ALS and binary). */
  alpha: number;
  seconds: number;
}

export interface FmCoordinateContext {
  comm: Collective;
  /** Called once the global feature ids (the rows of every sample) and the label range are known. */
  onStart?: (featureIds: Float64Array, labelMin: number, labelMax: number) => void;
  /**
   * Called on every rank after every iteration with the current parameters (read-only; the
   * same on every rank); `averaged` says whether MCMC averages this sample (after burn-in;
   * always true for ALS). Its time is excluded from the result's seconds.
   */
  onIteration?: (stats: FmIterationStats, current: FmSample, averaged: boolean, evaluation: { sum: Float64Array; count: number }) => Promise<void> | void;
  /** Length of the evaluation sums kept in the training state for onIteration (rank 0's test rows); default 0. */
  evaluationRows?: number;
  /**
   * Checkpoints (`dir`, `every` iterations), `resume`, and worker replacement under
   * --max-restarts (lib/recovery: TrainingState + resilient()). Default: none.
   */
  recovery?: TrainingStateOptions & { log?: (line: string) => void };
  /** Where notes about recovery go; default: nowhere. */
  log?: (line: string) => void;
}

export interface FmCoordinateResult {
  /** Global feature ids (the rows of every sample). */
  featureIds: Float64Array;
  /** ALS: the final parameters; MCMC: the kept samples. */
  samples: FmSample[];
  labelMin: number;
  labelMax: number;
  globalRows: number;
  blocks: number;
  allReducesPerIteration: number;
  seconds: number;
  /** This process's CPU seconds (user + system) in training, callbacks excluded. */
  cpuSeconds: number;
  /** Wall seconds of `seconds` spent waiting for the per-step allReduces (the rest is this rank's compute, and its waits for a core). */
  allReduceSeconds: number;
  /** Iterations already done when this process started (from --resume or a replaced worker's state); null: from the start. */
  resumedAt: number | null;
  /** The evaluation sums of the state (FmCoordinateContext.evaluationRows). */
  evaluation: { sum: Float64Array; count: number };
}

const ALPHA0 = 1;
const GAMMA0 = 1;
const BETA0 = 1;
const MU0 = 0;

/**
 * What survives a lost worker or a restart (lib/recovery TrainingState, committed after every
 * iteration; replicated, so any rank's copy will do). The per-row caches are not in it: every
 * iteration recomputes them from the parameters (as libFM does), so a resumed run continues
 * with the same bits as an uninterrupted one.
 */
export interface FmCoordinateState {
  /** Iterations completed. */
  iteration: number;
  w0: number;
  alpha: number;
  muW: number;
  lambdaW: number;
  muV: Float64Array;
  lambdaV: Float64Array;
  /** Empty until the first iteration sets it up. */
  params: Float64Array;
  /** MCMC's kept samples so far. */
  samples: FmSample[];
  /** The caller's running evaluation (rank 0's test prediction sums; see FmCoordinateContext.evaluationRows). */
  evaluation: { sum: Float64Array; count: number };
}

/** Trains on this rank's rows; every rank calls it with its own shard and the same options. */
export async function trainFmCoordinate(o: FmCoordinateOptions, data: CsrMatrix, ctx: FmCoordinateContext): Promise<FmCoordinateResult> {
  const { comm } = ctx;
  const k = o.factors;
  const stride = k + 1;
  const mcmc = o.solver === 'mcmc';
  const binary = o.task === 'binary';
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let callbackMs = 0;
  let callbackCpuUs = 0;
  const evalRows = ctx.evaluationRows ?? 0;
  const state = new TrainingState<FmCoordinateState>(
    comm,
    { iteration: 0, w0: 0, alpha: 1, muW: 0, lambdaW: o.l2w, muV: new Float64Array(k), lambdaV: new Float64Array(k).fill(o.l2v), params: new Float64Array(0), samples: [], evaluation: { sum: new Float64Array(evalRows), count: 0 } },
    ctx.recovery ?? {},
  );

  let setup: { blocks: FeatureBlocks; yMin: number; yMax: number } | null = null;
  const waits = { ms: 0 };
  const out = await resilient(
    comm,
    state,
    async (s) => {
      // Setup (collective): inside resilient() so a replacement runs it in step with the others.
      const fb = await featureBlocks(comm, data);
      const range = new Float64Array([labelMin(data), -labelMax(data)]);
      await comm.allReduce(range, { op: 'min' });
      setup = { blocks: fb, yMin: range[0]!, yMax: -range[1]! };
      ctx.onStart?.(fb.featureIds, setup.yMin, setup.yMax);
      // Rank 0 replaced: the state came from a rank without the evaluation sums; start them again.
      if (s.evaluation.sum.length !== evalRows) {
        s.evaluation = { sum: new Float64Array(evalRows), count: 0 };
        if (evalRows > 0) ctx.log?.(`fm ${o.solver}: test predictions are averaged again from iteration ${s.iteration + 1} (the evaluating rank was replaced)`);
      }
      return sweep(o, data, comm, fb, s, waits, () => state.commit(), async (stats, current, averaged) => {
        if (!ctx.onIteration) return;
        const tc = performance.now();
        const cc = process.cpuUsage();
        await ctx.onIteration(stats, current, averaged, s.evaluation);
        callbackMs += performance.now() - tc;
        const dc = process.cpuUsage(cc);
        callbackCpuUs += dc.user + dc.system;
      });
    },
    ctx.recovery?.log ? { log: ctx.recovery.log } : {},
  );
  const { blocks: fb, yMin, yMax } = setup!;
  return {
    featureIds: fb.featureIds,
    samples: mcmc ? out.samples : [{ w0: out.w0, params: out.params }],
    labelMin: yMin,
    labelMax: yMax,
    globalRows: fb.globalRows,
    blocks: fb.blocks.length,
    allReducesPerIteration: Math.max(1, iterationSteps(fb.blocks, k).length),
    seconds: (performance.now() - t0 - callbackMs) / 1000,
    cpuSeconds: cpuSecondsSince(cpu0, callbackCpuUs),
    allReduceSeconds: waits.ms / 1000,
    resumedAt: out.startedAt > 0 ? out.startedAt : null,
    evaluation: out.evaluation,
  };
}

/** The iterations after s.iteration, on this rank's rows; commits after each. Returns the state and where it started. */
async function sweep(
  o: FmCoordinateOptions,
  data: CsrMatrix,
  comm: Collective,
  fb: FeatureBlocks,
  s: FmCoordinateState,
  waits: { ms: number },
  commit: () => void,
  after: (stats: FmIterationStats, current: FmSample, averaged: boolean) => Promise<void>,
): Promise<FmCoordinateState & { startedAt: number }> {
  const { featureIds, blocks, globalRows, rowOffset } = fb;
  const G = featureIds.length;
  const k = o.factors;
  const stride = k + 1;
  const mcmc = o.solver === 'mcmc';
  const binary = o.task === 'binary';
  const startedAt = s.iteration;

  // This rank's entries per block in row order (a row holds at most one feature of a block):
  // row, position in the block, value.
  const n = data.numRows;
  const nnz = data.rowPtr[n] ?? 0;
  const entryFeature = globalIndices(featureIds, data.featureIds.subarray(0, nnz));
  const blockOf = new Int32Array(G);
  const posOf = new Int32Array(G);
  blocks.forEach((block, c) => block.forEach((g, p) => void ((blockOf[g] = c), (posOf[g] = p))));
  const counts = new Uint32Array(blocks.length);
  for (let e = 0; e < nnz; e++) counts[blockOf[entryFeature[e]!]!]!++;
  const entries = Array.from(counts, (m) => ({ row: new Uint32Array(m), pos: new Int32Array(m), val: new Float64Array(m) }));
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    for (let e = data.rowPtr[i]!; e < data.rowPtr[i + 1]!; e++) {
      const g = entryFeature[e]!;
      const c = blockOf[g]!;
      const at = counts[c]!++;
      entries[c]!.row[at] = i;
      entries[c]!.pos[at] = posOf[g]!;
      entries[c]!.val[at] = data.values[e]!;
    }
  }

  // Parameters (replicated; initialised on the first entry) and the per-row caches (local).
  const rng = new CoordinateStream(o.seed);
  const seed = o.seed >>> 0;
  if (s.params.length === 0) {
    s.params = new Float64Array(G * stride);
    for (let g = 0; g < G; g++) {
      for (let f = 0; f < k; f++) s.params[g * stride + 1 + f] = o.initStd * rng.reset(STREAM.init, 0, featureIds[g]! * k + f).normal();
    }
  }
  if (s.params.length !== G * stride) throw new RangeError(`fm ${o.solver}: the resumed state holds ${s.params.length / stride} features, the data ${G} (resume with the same data and --factors)`);
  const params = s.params;
  const label = new Float64Array(n);
  for (let i = 0; i < n; i++) label[i] = binary ? binaryLabel(data.labels[i]!, o.labelThreshold) : data.labels[i]!;
  const resid = new Float64Array(n);
  // q_if = sum_j v_jf x_ij, row-major (q[i * k + f]): a step visits all factors of a row at once.
  const q = new Float64Array(n * k);
  const yhatOf = new Float64Array(n);

  // The steps of an iteration: per block, its features' coordinates (0: w, 1 + f: v_f) in
  // ranges of at most MAX_STEP_WIDTH, one allReduce each (coordinate_kernels.h: why one
  // exchange serves every coordinate of a step). The first step's sums also carry [sum e^2,
  // sum e] for alpha and w0 (first two sums), and sum h per coordinate, since w0's draw moves
  // every residual after its statistics were taken.
  const steps = iterationSteps(blocks, k);
  const stepSums = steps.map((st, i) => new ExactSums((i === 0 ? 2 : 0) + st.block.length * sumsPerFeature(st.hi - st.lo, i === 0)));
  if (steps.length === 0) stepSums.push(new ExactSums(2));
  const firstSums = stepSums[0]!;
  const maxChanges = steps.reduce((m, st) => Math.max(m, st.block.length * (st.hi - st.lo)), 0);
  const delta = new Float64Array(maxChanges);
  const oldValue = new Float64Array(maxChanges);
  const lambda = new Float64Array(stride);
  const mu = new Float64Array(stride);
  const overflow = (g: number, it: number): RangeError =>
    new RangeError(`fm ${o.solver}: a term of the statistics of feature id ${featureIds[g]} reached 2^19 at iteration ${it}: the model diverged or the feature values are too large (scale them${mcmc ? '' : ', or raise --l2-v / --l2-w'})`);

  /** Draws theta from its conditional posterior (ALS: its mean); 0 when the precision is not positive. Used for w0; the blocks use native.fm.drawBlock, the same formula. */
  const draw = (theta: number, s2: number, se: number, lambda: number, mu: number): number => {
    const prec = s.alpha * s2 + lambda;
    if (!(prec > 0)) return 0;
    const mean = (s.alpha * (se + theta * s2) + lambda * mu) / prec;
    return mcmc ? mean + rng.normal() / Math.sqrt(prec) : mean;
  };
  /**
   * Normal-Gamma draws of (lambda, mu) of w (coordinate 0) and of each v_.f (1 + f) given every
   * feature's parameters, in that order, from one pass over them (each coordinate's sums still
   * run in feature order). mu holds the current means and receives the new ones.
   */
  const hyperSs = new Float64Array(stride);
  const hyperSum = new Float64Array(stride);
  const drawHypers = (it: number, lambdaOut: Float64Array, muInOut: Float64Array): void => {
    for (let c = 0; c < stride; c++) hyperSs[c] = BETA0 * (muInOut[c]! - MU0) * (muInOut[c]! - MU0) + GAMMA0;
    hyperSum.fill(0);
    for (let g = 0; g < G; g++) {
      for (let c = 0; c < stride; c++) {
        const x = params[g * stride + c]!;
        hyperSs[c] = hyperSs[c]! + (x - muInOut[c]!) * (x - muInOut[c]!);
        hyperSum[c] = hyperSum[c]! + x;
      }
    }
    for (let c = 0; c < stride; c++) {
      const precision = rng.reset(STREAM.hyper, it, 1 + c).gamma((ALPHA0 + G + 1) / 2, hyperSs[c]! / 2);
      lambdaOut[c] = precision;
      muInOut[c] = (hyperSum[c]! + BETA0 * MU0) / (G + BETA0) + rng.normal() / Math.sqrt((G + BETA0) * precision);
    }
  };
  /** This rank's exact sums of step i (after the residual sums for the first) into its buffer. */
  const stepStats = (i: number, it: number): void => {
    const st = steps[i]!;
    const en = entries[st.blockIndex]!;
    const bad = native.fm.blockStats(en.row, en.pos, en.val, st.block, k, st.lo, st.hi, q, resid, params, i === 0, stepSums[i]!.limbs, i === 0 ? 2 : 0);
    if (bad >= 0) throw overflow(st.block[bad]!, it);
  };
  const allReduce = async (sums: ExactSums): Promise<void> => {
    const tw = performance.now();
    await sums.allReduce(comm, true);
    waits.ms += performance.now() - tw;
  };

  const averagedIterations = Math.max(0, o.iterations - o.burnIn);
  const thin = Math.max(1, Math.ceil(averagedIterations / Math.max(1, o.keepSamples)));
  for (let it = s.iteration + 1; it <= o.iterations; it++) {
    const ti = performance.now();
    // Residuals and q from the parameters, every iteration (so a resumed run equals an
    // uninterrupted one). Probit: the latent targets are drawn from these predictions (the
    // first iteration regresses on +-1, as libFM).
    native.fm.rowScores(data.rowPtr, entryFeature, data.values, params, k, s.w0, q, yhatOf);
    if (binary && mcmc && it > 1) native.fm.probitResiduals(label, yhatOf, seed, STREAM.target, it, rowOffset, resid);
    else {
      for (let i = 0; i < n; i++) {
        const yhat = yhatOf[i]!;
        let target = label[i]!;
        if (binary) target = it === 1 ? (label[i] ? 1 : -1) : label[i] ? truncatedMeanAbove(yhat) : -truncatedMeanAbove(-yhat);
        resid[i] = target - yhat;
      }
    }
    // The first exchange: [sum e^2, sum e] (noise precision and w0) and the first step's sums.
    const badRow = native.fm.residualStats(resid, firstSums.limbs, 0);
    if (badRow >= 0) throw new RangeError(`fm ${o.solver}: residual ${resid[badRow]} of row ${rowOffset + badRow + 1} is out of range at iteration ${it}: the model diverged`);
    if (steps.length > 0) stepStats(0, it);
    await allReduce(firstSums);
    const sse = firstSums.value(0);
    if (mcmc && (!binary || o.probitAlpha === 'sampled')) s.alpha = rng.reset(STREAM.hyper, it, 0).gamma((ALPHA0 + globalRows) / 2, (GAMMA0 + sse) / 2);
    rng.reset(STREAM.w0, it, 0);
    const w0New = draw(s.w0, globalRows, firstSums.value(1), 0, 0);
    const shift = w0New - s.w0;
    s.w0 = w0New;

    // Hyper-parameters from the replicated parameters (no exchange): every rank draws the same.
    lambda[0] = s.lambdaW;
    mu[0] = s.muW;
    lambda.set(s.lambdaV, 1);
    mu.set(s.muV, 1);
    if (mcmc) {
      drawHypers(it, lambda, mu);
      [s.lambdaW, s.muW] = [lambda[0]!, mu[0]!];
      s.lambdaV.set(lambda.subarray(1));
      s.muV.set(mu.subarray(1));
    }

    // The steps: the same draws on every rank, then this rank's rows follow (not after the
    // last step: the next iteration recomputes e and q from the parameters).
    for (let i = 0; i < steps.length; i++) {
      const st = steps[i]!;
      if (i > 0) {
        stepStats(i, it);
        await allReduce(stepSums[i]!);
      }
      native.fm.drawBlock(st.block, featureIds, params, k, st.lo, st.hi, i === 0, stepSums[i]!.limbs, i === 0 ? 2 : 0, seed, STREAM.w, STREAM.v, it, s.alpha, lambda, mu, mcmc, i === 0 ? shift : 0, delta, oldValue);
      if (i === steps.length - 1) break;
      if (i === 0 && shift !== 0) for (let r = 0; r < n; r++) resid[r] = resid[r]! - shift;
      const en = entries[st.blockIndex]!;
      native.fm.blockApply(en.row, en.pos, en.val, st.block, k, st.lo, st.hi, q, resid, delta, oldValue);
    }

    // Let timers run (heartbeats, dashboard): at np 1, and with small allReduces that complete
    // synchronously, the loop above never returns to the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    const averaged = !mcmc || it > o.burnIn;
    if (mcmc && averaged && (it - o.burnIn - 1) % thin === 0 && s.samples.length < o.keepSamples) s.samples.push({ w0: s.w0, params: params.slice() });
    await after({ iteration: it, trainRmse: Math.sqrt(sse / Math.max(1, globalRows)), alpha: s.alpha, seconds: (performance.now() - ti) / 1000 }, { w0: s.w0, params }, averaged);
    s.iteration = it;
    commit();
  }
  return { ...s, startedAt };
}

/** Coordinates (0: w, 1 + f: v_f) per step at most: a step's sums per feature grow with the square of its width. */
export const MAX_STEP_WIDTH = 16;

/**
 * Sums one step exchanges at most (32 MiB of limbs each way): a block with very many features
 * (hashed ids) takes narrower steps, more allReduces of fewer bytes, down to one coordinate per
 * step (2 sums per feature).
 */
export const MAX_STEP_SUMS = 1 << 21;

/** One step of an iteration: a block of features and a range [lo, hi) of their coordinates. */
export interface Step {
  block: Int32Array;
  blockIndex: number;
  lo: number;
  hi: number;
}

/** A step's exact sums per feature (native/fm/coordinate_kernels.h stepSums): Gram lower triangle, sum h e, and for the first step sum h. */
function sumsPerFeature(width: number, withOnes: boolean): number {
  return (width * (width + 1)) / 2 + width * (withOnes ? 2 : 1);
}

/**
 * Block by block, each feature's k + 1 coordinates in as few ranges of equal width as the
 * limits allow (at most MAX_STEP_WIDTH coordinates and MAX_STEP_SUMS sums per step).
 */
export function iterationSteps(blocks: Int32Array[], k: number): Step[] {
  const steps: Step[] = [];
  blocks.forEach((block, blockIndex) => {
    let ranges = Math.ceil((k + 1) / MAX_STEP_WIDTH);
    while (ranges < k + 1 && block.length * sumsPerFeature(Math.ceil((k + 1) / ranges), true) > MAX_STEP_SUMS) ranges++;
    const width = Math.ceil((k + 1) / ranges);
    for (let lo = 0; lo < k + 1; lo += width) steps.push({ block, blockIndex, lo, hi: Math.min(k + 1, lo + width) });
  });
  return steps;
}

function cpuSecondsSince(start: NodeJS.CpuUsage, excludedUs: number): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system - excludedUs) / 1e6;
}

function labelMin(data: CsrMatrix): number {
  let m = Infinity;
  for (let i = 0; i < data.numRows; i++) m = Math.min(m, data.labels[i]!);
  return m === Infinity ? Number.MAX_VALUE : m;
}

function labelMax(data: CsrMatrix): number {
  let m = -Infinity;
  for (let i = 0; i < data.numRows; i++) m = Math.max(m, data.labels[i]!);
  return m === -Infinity ? -Number.MAX_VALUE : m;
}

/**
 * Scores of `rows` under successive samples (rank 0's test set, every iteration): the rows'
 * feature positions are looked up once and the scores computed natively (native.fm.rowScores,
 * fmScore's arithmetic); features outside `featureIds` count as zero. The returned array is
 * reused by the next call.
 */
export function sampleScorer(k: number, featureIds: Float64Array, rows: CsrMatrix): (sample: FmSample) => Float64Array {
  const G = featureIds.length;
  const nnz = rows.rowPtr[rows.numRows] ?? 0;
  // Unknown features point at a zero row after the parameters.
  const pos = globalIndices(featureIds, rows.featureIds.subarray(0, nnz), G);
  const params = new Float64Array((G + 1) * (k + 1));
  const q = new Float64Array(rows.numRows * k);
  const out = new Float64Array(rows.numRows);
  const rowPtr = rows.rowPtr.subarray(0, rows.numRows + 1);
  return (sample) => {
    params.set(sample.params);
    native.fm.rowScores(rowPtr, pos, rows.values, params, k, sample.w0, q, out);
    return out;
  };
}

/** Scores of `rows` under one sample; features outside `featureIds` count as zero (in JS: the reference for sampleScorer). */
export function scoreSample(sample: FmSample, k: number, featureIndex: Map<number, number>, rows: CsrMatrix): Float64Array {
  const zeroRow = sample.params.length / (k + 1);
  const nnz = rows.rowPtr[rows.numRows] ?? 0;
  const pos = new Int32Array(nnz);
  for (let e = 0; e < nnz; e++) pos[e] = featureIndex.get(rows.featureIds[e]!) ?? zeroRow;
  const params = new Float64Array(sample.params.length + k + 1);
  params.set(sample.params);
  const sums = new Float64Array(k);
  const out = new Float64Array(rows.numRows);
  for (let r = 0; r < rows.numRows; r++) out[r] = fmScore(params, k, sample.w0, pos, rows.values, rows.rowPtr[r]!, rows.rowPtr[r + 1]!, sums);
  return out;
}
