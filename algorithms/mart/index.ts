// MART (gradient boosted regression trees), data-parallel: train(comm, data, params, options)
// and predict(model, rows).
//
// Setup: the feature slots are the global max feature id + 1 (allReduce max); cut points come
// from the merged weighted quantile sketch (sketch.ts, one allGather); every rank bins its rows
// once into a row-major uint8 matrix (native). Per round: gradients and hessians of the local
// rows, turned into fixed point with a scale from the global maxima (one allReduce max), so
// histogram sums are exact integers; one tree grown depth-wise with one histogram allReduce
// per level (tree.ts); margins of the training rows updated from the leaves' row ranges, test
// margins from the binned test rows. The training loss is one allReduce of two sums. Every
// per-row pass of a round (logistic gradients and loss, the fixed-point maxima and rounding,
// histograms, partitioning, leaf values into margins) is a native kernel (native/gbdt); the
// default test AUC/log-loss is common/metrics.ts binaryMetrics (radix-sorted AUC, common/auc.ts).
//
// Determinism: every rank computes the same trees (identical reduced histograms, identical
// split arithmetic). The trees also do not depend on the number of ranks whenever the cuts
// do not (always when the sketch is exact, see sketch.ts): per-row gradients are
// partition-independent, fixed-point sums are exact, row subsampling hashes the global row
// index, column subsampling draws from a seeded generator every rank runs identically.
//
// Fault tolerance (lib/recovery): the boosting loop runs inside resilient() with a
// TrainingState (state.ts) holding the setup, the trees (packed, in bin form), the round and the
// early-stopping bookkeeping, committed after every round. No collective runs before the loop
// function, so a replacement process joins the survivors in step; at the start of the loop
// function every rank rebuilds its binned rows from the committed cuts and its train/test
// margins from the committed trees, with the same floating-point additions in the same order
// as the incremental updates. A recovered or resumed run therefore ends with exactly the model
// of an undisturbed one.
import { availableParallelism } from 'node:os';

import type { Collective } from '../common/collective.js';
import { checkDenseFeatures, checkNotEmpty, type CsrData } from '../common/dataset.js';
import { progressPacer } from '../common/progress.js';
import { binaryMetrics } from '../common/metrics.js';
import { Rng } from '../../lib/rng.js';
import { ConfigError } from '../../lib/errors.js';
import { resilient } from '../../lib/recovery/resilient.js';
import { recoveryEnabled } from '../../lib/recovery/recovery_env.js';
import { TrainingState, type CheckpointMeta, type TrainingStateOptions } from '../../lib/recovery/training_state.js';
import { featureImportance, MART_FORMAT, MART_VERSION, F32_MAX, type MartModel, type MartTree } from './model.js';
import { gbdtNative } from './native.js';
import { logisticObjective, squaredErrorObjective, type RowObjective } from './objective.js';
import { martParams, type MartParams } from './params.js';
import { buildCuts, type FeatureCuts } from './sketch.js';
import { appendTo, binTree, flatTree, forestSize, initialMartState, pushTree, setupCuts, type MartSetup, type MartState } from './state.js';
import { binColumns, growTree, type BinnedRows, type BinTree } from './tree.js';

export { martParams, MART_DEFAULTS, type MartParams, type MartObjective } from './params.js';
export { predict, predictMargins, loadMartModel, saveMartModel, parseMartModel, toXgboostJson, xgboostJsonText, featureImportance, type MartModel, type MartTree } from './model.js';
export { buildCuts, type FeatureCuts } from './sketch.js';
export { findSplit, growTree, type BinTree, type BinnedRows } from './tree.js';
export { type MartState, type MartSetup, type PackedForest } from './state.js';

/** Test-set metrics of one round, e.g. { auc, logloss } or { 'ndcg@10': ... }. */
export type Metrics = Record<string, number>;

