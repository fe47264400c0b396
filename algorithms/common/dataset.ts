// The in-memory data the bundled trainers consume: a rank's rows in CSR form. `CsrData` is the
// subset of lib/data/csr.ts's `CsrMatrix` the algorithms read (a CsrMatrix is a CsrData), so
// trainers run on anything shaped like it: the libsvm reader's shard, or rows built in memory
// by tests (csrFromRows; test/helpers/synthetic.ts). Feature ids are kept as in the file (libsvm is
// 1-based): a weight vector is indexed by feature id and slot 0 simply stays unused.
// This file reads no files; lib/data owns parsing.
import type { CsrMatrix } from '../../lib/data/csr.js';
import { ShoalError } from '../../lib/errors.js';
import type { Collective } from './collective.js';

/**
 * One rank's rows: lib/data/csr.ts's CsrMatrix without the query ids (which only lambdamart
 * reads), so rows built in memory need not invent them. One definition, so the two cannot drift.
 * Rows built here by csrFromRows have maxFeatureId 0 when there are no entries.
 */
export type CsrData = Pick<CsrMatrix, 'numRows' | 'rowPtr' | 'featureIds' | 'values' | 'labels' | 'weights' | 'maxFeatureId'>;

/** A row for csrFromRows: label and [featureId, value] pairs. */
export interface Row {
  label: number;
  features: ReadonlyArray<readonly [number, number]>;
  weight?: number;
}

/** Builds a CsrData from rows (tests, examples). Weights are kept only if some row has one. */
export function csrFromRows(rows: readonly Row[]): CsrData {
  let nnz = 0;
  for (const r of rows) nnz += r.features.length;
  const rowPtr = new Uint32Array(rows.length + 1);
  const featureIds = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  const labels = new Float32Array(rows.length);
  const hasWeights = rows.some((r) => r.weight !== undefined);
  const weights = hasWeights ? new Float32Array(rows.length) : null;
  let k = 0;
  let maxFeatureId = 0;
  rows.forEach((r, i) => {
    labels[i] = r.label;
    if (weights) weights[i] = r.weight ?? 1;
    for (const [id, v] of r.features) {
      featureIds[k] = id;
      values[k] = v;
      if (id > maxFeatureId) maxFeatureId = id;
      k++;
    }
    rowPtr[i + 1] = k;
  });
  return { numRows: rows.length, rowPtr, featureIds, values, labels, weights, maxFeatureId };
}

/** Rows [begin, end) of `data` as a new CsrData (copies). */
export function sliceRows(data: CsrData, begin: number, end: number): CsrData {
  const lo = data.rowPtr[begin] ?? 0;
  const hi = data.rowPtr[end] ?? lo;
  const rowPtr = new Uint32Array(end - begin + 1);
  for (let i = begin; i <= end; i++) rowPtr[i - begin] = (data.rowPtr[i] ?? hi) - lo;
  const featureIds = data.featureIds.slice(lo, hi);
  let maxFeatureId = 0;
  for (let k = 0; k < featureIds.length; k++) if (featureIds[k]! > maxFeatureId) maxFeatureId = featureIds[k]!;
  return {
    numRows: end - begin,
    rowPtr,
    featureIds,
    values: data.values.slice(lo, hi),
    labels: data.labels.slice(begin, end),
    weights: data.weights ? data.weights.slice(begin, end) : null,
    maxFeatureId,
  };
}

/** Rank `rank`'s contiguous share of `data` out of `size` (the first numRows % size ranks get one more row). */
export function shardRows(data: CsrData, rank: number, size: number): CsrData {
  const base = Math.floor(data.numRows / size);
  const extra = data.numRows % size;
  const begin = rank * base + Math.min(rank, extra);
  return sliceRows(data, begin, begin + base + (rank < extra ? 1 : 0));
}

/**
 * Default bound on the feature slots (largest id + 1) of the dense trainers: 2^24 ids, i.e.
 * 128 MiB per float64 vector (64 MiB per float32 one). L-BFGS keeps 2m such history vectors
 * and a few more (m = 10: roughly 3 GiB); a larger id space wants hashing or a sharded model.
 */
