// MART (gradient boosted regression trees), data-parallel: train(comm, data, params, options)
// and predict(model, rows).
//
// Setup: the feature slots are the global max feature id + 1 (allReduce max); cut points come
// from the merged weighted quantile sketch (sketch.ts, one allGather); every rank bins its rows
// once into a row-major uint8 matrix (native). Per round: gradients and hessians of the local
// rows, turned into fixed point with a scale from the global maxima (one allReduce max), so
// histogram sums are exact integers; one tree grown depth-wise with one histogram allReduce
// per level (tree.ts); margins of the training rows updated from the leaves' row ranges, test
// margins from the binned test rows. The training loss is one allReduce of two sums.
//
// Determinism: every rank computes the same trees (identical reduced histograms, identical
// split arithmetic). The trees also do not depend on the number of ranks whenever the cuts
// do not (always when the sketch is exact, see sketch.ts): per-row gradients are
// partition-independent, fixed-point sums are exact, row subsampling hashes the global row
// index, column subsampling draws from a seeded generator every rank runs identically.
import { availableParallelism } from 'node:os';

import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { binaryMetrics } from '../common/metrics.js';
import { Rng } from '../common/rng.js';
import { featureImportance, MART_FORMAT, MART_VERSION, F32_MAX, type MartModel, type MartTree } from './model.js';
import { gbdtNative } from './native.js';
import { logisticObjective, squaredErrorObjective, type RowObjective } from './objective.js';
import { martParams, type MartParams } from './params.js';
import { buildCuts, type FeatureCuts } from './sketch.js';
import { growTree, type BinnedRows, type BinTree } from './tree.js';

