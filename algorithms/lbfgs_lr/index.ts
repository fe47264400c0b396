// Logistic regression, data-parallel: train(comm, data, params) with L-BFGS (L2), TRON (L2;
// algorithms/tron), OWL-QN (L1), newGLMNET (L1; algorithms/tron) or BCD (either;
// algorithms/bcd), and predict(model, data).
//
// Every rank holds the full weight vector and its own rows. One evaluation of the objective
// is one pass over the local rows plus ONE fused allReduce of the Float64Array
// [loss, grad_0, ..., grad_{dim-1}] (dim + 1 doubles); the penalty is added locally. The
// allReduce result is bit-identical on every rank, so all ranks take the same steps and end
// with the same model; np = 1, 2, 4 differ only by the summation order of the reduction.
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { checkDenseFeatures, globalNumFeatures } from '../common/dataset.js';
import { linearLayout, localLossGrad, lossGradWorkSize, predictProbabilities, type LinearLayout, type Penalty } from '../common/logistic.js';
import { progressLogger } from '../common/progress.js';
import { bcd, type BcdState } from '../bcd/index.js';
import { tronLr, type TronState } from '../tron/index.js';
import type { Phases } from '../tron/phase_clock.js';
import { lbfgs, type DifferentiableFunction, type QuasiNewtonResult, type QuasiNewtonState } from './lbfgs.js';
import { TrainingState, type TrainingStateOptions } from '../../lib/recovery/training_state.js';
import { resilient } from '../../lib/recovery/resilient.js';
import { owlqn } from './owlqn.js';
import { lrParams, penaltyOf, type LrParams } from './params.js';

export { lrParams, penaltyOf, LR_DEFAULTS, type LrParams, type LrSolver } from './params.js';

/**
 * Threads for one rank's loss/gradient pass: 2 for a single rank with at least 2^20 non-zeros,
 * else 1 (ranks already share the cores). A fixed rule, not the machine's core count, so a
 * run's bits do not depend on where it runs.
 */
export function lossGradThreads(ranks: number, data: CsrData): number {
  return ranks === 1 && (data.rowPtr[data.numRows] ?? 0) >= 1 << 20 ? 2 : 1;
}

/** The smooth part of the objective, C*sum(loss) + 0.5*l2*||w||^2, over every rank's rows. */
export class LrObjective implements DifferentiableFunction {
  readonly dim: number;
  /** Evaluations so far (= fused allReduces). */
  evaluations = 0;
  /** Threads of the local pass (lossGradThreads). */
  readonly threads: number;
  /** When set (numRows doubles), each pass also writes the rows' loss curvature D here (Newton solvers). */
  curvature: Float64Array | null = null;
  readonly #buf: Float64Array;
  readonly #work: Float64Array;

  constructor(
    private readonly comm: Collective,
    private readonly data: CsrData,
    readonly layout: LinearLayout,
    private readonly c: number,
    private readonly l2: number,
  ) {
    this.dim = layout.dim;
    this.threads = lossGradThreads(comm.size, data);
    this.#buf = new Float64Array(layout.dim + 1);
    this.#work = new Float64Array(lossGradWorkSize(layout, this.threads));
  }