export interface TrainOptions {
  /** This rank's test rows; metrics per round (and early stopping) need them. */
  test?: CsrData | null;
  /** Replaces the pointwise objective (LambdaMART): fills grad/hess of the local training rows. */
  gradients?: (margins: Float64Array, grad: Float64Array, hess: Float64Array) => void;
  /** Test metrics from the test margins (all ranks call it; collective). Default: auc/logloss or rmse. */
  evaluate?: (margins: Float64Array) => Promise<Metrics>;
  /** The metric early stopping watches, and whether higher is better. Default: auc (max) or rmse (min). */
  metric?: { name: string; maximize: boolean };
  /** Global index of each local row (for row subsampling); default: rank offset + local index. */
  rowIds?: Uint32Array;
  /** Feature slots; default: allReduce-max of the max feature id + 1 over train (and test). */
  numFeatures?: number;
  /** Refuse more feature slots than this before allocating (default DEFAULT_MAX_FEATURES, 2^24). */
  maxFeatures?: number;
  /** The training files, for the message when no rank has a row. */
  files?: readonly string[];
  /** Progress sink; default console.log on rank 0; null for silence. */
  log?: ((line: string) => void) | null;
  /** Print every N-th round line (plus the first and the last); default 1. */
  logEvery?: number;
  /** Label of the progress lines (default 'mart'). */
  label?: string;
  /**
   * Fault tolerance (lib/recovery): the options of the run's TrainingState (checkpoint `dir`
   * and `every`, `resume`, extra `meta`; martCheckpointMeta is always included) and where
   * resilient() reports a recovery (default stderr). Without `dir`/`resume` and outside a job
   * started with --max-restarts, commits cost nothing.
   */
  recovery?: TrainingStateOptions & { log?: (line: string) => void };
}

export interface RoundInfo extends Metrics {
  round: number;
  seconds: number;
}

export interface TrainResult {
  model: MartModel;
  /** Rounds trained (before early stopping truncated the model to the best one). */
  rounds: number;
  /** 1-based round with the best test metric (rounds when there is no test set). */
  bestRound: number;
  /** Test metrics of the kept model ({} without a test set). */
  testMetrics: Metrics;
  history: RoundInfo[];
  trainSeconds: number;
  /** Time this process spent in TrainingState.commit() (0 unless checkpointing or replacing workers). */
  commitSeconds: number;
  /** The cut points the rows were binned with. */
  cuts: FeatureCuts;
}

