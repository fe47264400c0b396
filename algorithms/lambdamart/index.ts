// LambdaMART: MART (algorithms/mart) with lambda gradients from NDCG, and query-aware data
// placement.
//
// Gradients (LightGBM's lambdarank, which XGBoost's rank:ndcg also follows): per query, rows
// are sorted by the current score; for every pair (i, j) with different labels where the
// higher-placed row is within the first `truncation` positions (default k, as XGBoost's topk pairs), with gain 2^rel - 1 and
// discount 1/log2(2 + position),
//   delta = |gain_i - gain_j| * |disc(pos_i) - disc(pos_j)| / maxDCG@k   (/ (0.01 + |s_i - s_j|))
//   rho = 1 / (1 + exp(s_hi - s_lo)),  lambda = rho * delta,  hessian = rho (1 - rho) delta
// the better-labelled row gets -lambda, the other +lambda (gradients: the tree steps against
// them), and each query's lambdas and hessians are scaled by log2(1 + L)/L where L is the sum
// of |lambda| (the usual normalisation). Queries whose labels are all equal contribute nothing.
//
// Placement: a query's rows must be on one rank (its gradients need them all). partitionQueries
// assigns whole queries to ranks by greedy multiway number partitioning (largest query first to
// the least-loaded rank; ties to the lower rank), as KunPeng does; readRankData applies it by
// having every rank parse the files and keep its queries (parse cost x size, memory of one
// rank's share). The approximate mode ('reader') lets lib/data/libsvm.ts split the files by
// bytes, keeping each query whole on the rank where it starts: no extra parsing, less balance.
// Either way the trees equal the single-process ones: per-row gradients do not depend on the
// placement and MART's histogram sums are exact (algorithms/mart/tree.ts).
import type { Collective } from '../common/collective.js';
import { checkNotEmpty, type CsrData } from '../common/dataset.js';
import { readLibsvm, type ReadOptions } from '../../lib/data/libsvm.js';
import { train, type Metrics, type TrainResult, type TrainOptions } from '../mart/index.js';
import type { MartParams } from '../mart/params.js';

/** Rows with their query grouping: query q is rows [groups[q], groups[q+1]). */
export interface RankData extends CsrData {
  qids: Uint32Array | null;
  /** Query boundaries (length queries + 1). */
  groups: Uint32Array;
  /** Index of each row in the concatenated input files (for seeded row subsampling). */
  rowIds?: Uint32Array;
}

export const LABEL_MAX = 31;

/** Query boundaries from per-row qids (a query is a run of equal qids). @throws {RangeError} without qids. */
export function queryBoundaries(qids: Uint32Array | null, numRows: number, source = 'data'): Uint32Array {
  if (!qids) throw new RangeError(`lambdamart: ${source} has no queries (no qid: fields and no .query file; pass --query FILE)`);
  const out: number[] = [0];
  for (let i = 1; i < numRows; i++) if (qids[i] !== qids[i - 1]) out.push(i);
  if (numRows > 0) out.push(numRows);
  return Uint32Array.from(out);
}

/** Checks relevance labels are integers in [0, 31]. @throws {RangeError} naming the first bad row. */
export function checkLabels(labels: Float32Array, source = 'data'): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y <= LABEL_MAX)) {
      throw new RangeError(`lambdamart: ${source} row ${i + 1}: relevance label ${y} is not an integer in [0, ${LABEL_MAX}]`);
    }
  }
}

/** Owner rank of each query: greedy multiway partitioning of `sizes` over `size` ranks. */
export function partitionQueries(sizes: ArrayLike<number>, size: number): Int32Array {
  const order = Array.from({ length: sizes.length }, (_, i) => i).sort((a, b) => sizes[b]! - sizes[a]! || a - b);
  const load = new Float64Array(size);
  const owner = new Int32Array(sizes.length);
  for (const q of order) {
    let r = 0;
    for (let k = 1; k < size; k++) if (load[k]! < load[r]!) r = k;
    owner[q] = r;
    load[r] = load[r]! + sizes[q]!;
  }
  return owner;
}

function discount(pos: number): number {
  return 1 / Math.log2(2 + pos);
}

/** DCG@k of `labels` in the order `order` (gain 2^rel - 1). */
function dcgAt(order: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < Math.min(k, order.length); i++) s += (2 ** labels[order[i]!]! - 1) * discount(i);
  return s;
}

function sortedByScore(scores: ArrayLike<number>, lo: number, hi: number): number[] {
  const idx = Array.from({ length: hi - lo }, (_, i) => lo + i);
  // Descending score; ties by row order (deterministic).
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return idx;
}

function idealDcg(labels: ArrayLike<number>, lo: number, hi: number, k: number): number {
  const rel = Array.from({ length: hi - lo }, (_, i) => labels[lo + i]!).sort((a, b) => b - a);
  let s = 0;
  for (let i = 0; i < Math.min(k, rel.length); i++) s += (2 ** rel[i]! - 1) * discount(i);
  return s;
}