  async evaluate(w: Float64Array, grad: Float64Array): Promise<number> {
    const buf = this.#buf;
    const g = buf.subarray(1);
    buf[0] = localLossGrad(this.data, w, this.layout, this.c, g, this.threads, this.#work, this.curvature);
    await this.comm.allReduce(buf, { op: 'sum' });
    this.evaluations++;
    // grad = g + l2*w on the feature slots (the bias is not penalised), and ||w||^2, in one pass.
    const l2 = this.l2;
    const nf = this.layout.numFeatures;
    let sq = 0;
    if (l2 === 0) {
      grad.set(g);
      for (let j = 0; j < nf; j++) sq += w[j]! * w[j]!;
    } else {
      for (let j = 0; j < nf; j++) {
        const wj = w[j]!;
        grad[j] = g[j]! + l2 * wj;
        sq += wj * wj;
      }
      for (let j = nf; j < this.dim; j++) grad[j] = g[j]!;
    }
    return buf[0]! + 0.5 * l2 * sq;
  }
}

export interface TrainContext {
  /** Global feature slots (max feature id + 1); default: allReduce-max over the ranks' rows. */
  numFeatures?: number;
  /** Refuse more feature slots than this before allocating (default DEFAULT_MAX_FEATURES, 2^24). */
  maxFeatures?: number;
  /** Progress sink; default console.log on rank 0; null for silence. */
  log?: ((line: string) => void) | null;
  /** Print every N-th iteration line (plus the first and the last); default 1. */
  logEvery?: number;
  /**
   * Checkpoints and resume (`shoal train lr --checkpoint/--resume`). Under `--max-restarts` a lost
   * rank costs one iteration: L-BFGS/OWL-QN continue from the last completed one (history
   * included, bit for bit); BCD from its last pass (margins recomputed from w).
   */
  recovery?: TrainingStateOptions;
  /**
   * The state of a caller that runs train() inside its own resilient() (lib/recovery): train()
   * then commits into it and does not recover by itself. There must be one resilient() per
   * program: a replacement process re-runs the program from the start, so every collective
   * before the recovery point must be inside it.
   */
  state?: LrTrainingState;
}

/** What `shoal train lr` keeps across a lost rank or a restart: the quasi-Newton iterate and history. */
export type LrTrainingState = TrainingState<LrSolverStates>;
type LrSolverStates = { qn: QuasiNewtonState | null; bcd: BcdState | null; tron: TronState | null };

/** A fresh state for train() (pass to resilient() and to train's ctx.state). */
export function lrTrainingState(comm: Collective, options: TrainingStateOptions = {}): LrTrainingState {
  return new TrainingState<LrSolverStates>(comm, { qn: null, bcd: null, tron: null }, options);
}

/** A trained linear model: weights indexed by feature id, plus the bias. */
export interface LinearModel {
  weights: Float64Array;
  bias: number;
  numFeatures: number;
}

export interface LrTrainResult extends LinearModel {
  params: LrParams;
  objective: number;
  gradNorm: number;
  /** ||g|| at the start (tron; the reference of its stop rule), else null. */
  gradNorm0: number | null;
  iterations: number;
  /** Objective evaluations (L-BFGS/OWL-QN) or allReduces (BCD). */
  evaluations: number;
  reason: QuasiNewtonResult['reason'];
  seconds: number;
  /** Where the time went on this rank, per phase (newton-l1), else absent. */
  phases?: Phases;
}

/**
 * Trains logistic regression on this rank's rows. Collective: every rank calls it with its
 * own rows and the same params. Returns the same model on every rank.
 * @example
 *   const comm = await init();
 *   const model = await train(comm, myRows, { solver: 'lbfgs', c: 1 });
 */
export async function train(comm: Collective, data: CsrData, partial: Partial<LrParams> = {}, ctx: TrainContext = {}): Promise<LrTrainResult> {
  const params = lrParams(partial);
  if (!ctx.state) {
    const state = lrTrainingState(comm, ctx.recovery ?? {});
    return resilient(comm, state, () => train(comm, data, partial, { ...ctx, state }));
  }
  const state = ctx.state;
  const numFeatures = ctx.numFeatures ?? (await globalNumFeatures(comm, data));
  checkDenseFeatures(`lr ${params.solver}`, numFeatures, ctx.maxFeatures);
  const layout = linearLayout(numFeatures, params.bias);
  const penalty: Penalty = penaltyOf(params);
  // Every solver may stop before maxIter (tolerance): the ETA is an upper bound.
  const progress = progressLogger(comm, params.solver, ctx.log, { every: ctx.logEvery ?? 1, planned: params.maxIter, mayStopEarly: true });
  const common = { maxIter: params.maxIter, tol: params.tol };
  let result: QuasiNewtonResult & { gradNorm0?: number; phases?: Phases };
  if (params.solver === 'tron' || params.solver === 'newton-l1') {
    const s = state.value;
    result = await tronLr(comm, data, layout, {
      c: params.c,
      l2: penalty.l2,
      l1: penalty.l1,
      eps: params.eps,
      maxIter: params.maxIter,
      l1Inner: params.l1Inner,
      onIteration: (p) => progress({ ...p, extra: { step: p.step, 'cg steps': p.products, evals: p.evaluations, delta: p.delta } }),
      resume: s.tron,
      onCommit: (t) => ((s.tron = t), state.commit()),
    });
  } else if (params.solver === 'bcd') {
    result = await bcd(comm, data, layout, {
      ...common,
      c: params.c,
      penalty,
      seed: params.seed,
      blockSize: params.blockSize,
      hessian: params.bcdHessian,
      onIteration: (p) => progress({ ...p, extra: { blocks: p.blocks, allreduces: p.evaluations } }),
      resume: state.value.bcd,
      onCommit: (b) => ((state.value.bcd = b), state.commit()),
    });
  } else {
    const fn = new LrObjective(comm, data, layout, params.c, penalty.l2);
    const onIteration = (p: { iteration: number; objective: number; gradNorm: number; seconds: number; step: number; evaluations: number }): void =>
      progress({ ...p, extra: { step: p.step, evals: p.evaluations } });
    const x0 = new Float64Array(layout.dim);
    const s = state.value;
    const qn = { ...common, m: params.m, onIteration, resume: s.qn, onCommit: (q: QuasiNewtonState) => ((s.qn = q), state.commit()) };
    result = params.solver === 'owlqn' ? await owlqn(fn, x0, { ...qn, l1: penalty.l1, penalized: numFeatures }) : await lbfgs(fn, x0, qn);
  }
  progress.finish();
  return {
    weights: result.x.slice(0, numFeatures),
    bias: params.bias ? result.x[numFeatures]! : 0,
    numFeatures,
    params,
    objective: result.objective,
    gradNorm: result.gradNorm,
    gradNorm0: result.gradNorm0 ?? null,
    iterations: result.iterations,
    evaluations: result.evaluations,
    reason: result.reason,
    seconds: result.seconds,
    ...(result.phases ? { phases: result.phases } : {}),
  };
}

/** The weight vector in training layout (features, then the bias when `bias`). */
export function packWeights(model: LinearModel, bias: boolean): Float64Array {
  const w = new Float64Array(model.numFeatures + (bias ? 1 : 0));
  w.set(model.weights.subarray(0, model.numFeatures));
  if (bias) w[model.numFeatures] = model.bias;
  return w;
}

/** Probabilities P(y = +1 | x) for every row. Feature ids must be < numFeatures. */
export function predict(model: LinearModel, data: CsrData): Float64Array {
  const bias = model.bias !== 0;
  return predictProbabilities(data, packWeights(model, bias), linearLayout(model.numFeatures, bias));
}
