// One rank's part of `shoal train lr`: read this rank's share of the train (and test) files,
// agree on the number of features, train, evaluate on the test set (or the training set), and
// on rank 0 write the model and the metrics. Collective: every rank runs it with the same
// options.
import { writeFile } from 'node:fs/promises';

import { readLibsvm, type ReadResult } from '../../lib/data/libsvm.js';
import { ShoalError } from '../../lib/errors.js';
import { saveLinearModel } from '../model.js';
import type { Collective } from '../common/collective.js';
import { checkNotEmpty, DEFAULT_MAX_FEATURES, denseLimitHint, globalCounts, globalNumFeatures } from '../common/dataset.js';
import { binaryMetrics, type BinaryMetrics } from '../common/metrics.js';
import { lrTrainingState, predict, train, type LrTrainResult } from './index.js';
import { resilient } from '../../lib/recovery/resilient.js';
import type { TrainingStateOptions } from '../../lib/recovery/training_state.js';
import { penaltyOf, type LrParams } from './params.js';
import type { Phases } from '../tron/phase_clock.js';

export interface LrJobOptions {
  train: string[];
  test: string[];
  modelOut: string | null;
  metricsOut: string | null;
  params: LrParams;
  skipBadLines?: boolean;
  /** Feature slots allowed (largest id + 1); default DEFAULT_MAX_FEATURES. */
  maxFeatures?: number;
  /** Hash ids into [0, 2^hashBits) (0 or absent: ids as written); the model records it. */
  hashBits?: number;
  quiet?: boolean;
  /** --log-every: print every N-th iteration line (plus the first and the last); default 1. */
  logEvery?: number;
  /** Checkpoints / resume (TrainingState options; `shoal train lr --checkpoint/--resume`). */
  recovery?: TrainingStateOptions;
}

/** What metrics.json holds. */
export interface LrJobMetrics {
  objective: number;
  auc: number;
  logloss: number;
  accuracy: number;
  iterations: number;
  train_seconds: number;
  /** Non-zeros of the training data. */
  nnz: number;
  /** 'test' when a test file was given, else 'train'. */
  evaluated_on: 'test' | 'train';
  train_rows: number;
  test_rows: number;
  num_features: number;
  /** Non-zero weights of the model. */
  model_nnz: number;
  evaluations: number;
  stop_reason: string;
  grad_norm: number;
  /** ||g|| / ||g(0)|| at the end (the -e stop rule's ratio; null when the solver does not track g(0)). */
  grad_norm_ratio: number | null;
  read_seconds: number;
  np: number;
  solver: string;
  train_auc: number;
  train_logloss: number;
  /** Rank 0's time per solver phase with its allReduces (newton-l1 only). */
  phases?: Phases;
}

/** This rank's shares of the train and test files, or the error reading them (agreed on later, inside the job's collectives). */
export interface LrShares {
  trainData: ReadResult | null;
  testData: ReadResult | null;
  readError: unknown;
}

/** Reads this rank's shares with `read`; an error is kept, not thrown, so every rank reaches agreeShares. */
export async function readShares(comm: Collective, opts: LrJobOptions, read: (comm: Collective, files: string[], opts: LrJobOptions) => Promise<ReadResult>): Promise<LrShares> {
  try {
    const trainData = await read(comm, opts.train, opts);
    const testData = opts.test.length > 0 ? await read(comm, opts.test, opts) : null;
    return { trainData, testData, readError: null };
  } catch (err) {
    return { trainData: null, testData: null, readError: err };
  }
}

/**
 * Collective: a rank that could not read its share must not leave the others waiting in a
 * collective (they would fail with PeerLostError, exit 1, and maybe first), so all agree on
 * failure, then all throw; then the global row and nnz counts, empty data refused.
 */
export async function agreeShares(comm: Collective, opts: LrJobOptions, shares: LrShares) {
  const { trainData, testData, readError } = shares;
  const failed = new Int32Array([readError ? 1 : 0]);
  await comm.allReduce(failed, { op: 'max' });
  if (readError) throw readError;
  if (failed[0] || !trainData) throw new ShoalError('ERR_INVALID_ARGUMENT', 'another rank could not read its share of the data (see its message)', { rank: comm.rank });
  const counts = await globalCounts(comm, trainData);
  const testCounts = testData ? await globalCounts(comm, testData) : { rows: 0, nnz: 0 };
  const skipped = new Float64Array([trainData.skippedLines]);
  await comm.allReduce(skipped, { op: 'sum' });
  checkNotEmpty('lr', counts.rows, opts.train, skipped[0]);
  if (testData) checkNotEmpty('lr --test', testCounts.rows, opts.test);
  return { trainData, testData, counts, testCounts };
}

/** metrics.json from a run's numbers: the evaluation metrics `m` (test, or train without a test set) and the training set's `tm`. */
export function lrJobMetrics(
  comm: Collective,
  opts: LrJobOptions,
  run: Pick<LrJobMetrics, 'objective' | 'iterations' | 'train_seconds' | 'num_features' | 'model_nnz' | 'evaluations' | 'stop_reason' | 'grad_norm' | 'grad_norm_ratio' | 'read_seconds' | 'phases'>,
  data: { counts: { rows: number; nnz: number }; testCounts: { rows: number }; hasTest: boolean },
  m: BinaryMetrics,
  tm: BinaryMetrics,
): LrJobMetrics {
  return {
    objective: run.objective,
    auc: m.auc,
    logloss: m.logloss,
    accuracy: m.accuracy,
    iterations: run.iterations,
    train_seconds: run.train_seconds,
    nnz: data.counts.nnz,
    evaluated_on: data.hasTest ? 'test' : 'train',
    train_rows: data.counts.rows,
    test_rows: data.testCounts.rows,
    num_features: run.num_features,
    model_nnz: run.model_nnz,
    evaluations: run.evaluations,
    stop_reason: run.stop_reason,
    grad_norm: run.grad_norm,
    grad_norm_ratio: run.grad_norm_ratio,
    read_seconds: run.read_seconds,
    np: comm.size,
    solver: opts.params.solver,
    train_auc: tm.auc,
    train_logloss: tm.logloss,
    ...(run.phases ? { phases: run.phases } : {}),
  };
}