/** A gradients(margins, grad, hess) function for MART over the queries `groups` of these rows. */
export function lambdaGradients(
  labels: Float32Array,
  groups: Uint32Array,
  k: number,
  truncation = k,
): (margins: Float64Array, grad: Float64Array, hess: Float64Array) => void {
  const invMax = new Float64Array(groups.length - 1);
  for (let q = 0; q + 1 < groups.length; q++) {
    const m = idealDcg(labels, groups[q]!, groups[q + 1]!, k);
    invMax[q] = m > 0 ? 1 / m : 0;
  }
  return (s, grad, hess) => {
    grad.fill(0);
    hess.fill(0);
    for (let q = 0; q + 1 < groups.length; q++) {
      const lo = groups[q]!;
      const hi = groups[q + 1]!;
      if (invMax[q] === 0 || hi - lo < 2) continue;
      const order = sortedByScore(s, lo, hi);
      const best = s[order[0]!]!;
      const worst = s[order[order.length - 1]!]!;
      let sumLambda = 0;
      for (let i = 0; i < Math.min(truncation, order.length - 1); i++) {
        const a = order[i]!;
        for (let j = i + 1; j < order.length; j++) {
          const b = order[j]!;
          if (labels[a] === labels[b]) continue;
          const [high, low, hiPos, loPos] = labels[a]! > labels[b]! ? [a, b, i, j] : [b, a, j, i];
          const ds = s[high]! - s[low]!;
          let delta = Math.abs(2 ** labels[high]! - 2 ** labels[low]!) * Math.abs(discount(hiPos) - discount(loPos)) * invMax[q]!;
          if (best !== worst) delta /= 0.01 + Math.abs(ds);
          const rho = 1 / (1 + Math.exp(ds));
          const lam = rho * delta;
          const h = rho * (1 - rho) * delta;
          grad[high] = grad[high]! - lam;
          grad[low] = grad[low]! + lam;
          hess[high] = hess[high]! + h;
          hess[low] = hess[low]! + h;
          sumLambda += 2 * lam;
        }
      }
      if (sumLambda > 0) {
        const f = Math.log2(1 + sumLambda) / sumLambda;
        for (let r = lo; r < hi; r++) {
          grad[r] = grad[r]! * f;
          hess[r] = hess[r]! * f;
        }
      }
    }
  };
}

/** Sum of NDCG@k over the local queries for each k, and the query count (queries without relevant rows count as 1). */
export function ndcgSums(scores: ArrayLike<number>, labels: ArrayLike<number>, groups: Uint32Array, ks: readonly number[]): { sums: number[]; count: number } {
  const sums = ks.map(() => 0);
  let count = 0;
  for (let q = 0; q + 1 < groups.length; q++) {
    const lo = groups[q]!;
    const hi = groups[q + 1]!;
    if (hi <= lo) continue;
    count++;
    const order = sortedByScore(scores, lo, hi);
    ks.forEach((k, i) => {
      const ideal = idealDcg(labels, lo, hi, k);
      sums[i] = sums[i]! + (ideal > 0 ? dcgAt(order, labels, k) / ideal : 1);
    });
  }
  return { sums, count };
}

/** NDCG@k (mean over every rank's queries) for each k; keys 'ndcg@K'. */
export async function ndcg(comm: Collective, scores: ArrayLike<number>, labels: ArrayLike<number>, groups: Uint32Array, ks: readonly number[] = [1, 3, 5, 10]): Promise<Metrics> {
  const { sums, count } = ndcgSums(scores, labels, groups, ks);
  const buf = new Float64Array([...sums, count]);
  await comm.allReduce(buf, { op: 'sum' });
  const out: Metrics = {};
  ks.forEach((k, i) => (out[`ndcg@${k}`] = buf[ks.length]! > 0 ? buf[i]! / buf[ks.length]! : Number.NaN));
  return out;
}