export { martParams, MART_DEFAULTS, type MartParams, type MartObjective } from './params.js';
export { predict, predictMargins, loadMartModel, saveMartModel, parseMartModel, toXgboostJson, xgboostJsonText, featureImportance, type MartModel, type MartTree } from './model.js';
export { buildCuts, type FeatureCuts } from './sketch.js';
export { findSplit, growTree, type BinTree, type BinnedRows } from './tree.js';

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
  /** Progress sink; default console.log on rank 0; null for silence. */
  log?: ((line: string) => void) | null;
  /** Label of the progress lines (default 'mart'). */
  label?: string;
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

  // Feature slots and global row count / offset.
  let numFeatures = options.numFeatures ?? 0;
  const counts = new Float64Array([Math.max(data.maxFeatureId + 1, test ? test.maxFeatureId + 1 : 0, 1), data.numRows]);
  if (options.numFeatures === undefined) {
    const mx = new Float64Array([counts[0]!]);
    await comm.allReduce(mx, { op: 'max' });
    numFeatures = mx[0]!;
  }
  const rowCounts = new Int32Array(comm.size);
  await comm.allGather(new Int32Array([data.numRows]), rowCounts);
  let totalRows = 0;
  let offset = 0;
  for (let r = 0; r < comm.size; r++) {
    if (r === comm.rank) offset = totalRows;
    totalRows += rowCounts[r]!;
  }

  const cuts = await buildCuts(comm, data, numFeatures, p.maxBin, p.sketchSize);
  const binned = binData(data, cuts);
  const testBinned = test ? binData(test, cuts) : null;
  const threads = p.threads > 0 ? p.threads : comm.size === 1 ? availableParallelism() : 1;

  // Objective and base margin.
  const rowObjective: RowObjective | null =
    options.gradients !== undefined
      ? null
      : p.objective === 'binary:logistic'
        ? logisticObjective(data.labels, data.weights)
        : p.objective === 'reg:squarederror'
          ? squaredErrorObjective(data.labels, data.weights)
          : null;
  if (!rowObjective && !options.gradients) throw new TypeError(`${label}: objective ${p.objective} needs options.gradients (use algorithms/lambdamart)`);
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

  const evaluate =
    options.evaluate ??
    (p.objective === 'binary:logistic'
      ? async (m: Float64Array): Promise<Metrics> => {
          const probs = m.map((z) => 1 / (1 + Math.exp(-z)));
          const r = await binaryMetrics(comm, probs, test!.labels);
          return { auc: r.auc, logloss: r.logloss };
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

  const n = data.numRows;
  const margins = new Float64Array(n).fill(baseMargin);
  const testMargins = testBinned ? new Float64Array(testBinned.numRows).fill(baseMargin) : null;
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const rows = new Uint32Array(n);
  const scratch = new Uint32Array(n);
  const usable: number[] = [];
  for (let f = 0; f < numFeatures; f++) if (cuts.cutPtr[f + 1]! > cuts.cutPtr[f]!) usable.push(f);
  const featureMask = new Uint8Array(numFeatures);

  const trees: MartTree[] = [];
  const history: RoundInfo[] = [];
  let best = metric.maximize ? -Infinity : Infinity;
  let bestRound = 0;
  let bestMetrics: Metrics = {};
  let rounds = 0;
  const grow = { maxDepth: p.maxDepth, maxLeaves: p.maxLeaves, eta: p.eta, lambda: p.lambda, gamma: p.gamma, minChildWeight: p.minChildWeight };

  for (let round = 0; round < p.rounds; round++) {
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
    // Fixed point: integers whose global sums stay below 2^52 (exact, order-independent).
    const mx = new Float64Array(2);
    for (let i = 0; i < n; i++) {
      const ag = Math.abs(grad[i]!);
      if (ag > mx[0]!) mx[0] = ag;
      if (hess[i]! > mx[1]!) mx[1] = hess[i]!;
    }
    if (comm.size > 1) await comm.allReduce(mx, { op: 'max' });
    const sg = fixedPointScale(mx[0]!, totalRows);
    const sh = fixedPointScale(mx[1]!, totalRows);
    for (let i = 0; i < n; i++) {
      grad[i] = Math.round(grad[i]! * sg);
      hess[i] = Math.round(hess[i]! * sh);
    }
    // Column subsampling: the same draw on every rank.
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

    for (let i = 0; i < n; i++) rows[i] = i;
    const { tree, leafRanges } = await growTree(comm, binned, grad, hess, 1 / sg, 1 / sh, rows, scratch, featureMask, grow, threads);
    for (const [id, [b, e]] of leafRanges) {
      const v = tree.value[id]!;
      for (let k = b; k < e; k++) { const r = rows[k]!; margins[r] = margins[r]! + v; }
    }
    trees.push(toModelTree(tree, cuts));
    rounds = round + 1;

    const info: RoundInfo = { round: rounds, seconds: 0 };
    if (rowObjective) {
      const s = new Float64Array(rowObjective.loss(margins));
      await comm.allReduce(s, { op: 'sum' });
      info[`train-${rowObjective.lossName}`] = s[1]! > 0 ? s[0]! / s[1]! : Number.NaN;
    }
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
    history.push(info);
    const loss = info[`train-${rowObjective?.lossName ?? ''}`] ?? info[`test-${metric.name}`] ?? Number.NaN;
    comm.report?.({ iteration: rounds, loss });
    if (log) {
      const cols = Object.entries(info)
        .filter(([k]) => k !== 'round' && k !== 'seconds')
        .map(([k, v]) => `  ${k} ${v.toFixed(6)}`)
        .join('');
      log(`${label} round ${String(rounds).padStart(4)}${cols}  ${info.seconds.toFixed(3)}s`);
    }
    if (stop) break;
  }

  const kept = testBinned && p.earlyStoppingRounds > 0 ? trees.slice(0, bestRound) : trees;
  const model: MartModel = {
    format: MART_FORMAT,
    version: MART_VERSION,
    objective: p.objective,
    baseMargin,
    numFeatures,
    trees: kept,
    params: p,
    featureImportance: featureImportance(kept),
  };
  const testMetrics = testBinned ? (kept.length === trees.length ? (history[history.length - 1] ? stripTest(history[history.length - 1]!) : {}) : bestMetrics) : {};
  return { model, rounds, bestRound, testMetrics, history, trainSeconds: (performance.now() - t0) / 1000, cuts };
}

function stripTest(info: RoundInfo): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(info)) if (k.startsWith('test-')) out[k.slice(5)] = v;
  return out;
}
