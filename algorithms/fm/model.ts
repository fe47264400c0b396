// Saved FM models: the shared sparse-model file (ftrl/model.ts) with rows of dim k + 1
// ([w_i, v_i1..v_ik]) and a header holding w0, the factors, the task and the label mapping.
import type { CsrMatrix } from '../../lib/data/csr.js';
import { sigmoid } from '../../lib/sigmoid.js';
import { readSparseModel, type ModelHeader } from '../ps_trainer/sparse_model.js';
import { fmScore } from './fm.js';

export interface FmModel {
  header: ModelHeader;
  task: 'regression' | 'binary';
  factors: number;
  w0: number;
  hashBits: number;
  labelOffset: number;
  labelMin: number;
  labelMax: number;
  /** feature id -> row index in `params`. */
  index: Map<number, number>;
  params: Float32Array;
}

/** Loads an FM model file (algorithm 'fm'). */
export async function loadFmModel(path: string): Promise<FmModel> {
  const { header, rows } = await readSparseModel(path);
  if (header.algorithm !== 'fm') throw new Error(`${path}: algorithm is ${String(header.algorithm)}, expected 'fm'`);
  const index = new Map<number, number>();
  for (let i = 0; i < rows.featureIds.length; i++) index.set(rows.featureIds[i]!, i);
  return {
    header,
    task: header['task'] === 'binary' ? 'binary' : 'regression',
    factors: rows.dim - 1,
    w0: Number(header['w0'] ?? 0),
    hashBits: Number(header['hashBits'] ?? 0),
    labelOffset: Number(header['labelOffset'] ?? 0),
    labelMin: Number(header['labelMin'] ?? -Infinity),
    labelMax: Number(header['labelMax'] ?? Infinity),
    index,
    params: rows.values,
  };
}

/**
 * Predictions of an FM model: clipped ratings (regression) or probabilities (binary). Features
 * the model has not seen count as zero parameters. Read rows with the model's hashBits.
 */
export function predictFm(model: FmModel, data: CsrMatrix): Float64Array {
  const k = model.factors;
  const stride = k + 1;
  // Unseen features point at an all-zero row appended after the model's rows.
  const params = new Float32Array(model.params.length + stride);
  params.set(model.params);
  const zeroRow = model.params.length / stride;
  const nnz = data.rowPtr[data.numRows] ?? 0;
  const pos = new Int32Array(nnz);
  for (let e = 0; e < nnz; e++) pos[e] = model.index.get(data.featureIds[e]!) ?? zeroRow;
  const sums = new Float64Array(k);
  const out = new Float64Array(data.numRows);
  for (let r = 0; r < data.numRows; r++) {
    const s = fmScore(params, k, model.w0, pos, data.values, data.rowPtr[r]!, data.rowPtr[r + 1]!, sums);
    out[r] = model.task === 'binary' ? sigmoid(s) : Math.min(model.labelMax, Math.max(model.labelMin, s + model.labelOffset));
  }
  return out;
}