/** The training parameters a model file records (dense and sharded). */
export function lrModelParams(p: LrParams): Record<string, unknown> {
  const { solver, c, penalty, l1, bias, maxIter, tol, eps, m, seed, blockSize, bcdHessian } = p;
  return { solver, c, penalty, ...penaltyOf(p), l1Weight: penalty === 'l1' ? l1 : 0, bias, maxIter, tol, eps, m, seed, blockSize, bcdHessian };
}

/** The metrics a model file records. */
export function modelMetrics(m: LrJobMetrics): Record<string, unknown> {
  return { objective: m.objective, auc: m.auc, iterations: m.iterations };
}

// Labels must be -1, 0 or 1, and an id beyond the dense limit stops the read at its line.
async function readShare(comm: Collective, files: string[], opts: LrJobOptions): Promise<ReadResult> {
  const maxFeatures = opts.maxFeatures ?? DEFAULT_MAX_FEATURES;
  return readLibsvm(files, {
    rank: comm.rank,
    size: comm.size,
    skipBadLines: opts.skipBadLines ?? false,
    binaryLabels: true,
    maxFeatures,
    maxFeaturesHint: denseLimitHint(maxFeatures, true),
    ...(opts.hashBits ? { hashBits: opts.hashBits } : {}),
  });
}

/**
 * Runs the job on this rank; returns the result and the metrics (the same on every rank).
 * Under `--max-restarts` everything after reading runs inside one resilient() (a replacement
 * rank re-runs this function from the start, so every collective must be inside it).
 */
export async function runLrJob(comm: Collective, opts: LrJobOptions): Promise<{ result: LrTrainResult; metrics: LrJobMetrics }> {
  const t0 = performance.now();
  const shares = await readShares(comm, opts, readShare);
  const state = lrTrainingState(comm, opts.recovery ?? {});
  return resilient(comm, state, () => trainAndReport(comm, opts, t0, shares, state));
}

async function trainAndReport(
  comm: Collective,
  opts: LrJobOptions,
  t0: number,
  shares: LrShares,
  state: ReturnType<typeof lrTrainingState>,
): Promise<{ result: LrTrainResult; metrics: LrJobMetrics }> {
  const log = opts.quiet || comm.rank !== 0 ? null : (line: string) => console.log(line);
  const { trainData, testData, counts, testCounts } = await agreeShares(comm, opts, shares);
  // Test features unseen in training get weight 0; sizing w over both keeps predict in range.
  const numFeatures = await globalNumFeatures(comm, trainData, testData);
  const readSeconds = (performance.now() - t0) / 1000;
  log?.(
    `lr: ${opts.params.solver}, np ${comm.size}, ${counts.rows} train rows (${counts.nnz} nnz), ` +
      `${testCounts.rows} test rows, ${numFeatures} feature slots, read in ${readSeconds.toFixed(2)}s`,
  );
  const result = await train(comm, trainData, opts.params, { numFeatures, maxFeatures: opts.maxFeatures ?? DEFAULT_MAX_FEATURES, log, logEvery: opts.logEvery ?? 1, state });
  const evalData = testData ?? trainData;
  const m: BinaryMetrics = await binaryMetrics(comm, predict(result, evalData), evalData.labels);
  const tm: BinaryMetrics = testData ? await binaryMetrics(comm, predict(result, trainData), trainData.labels) : m;
  let modelNnz = 0;
  for (let j = 0; j < result.weights.length; j++) if (result.weights[j] !== 0) modelNnz++;
  const metrics = lrJobMetrics(
    comm,
    opts,
    {
      objective: result.objective,
      iterations: result.iterations,
      train_seconds: result.seconds,
      num_features: numFeatures,
      model_nnz: modelNnz,
      evaluations: result.evaluations,
      stop_reason: result.reason,
      grad_norm: result.gradNorm,
      grad_norm_ratio: result.gradNorm0 ? result.gradNorm / result.gradNorm0 : null,
      read_seconds: readSeconds,
      ...(result.phases ? { phases: result.phases } : {}),
    },
    { counts, testCounts, hasTest: testData !== null },
    m,
    tm,
  );
  const ratio = result.gradNorm0 ? `, |g|/|g0| ${(result.gradNorm / result.gradNorm0).toExponential(3)}` : '';
  log?.(
    `lr: done: objective ${result.objective.toFixed(6)} after ${result.iterations} iterations (${result.reason}${ratio}), ` +
      `${metrics.evaluated_on} auc ${m.auc.toFixed(6)} logloss ${m.logloss.toFixed(6)} accuracy ${m.accuracy.toFixed(6)}, ${result.seconds.toFixed(2)}s`,
  );
  if (comm.rank === 0) {
    if (opts.modelOut) {
      await saveLinearModel(
        opts.modelOut,
        { algorithm: 'lr', solver: opts.params.solver, bias: result.bias, numFeatures, ...(opts.hashBits ? { hashBits: opts.hashBits } : {}), params: lrModelParams(opts.params), metrics: modelMetrics(metrics) },
        result.weights,
      );
    }
    if (opts.metricsOut) await writeFile(opts.metricsOut, JSON.stringify(metrics, null, 2) + '\n');
  }
  await comm.barrier();
  return { result, metrics };
}