/** Splitmix-style 32-bit hash of (seed, round, row) mapped to [0, 1). */
export function rowUniform(seed: number, round: number, row: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(round + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(row ^ 0x27d4eb2f, 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Bins a CSR matrix with `cuts` (0 = missing); `binOffsets` is the histogram layout. */
export function binData(data: CsrData, cuts: FeatureCuts): BinnedRows {
  const nf = cuts.numFeatures;
  const bins = new Uint8Array(data.numRows * nf);
  gbdtNative.binRows(data.rowPtr, data.featureIds, data.values, cuts.cutPtr, cuts.cuts, nf, bins);
  const binOffsets = new Uint32Array(nf + 1);
  for (let f = 0; f < nf; f++) binOffsets[f + 1] = binOffsets[f]! + (cuts.cutPtr[f + 1]! - cuts.cutPtr[f]!) + 1;
  return { bins, numRows: data.numRows, numFeatures: nf, binOffsets };
}

function toModelTree(t: BinTree, cuts: FeatureCuts): MartTree {
  const threshold = t.left.map((l, i) => {
    if (l < 0) return 0;
    const f = t.feature[i]!;
    const nb = cuts.cutPtr[f + 1]! - cuts.cutPtr[f]!;
    const k = t.threshold[i]!;
    return k >= nb ? F32_MAX : cuts.cuts[cuts.cutPtr[f]! + k - 1]!;
  });
  return { left: t.left, right: t.right, feature: t.feature, threshold, defaultLeft: t.defaultLeft, value: t.value, gain: t.gain, cover: t.cover };
}

interface FlatTree {
  left: Int32Array;
  right: Int32Array;
  feature: Int32Array;
  threshold: Int32Array;
  defaultLeft: Uint8Array;
  value: Float64Array;
}

function flatten(t: BinTree): FlatTree {
  return {
    left: Int32Array.from(t.left),
    right: Int32Array.from(t.right),
    feature: Int32Array.from(t.feature),
    threshold: Int32Array.from(t.threshold),
    defaultLeft: Uint8Array.from(t.defaultLeft),
    value: Float64Array.from(t.value),
  };
}

function addTree(b: BinnedRows, t: FlatTree, margins: Float64Array): void {
  if (b.numRows === 0) return;
  gbdtNative.addTreeBins(b.bins, b.numFeatures, t.left, t.right, t.feature, t.threshold, t.defaultLeft, t.value, margins);
}

/** The largest power of two s with n * maxAbs * s <= 2^51 (1 when maxAbs is 0). */
export function fixedPointScale(maxAbs: number, n: number): number {
  if (!(maxAbs > 0)) return 1;
  return 2 ** Math.floor(51 - Math.log2(maxAbs * Math.max(1, n)));
}

/**
 * Trains MART on every rank's rows. All ranks call it with their own shard and the same
 * params; all return the same model.
 * @param comm the ranks (a size-1 localCollective() for a single process).
 * @param data this rank's training rows (labels: > 0 positive for binary:logistic).
 * @param params see params.ts (XGBoost names and defaults).
 * @returns the model, the test metrics of the kept rounds, the history and the time.
 * @throws {RangeError|TypeError} ERR_INVALID_ARGUMENT for bad params; collective errors from comm.
 * @example
 * const { model, testMetrics } = await train(comm, trainShard, { rounds: 100, maxDepth: 6, eta: 0.1 }, { test: testShard });
 */
export async function train(comm: Collective, data: CsrData, params: Partial<MartParams> = {}, options: TrainOptions = {}): Promise<TrainResult> {
  const p = martParams(params);
  const t0 = performance.now();
  const label = options.label ?? 'mart';
  const log = options.log === undefined ? (comm.rank === 0 ? (line: string) => console.log(line) : null) : options.log;
  const test = options.test ?? null;

  // Objective (per-row gradients depend only on the margins: nothing to carry between rounds).
  const rowObjective: RowObjective | null =
    options.gradients !== undefined
      ? null
      : p.objective === 'binary:logistic'
        ? logisticObjective(data.labels, data.weights)
        : p.objective === 'reg:squarederror'
          ? squaredErrorObjective(data.labels, data.weights)
          : null;
  if (!rowObjective && !options.gradients) throw new TypeError(`${label}: objective ${p.objective} needs options.gradients (use algorithms/lambdamart)`);
  const evaluate =
    options.evaluate ??
    (p.objective === 'binary:logistic'
      ? async (m: Float64Array): Promise<Metrics> => {
          const probs = m.map((z) => 1 / (1 + Math.exp(-z)));
          const { auc, logloss } = await binaryMetrics(comm, probs, test!.labels);
          return { auc, logloss };
        }
      : async (m: Float64Array): Promise<Metrics> => {
          const s = new Float64Array(2);
          for (let i = 0; i < m.length; i++) {
            s[0] = s[0]! + (m[i]! - test!.labels[i]!) ** 2;
            s[1] = s[1]! + 1;
          }
          await comm.allReduce(s, { op: 'sum' });
          return { rmse: Math.sqrt(s[0]! / Math.max(1, s[1]!)) };
        });
  const metric = options.metric ?? (p.objective === 'binary:logistic' ? { name: 'auc', maximize: true } : { name: 'rmse', maximize: false });
  const grow = { maxDepth: p.maxDepth, maxLeaves: p.maxLeaves, eta: p.eta, lambda: p.lambda, gamma: p.gamma, minChildWeight: p.minChildWeight };

  // Everything needed to continue bit-identically lives in the TrainingState (state.ts); no
  // collective runs before resilient(), so a replacement process enters it in step with the
  // survivors (who call the loop function again after a loss).
  const { log: recoveryLog, ...stateOpts } = options.recovery ?? {};
  const state = new TrainingState<MartState>(comm, initialMartState(metric.maximize), {
    ...stateOpts,
    meta: { ...martCheckpointMeta(p, comm.size, label), ...stateOpts.meta },
  });
  let commitSeconds = 0;
  let commitsHere = 0;

  const out = await resilient(
    comm,
    state,
    async (s: MartState) => {
      const entered = performance.now();
      // Setup, once per job (collective); after a recovery or on resume it comes from the state.
      if (s.setup === null) s.setup = await agreeSetup(comm, data, test, p, options);
      else await checkSetup(comm, s.setup, data, label);
      const setup = s.setup;
      const cuts = setupCuts(setup);
      const numFeatures = setup.numFeatures;
      let offset = 0;
      let totalRows = 0;
      for (let r = 0; r < comm.size; r++) {
        if (r === comm.rank) offset = totalRows;
        totalRows += setup.rowCounts[r]!;
      }
      const binned = binData(data, cuts);
      binned.columns = binColumns(binned);
      const testBinned = test ? binData(test, cuts) : null;
      const threads = p.threads > 0 ? p.threads : comm.size === 1 ? availableParallelism() : 1;

      // Margins of the committed trees, rebuilt: per row the same additions in the same order
      // as the incremental updates below (base margin, then each round's leaf value).
      const n = data.numRows;
      const margins = new Float64Array(n).fill(setup.baseMargin);
      const testMargins = testBinned ? new Float64Array(testBinned.numRows).fill(setup.baseMargin) : null;
      for (let t = 0; t < forestSize(s.forest); t++) {
        const ft = flatTree(s.forest, t);
        addTree(binned, ft, margins);
        if (testBinned && testMargins) addTree(testBinned, ft, testMargins);
      }
      if (s.round > 0 && log) {
        log(`${label}: continuing after round ${s.round} (${forestSize(s.forest)} trees rebuilt into the margins, rows binned, in ${((performance.now() - entered) / 1000).toFixed(3)} s)`);
      }

      const grad = new Float64Array(n);
      const hess = new Float64Array(n);
      const gh = new Float64Array(2 * n);
      const mx = new Float64Array(2);
      const rows = new Uint32Array(n);
      const identity = Uint32Array.from({ length: n }, (_, i) => i);
      const scratch = new Uint32Array(n);
      const usable: number[] = [];
      for (let f = 0; f < numFeatures; f++) if (cuts.cutPtr[f + 1]! > cuts.cutPtr[f]!) usable.push(f);
      const featureMask = new Uint8Array(numFeatures);

      // Early stopping may end the run before p.rounds: the ETA is then an upper bound.
      const pacer = progressPacer(log, { every: options.logEvery ?? 1, planned: p.rounds, mayStopEarly: p.earlyStoppingRounds > 0 });
      while (!s.stopped && s.round < p.rounds) {
        const round = s.round;
        const tr = performance.now();
        if (rowObjective) rowObjective.gradients(margins, grad, hess);
        else options.gradients!(margins, grad, hess);
        if (p.subsample < 1) {
          for (let i = 0; i < n; i++) {
            const id = options.rowIds ? options.rowIds[i]! : offset + i;
            if (rowUniform(p.seed, round, id) >= p.subsample) {
              grad[i] = 0;
              hess[i] = 0;
            }
          }
        }
        // Fixed point: integers whose global sums stay below 2^52 (exact, order-independent),
        // interleaved as (gradient, hessian) pairs for the histogram kernel.
        gbdtNative.absMax(grad, hess, mx);
        if (comm.size > 1) await comm.allReduce(mx, { op: 'max' });
        const sg = fixedPointScale(mx[0]!, totalRows);
        const sh = fixedPointScale(mx[1]!, totalRows);
        gbdtNative.quantizePairs(grad, hess, sg, sh, gh);
        // Column subsampling: the same draw on every rank (seeded by seed and round: no RNG state).
        if (p.colsampleBytree < 1) {
          featureMask.fill(0);
          const rng = new Rng((p.seed * 7919 + round) >>> 0);
          const pick = usable.slice();
          const want = Math.max(1, Math.round(p.colsampleBytree * pick.length));
          for (let i = 0; i < want && i < pick.length; i++) {
            const j = i + rng.int(pick.length - i);
            const tmp = pick[i]!;
            pick[i] = pick[j]!;
            pick[j] = tmp;
            featureMask[pick[i]!] = 1;
          }
        } else featureMask.fill(1);

        rows.set(identity);
        const { tree, leafRanges } = await growTree(comm, binned, gh, 1 / sg, 1 / sh, rows, scratch, featureMask, grow, threads);
        // Every row is in exactly one leaf: one addition per row and round, as addTreeBins does.
        const ranges = new Uint32Array(2 * leafRanges.size);
        const values = new Float64Array(leafRanges.size);
        let j = 0;
        for (const [id, [b, e]] of leafRanges) {
          ranges[2 * j] = b;
          ranges[2 * j + 1] = e;
          values[j++] = tree.value[id]!;
        }
        gbdtNative.addLeafValues(rows, ranges, values, margins);
        const rounds = round + 1;

        const info: RoundInfo = { round: rounds, seconds: 0 };
        if (rowObjective) {
          const sums = new Float64Array(rowObjective.loss(margins));
          await comm.allReduce(sums, { op: 'sum' });
          info[`train-${rowObjective.lossName}`] = sums[1]! > 0 ? sums[0]! / sums[1]! : Number.NaN;
        }
        let best = s.best;
        let bestRound = s.bestRound;
        let bestMetrics = s.bestMetrics;
        let stop = false;
        if (testBinned && testMargins) {
          addTree(testBinned, flatten(tree), testMargins);
          const m = await evaluate(testMargins);
          for (const [k, v] of Object.entries(m)) info[`test-${k}`] = v;
          const v = m[metric.name] ?? Number.NaN;
          if (metric.maximize ? v > best : v < best) {
            best = v;
            bestRound = rounds;
            bestMetrics = m;
          }
          if (p.earlyStoppingRounds > 0 && rounds - bestRound >= p.earlyStoppingRounds) stop = true;
        } else bestRound = rounds;
        info.seconds = (performance.now() - tr) / 1000;

        // The round is complete (its last collective is done): record it and commit.
        pushTree(s.forest, tree);
        if (s.historyKeys.length === 0) s.historyKeys = Object.keys(info);
        s.history = appendTo(s.history, s.historyKeys.map((k) => info[k] ?? Number.NaN));
        s.best = best;
        s.bestRound = bestRound;
        s.bestMetrics = bestMetrics;
        s.stopped = stop;
        s.round = rounds;
        const tc = performance.now();
        state.commit();
        commitSeconds += (performance.now() - tc) / 1000;
        commitsHere++;

        // Every column of the progress line is charted under its own name (train-logloss, test-auc,
        // ...); report() refuses NaN, e.g. LambdaMART's metrics without a test set.
        const charted = Object.fromEntries(Object.entries(info).filter(([k, v]) => k !== 'round' && k !== 'seconds' && Number.isFinite(v)));
        comm.report?.({ ...charted, iteration: rounds, planned: p.rounds });
        if (log) {
          const cols = Object.entries(info)
            .filter(([k]) => k !== 'round' && k !== 'seconds')
            .map(([k, v]) => `  ${k} ${v.toFixed(6)}`)
            .join('');
          pacer.step(rounds, `${label} round ${String(rounds).padStart(4)}${cols}  ${info.seconds.toFixed(3)}s`);
        }
      }
      pacer.finish();
      return { s, cuts, hasTest: testBinned !== null };
    },
    recoveryLog ? { log: recoveryLog } : {},
  );

  const { s, cuts, hasTest } = out;
  const setup = s.setup!;
  const trees: MartTree[] = [];
  for (let t = 0; t < forestSize(s.forest); t++) trees.push(toModelTree(binTree(s.forest, t), cuts));
  const history: RoundInfo[] = [];
  const width = s.historyKeys.length;
  for (let r = 0; r < s.round; r++) {
    const info: Record<string, number> = {};
    s.historyKeys.forEach((k, j) => (info[k] = s.history[r * width + j]!));
    history.push(info as RoundInfo);
  }
  const kept = hasTest && p.earlyStoppingRounds > 0 ? trees.slice(0, s.bestRound) : trees;
  const model: MartModel = {
    format: MART_FORMAT,
    version: MART_VERSION,
    objective: p.objective,
    baseMargin: setup.baseMargin,
    numFeatures: setup.numFeatures,
    trees: kept,
    params: p,
    featureImportance: featureImportance(kept),
  };
  const testMetrics = hasTest ? (kept.length === trees.length ? (history[history.length - 1] ? stripTest(history[history.length - 1]!) : {}) : s.bestMetrics) : {};
  if (log && (stateOpts.dir || recoveryEnabled()) && commitsHere > 0) {
    log(`${label}: ${commitsHere} commits here, ${((1000 * commitSeconds) / commitsHere).toFixed(3)} ms per round in commit()`);
  }
  return { model, rounds: s.round, bestRound: s.bestRound, testMetrics, history, trainSeconds: (performance.now() - t0) / 1000, commitSeconds, cuts };
}

/** The job-wide setup, agreed collectively: feature slots, rows per rank, cut points, base margin. */
async function agreeSetup(comm: Collective, data: CsrData, test: CsrData | null, p: MartParams, options: TrainOptions): Promise<MartSetup> {
  const fixedFeatures = options.numFeatures;
  let numFeatures = fixedFeatures ?? 0;
  if (fixedFeatures === undefined) {
    const mx = new Float64Array([Math.max(data.maxFeatureId + 1, test ? test.maxFeatureId + 1 : 0, 1)]);
    await comm.allReduce(mx, { op: 'max' });
    numFeatures = mx[0]!;
  }
  const who = p.objective === 'rank:ndcg' ? 'lambdamart' : 'mart';
  // Bins and sketches are dense over the feature slots.
  checkDenseFeatures(who, numFeatures, options.maxFeatures);
  const counts = new Int32Array(comm.size);
  await comm.allGather(new Int32Array([data.numRows]), counts);
  checkNotEmpty(who, counts.reduce((a, b) => a + b, 0), options.files ?? ['the training data']);
  const cuts = await buildCuts(comm, data, numFeatures, p.maxBin, p.sketchSize);
  let baseMargin = 0;
  if (p.objective === 'binary:logistic') {
    const b = p.baseScore ?? 0.5;
    baseMargin = Math.log(b / (1 - b));
  } else if (p.objective === 'reg:squarederror') {
    if (p.baseScore !== null) baseMargin = p.baseScore;
    else {
      const s = new Float64Array(2);
      for (let i = 0; i < data.numRows; i++) {
        const w = data.weights ? data.weights[i]! : 1;
        s[0] = s[0]! + w * data.labels[i]!;
        s[1] = s[1]! + w;
      }
      await comm.allReduce(s, { op: 'sum' });
      baseMargin = s[1]! > 0 ? s[0]! / s[1]! : 0;
    }
  } else if (p.baseScore !== null) baseMargin = p.baseScore;
  return { numFeatures, rowCounts: Float64Array.from(counts), baseMargin, cutPtr: cuts.cutPtr, cuts: cuts.cuts };
}

/** A setup from the state (resume, recovery) must fit this rank's data: every rank checks its row count (collective). */
async function checkSetup(comm: Collective, setup: MartSetup, data: CsrData, label: string): Promise<void> {
  const bad = new Float64Array(comm.size);
  if (setup.rowCounts.length !== comm.size || setup.rowCounts[comm.rank] !== data.numRows) bad[comm.rank] = 1;
  if (comm.size > 1) await comm.allReduce(bad, { op: 'max' });
  const r = bad.findIndex((b) => b !== 0);
  if (r >= 0) {
    const had = setup.rowCounts[r];
    const mine = r === comm.rank ? ` (it has ${data.numRows})` : '';
    throw new ConfigError('ERR_CONFIG', `${label}: the training state was made with other data: rank ${r} had ${had ?? 'no'} training rows${mine}`);
  }
}

/** The parameters that determine a MART/LambdaMART model, and the number of ranks: a checkpoint is only resumed by a job with the same ones. */
export function martCheckpointMeta(p: MartParams, np: number, algorithm = 'mart'): CheckpointMeta {
  return {
    algorithm,
    objective: p.objective,
    rounds: p.rounds,
    maxDepth: p.maxDepth,
    maxLeaves: p.maxLeaves,
    eta: p.eta,
    maxBin: p.maxBin,
    lambda: p.lambda,
    gamma: p.gamma,
    minChildWeight: p.minChildWeight,
    subsample: p.subsample,
    colsampleBytree: p.colsampleBytree,
    seed: p.seed,
    earlyStoppingRounds: p.earlyStoppingRounds,
    baseScore: p.baseScore,
    sketchSize: p.sketchSize,
    ndcgK: p.ndcgK,
    np,
  };
}

function stripTest(info: RoundInfo): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(info)) if (k.startsWith('test-')) out[k.slice(5)] = v;
  return out;
}