export const DEFAULT_MAX_FEATURES = 2 ** 24;

/**
 * What to do about an id beyond `maxFeatures`, for the reader's error (readLibsvm's
 * maxFeaturesHint) and checkDenseFeatures. `hashFlag`: the trainer has --hash-bits.
 */
export function denseLimitHint(maxFeatures: number, hashFlag: boolean): string {
  const mib = (maxFeatures * 8) / 2 ** 20;
  return (
    `a dense model holds one weight per id up to the largest, and --max-features allows ${maxFeatures} ids ` +
    `(${mib >= 1 ? mib.toFixed(0) : mib.toFixed(3)} MiB per float64 vector; default 2^24); ` +
    (hashFlag ? 'hash the ids into fewer slots with --hash-bits B (e.g. --hash-bits 20), ' : 'renumber the ids densely, ') +
    'raise --max-features if the memory is there, or train the sharded model (shoal train lr --solver lbfgs|owlqn --servers K: ids up to 2^64-1, no dense vector)'
  );
}

/**
 * Refuses a dense model of `numFeatures` slots above `maxFeatures`, before anything is allocated.
 * @throws {ShoalError} ERR_INVALID_ARGUMENT naming the slots and the limit.
 */
export function checkDenseFeatures(who: string, numFeatures: number, maxFeatures = DEFAULT_MAX_FEATURES, hashFlag = false): void {
  if (numFeatures > maxFeatures) {
    throw new ShoalError('ERR_INVALID_ARGUMENT', `${who}: the largest feature id is ${numFeatures - 1}, so a dense model needs ${numFeatures} slots; ${denseLimitHint(maxFeatures, hashFlag)}`, { op: who });
  }
}

/**
 * Refuses to train on no rows at all (every rank's share empty), which would otherwise give
 * an empty model and exit 0.
 * @throws {ShoalError} ERR_INVALID_ARGUMENT naming the files.
 */
export function checkNotEmpty(who: string, rows: number, files: readonly string[], skippedLines = 0): void {
  if (rows > 0) return;
  const skipped = skippedLines > 0 ? `; ${skippedLines} malformed lines were skipped (--skip-bad-lines)` : '';
  throw new ShoalError('ERR_INVALID_ARGUMENT', `${who}: no rows in ${files.join(', ')}: the data is empty or only blank and comment lines${skipped}`, { op: who });
}

/** Global number of feature slots: allReduce-max of maxFeatureId + 1 over the given shards of every rank. */
export async function globalNumFeatures(comm: Collective, ...shards: Array<CsrData | null | undefined>): Promise<number> {
  let local = 0;
  for (const s of shards) if (s) local = Math.max(local, s.maxFeatureId + 1);
  // Float64: ids reach 2^32 - 1, beyond an Int32.
  const buf = new Float64Array([local]);
  await comm.allReduce(buf, { op: 'max' });
  return buf[0]!;
}

/** Global row and nonzero counts. */
export async function globalCounts(comm: Collective, data: CsrData): Promise<{ rows: number; nnz: number }> {
  const buf = new Float64Array([data.numRows, data.rowPtr[data.numRows] ?? 0]);
  await comm.allReduce(buf, { op: 'sum' });
  return { rows: buf[0]!, nnz: buf[1]! };
}

/**
 * Minibatch passes in lockstep (the PS trainers): every rank runs `steps` minibatches per epoch,
 * the most any rank needs for its rows; `rows` is the total over ranks.
 * @throws {ShoalError} ERR_INVALID_ARGUMENT on every rank when no rank has a row.
 */
export async function globalMinibatches(comm: Collective, numRows: number, batch: number): Promise<{ steps: number; rows: number }> {
  const steps = new Int32Array([Math.ceil(numRows / batch)]);
  await comm.allReduce(steps, { op: 'max' });
  const rows = new Float64Array([numRows]);
  await comm.allReduce(rows, { op: 'sum' });
  if (rows[0] === 0) {
    throw new ShoalError('ERR_INVALID_ARGUMENT', "no training rows: every rank's share of the data is empty (an empty file, or only blank and comment lines)", { op: 'train' });
  }
  return { steps: steps[0]!, rows: rows[0]! };
}
