// The FTRL model: a sparse model file (algorithms/ps_trainer/sparse_model.ts) of one weight per
// feature id, and its predictions.
import type { CsrMatrix } from '../../lib/data/csr.js';
import { linearScores } from './index.js';
import { sigmoid } from '../../lib/sigmoid.js';
import { readSparseModel, type ModelHeader } from '../ps_trainer/sparse_model.js';

/** A loaded FTRL model. */
export interface FtrlModel {
  header: ModelHeader;
  bias: number;
  hashBits: number;
  weights: Map<number, number>;
}

/** Loads an FTRL model file (algorithm 'ftrl'). */
export async function loadFtrlModel(path: string): Promise<FtrlModel> {
  const { header, rows } = await readSparseModel(path);
  if (header.algorithm !== 'ftrl') throw new Error(`${path}: algorithm is ${String(header.algorithm)}, expected 'ftrl'`);
  const weights = new Map<number, number>();
  for (let i = 0; i < rows.featureIds.length; i++) weights.set(rows.featureIds[i]!, rows.values[i]!);
  return { header, bias: Number(header['bias'] ?? 0), hashBits: Number(header['hashBits'] ?? 0), weights };
}

/**
 * Probabilities of rows under an FTRL model. The rows must be read with the model's hashBits
 * (`readLibsvm(file, { hashBits: model.hashBits || undefined })`).
 */
export function predictFtrl(model: FtrlModel, data: CsrMatrix): Float64Array {
  const m = linearScores(data, (id) => model.weights.get(id) ?? 0, model.bias);
  for (let i = 0; i < m.length; i++) m[i] = sigmoid(m[i]!);
  return m;
}