/** The rows of queries `keep` (ascending query indices) of `data`, as a new RankData. */
export function selectQueries(data: CsrData & { qids: Uint32Array | null }, groups: Uint32Array, keep: readonly number[]): RankData {
  let rowsN = 0;
  let nnz = 0;
  for (const q of keep) {
    rowsN += groups[q + 1]! - groups[q]!;
    nnz += data.rowPtr[groups[q + 1]!]! - data.rowPtr[groups[q]!]!;
  }
  const rowPtr = new Uint32Array(rowsN + 1);
  const featureIds = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  const labels = new Float32Array(rowsN);
  const weights = data.weights ? new Float32Array(rowsN) : null;
  const qids = data.qids ? new Uint32Array(rowsN) : null;
  const rowIds = new Uint32Array(rowsN);
  const outGroups = new Uint32Array(keep.length + 1);
  let r = 0;
  let k = 0;
  let maxFeatureId = 0;
  keep.forEach((q, qi) => {
    for (let src = groups[q]!; src < groups[q + 1]!; src++) {
      for (let e = data.rowPtr[src]!; e < data.rowPtr[src + 1]!; e++) {
        featureIds[k] = data.featureIds[e]!;
        values[k++] = data.values[e]!;
        maxFeatureId = Math.max(maxFeatureId, data.featureIds[e]!);
      }
      labels[r] = data.labels[src]!;
      if (weights) weights[r] = data.weights![src]!;
      if (qids) qids[r] = data.qids![src]!;
      rowIds[r++] = src;
      rowPtr[r] = k;
    }
    outGroups[qi + 1] = r;
  });
  return { numRows: rowsN, rowPtr, featureIds, values, labels, weights, qids, groups: outGroups, rowIds, maxFeatureId };
}

/**
 * Reads ranking data for this rank. 'greedy' (default): every rank parses the whole input and
 * keeps the queries partitionQueries gives it; 'reader': lib/data's byte split (queries kept
 * whole, approximate balance). Labels are checked (integers 0..31).
 * @throws {RangeError} for bad labels or missing queries; DataError for malformed files.
 */
export async function readRankData(
  paths: string | string[],
  comm: { rank: number; size: number },
  options: { queryFile?: string | false; weightFile?: string | false; mode?: 'greedy' | 'reader'; maxFeatures?: number; maxFeaturesHint?: string } = {},
): Promise<RankData> {
  const ro: ReadOptions = {};
  if (options.maxFeatures !== undefined) ro.maxFeatures = options.maxFeatures;
  if (options.maxFeaturesHint !== undefined) ro.maxFeaturesHint = options.maxFeaturesHint;
  if (options.queryFile !== undefined) ro.queryFile = options.queryFile;
  if (options.weightFile !== undefined) ro.weightFile = options.weightFile;
  const name = Array.isArray(paths) ? paths.join(',') : paths;
  if ((options.mode ?? 'greedy') === 'reader') {
    const d = await readLibsvm(paths, { ...ro, rank: comm.rank, size: comm.size });
    checkLabels(d.labels, name);
    // A rank's share may be empty (small files, many ranks): no rows, no queries.
    const groups = d.numRows === 0 ? new Uint32Array([0]) : queryBoundaries(d.qids, d.numRows, name);
    return { ...d, maxFeatureId: Math.max(0, d.maxFeatureId), groups };
  }
  const all = await readLibsvm(paths, ro);
  checkNotEmpty('lambdamart', all.numRows, Array.isArray(paths) ? paths : [paths], all.skippedLines);
  checkLabels(all.labels, name);
  const groups = queryBoundaries(all.qids, all.numRows, name);
  const sizes = Array.from({ length: groups.length - 1 }, (_, q) => groups[q + 1]! - groups[q]!);
  const owner = partitionQueries(sizes, comm.size);
  const keep: number[] = [];
  owner.forEach((r, q) => r === comm.rank && keep.push(q));
  return selectQueries({ ...all, maxFeatureId: Math.max(0, all.maxFeatureId) }, groups, keep);
}

/**
 * Trains LambdaMART: MART with lambda gradients of NDCG@k (params.ndcgK, default 10) on this
 * rank's queries. `test` (this rank's test queries) gives NDCG@1/3/5/10 per round; early
 * stopping watches ndcg@k.
 * @example
 * const tr = await readRankData('rank.train', comm);
 * const te = await readRankData('rank.test', comm);
 * const { model, testMetrics } = await trainLambdaMart(comm, tr, { rounds: 100, maxDepth: 6, eta: 0.1 }, { test: te });
 */
export async function trainLambdaMart(
  comm: Collective,
  data: RankData,
  params: Partial<MartParams> = {},
  options: Omit<TrainOptions, 'test' | 'gradients' | 'evaluate' | 'metric' | 'rowIds'> & { test?: RankData | null; truncation?: number } = {},
): Promise<TrainResult> {
  checkLabels(data.labels);
  const k = params.ndcgK ?? 10;
  const test = options.test ?? null;
  const ks = [...new Set([1, 3, 5, 10, k])].sort((a, b) => a - b);
  const opts: TrainOptions = {
    ...options,
    label: options.label ?? 'lambdamart',
    test,
    gradients: lambdaGradients(data.labels, data.groups, k, options.truncation ?? k),
    metric: { name: `ndcg@${k}`, maximize: true },
  };
  if (data.rowIds) opts.rowIds = data.rowIds;
  if (test) opts.evaluate = (m) => ndcg(comm, m, test.labels, test.groups, ks);
  return train(comm, data, { ...params, objective: 'rank:ndcg' }, opts);
}
