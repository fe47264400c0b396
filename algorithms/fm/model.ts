// Saved FM models: the shared sparse-model file (ftrl/model.ts) with a header holding the
// factors, the task and the label mapping. Each feature's row holds `samples` parameter sets
// [w_i, v_i1..v_ik] one after another (dim = samples * (k + 1)); `w0Samples` the matching
// global biases. AdaGrad and ALS models hold one set (samples 1, `w0`); MCMC models hold the
// thinned Gibbs samples kept after burn-in, and a prediction is the average over them
// (Bayesian model averaging, as libFM): of the raw scores for regression (then clipped to the
// training label range), of the probabilities for binary tasks. `link` is 'logit' (AdaGrad)
// or 'probit' (ALS / MCMC, as libFM's binary tasks). Files without `samples` or `link` are
// AdaGrad models of earlier versions and read as samples 1, link logit.
import type { CsrMatrix } from '../../lib/data/csr.js';
import { sigmoid } from '../../lib/sigmoid.js';
import { readSparseModel, type ModelHeader } from '../ps_trainer/sparse_model.js';
import { normalCdf } from './coordinate_stream.js';
import { fmScore } from './fm.js';

export type FmLink = 'logit' | 'probit';

export interface FmModel {
  header: ModelHeader;
  task: 'regression' | 'binary';
  factors: number;
  /** Parameter sets per feature row; predictions average over them. */
  samples: number;
  /** w0 of each sample. */
  w0Samples: number[];
  /** w0 of the first sample (the only one for AdaGrad / ALS). */
  w0: number;
  link: FmLink;
  hashBits: number;
  labelOffset: number;
  labelMin: number;
  labelMax: number;
  /** feature id -> row index in `params`. */
  index: Map<number, number>;
  /** Row r at r * samples * (k + 1); sample s of it at + s * (k + 1). */
  params: Float32Array;
}

/** Loads an FM model file (algorithm 'fm'). */
export async function loadFmModel(path: string): Promise<FmModel> {
  const { header, rows } = await readSparseModel(path);
  if (header.algorithm !== 'fm') throw new Error(`${path}: algorithm is ${String(header.algorithm)}, expected 'fm'`);
  const samples = Number(header['samples'] ?? 1);
  if (!Number.isInteger(samples) || samples < 1 || rows.dim % samples !== 0 || rows.dim / samples < 2) throw new Error(`${path}: "samples" ${String(header['samples'])} does not divide the row width ${rows.dim} into sets of k + 1 >= 2`);
  const w0Samples = Array.isArray(header['w0Samples']) ? (header['w0Samples'] as unknown[]).map(Number) : [Number(header['w0'] ?? 0)];
  if (w0Samples.length !== samples) throw new Error(`${path}: "w0Samples" has ${w0Samples.length} values, expected samples = ${samples}`);
  const index = new Map<number, number>();
  for (let i = 0; i < rows.featureIds.length; i++) index.set(rows.featureIds[i]!, i);
  return {
    header,
    task: header['task'] === 'binary' ? 'binary' : 'regression',
    factors: rows.dim / samples - 1,
    samples,
    w0Samples,
    w0: w0Samples[0]!,
    link: header['link'] === 'probit' ? 'probit' : 'logit',
    hashBits: Number(header['hashBits'] ?? 0),
    labelOffset: Number(header['labelOffset'] ?? 0),
    labelMin: Number(header['labelMin'] ?? -Infinity),
    labelMax: Number(header['labelMax'] ?? Infinity),
    index,
    params: rows.values,
  };
}

/** How one sample's score becomes what is averaged, and the average a prediction. */
export interface FmOutput {
  task: 'regression' | 'binary';
  link: FmLink;
  labelOffset: number;
  labelMin: number;
  labelMax: number;
}

/**
 * Running average of per-sample predictions (MCMC model averaging; one sample for AdaGrad /
 * ALS): add() each sample's raw scores, predictions() the averaged, clipped outputs.
 */
export class FmPredictionAverage {
  /** The running sums and count; a caller may keep them elsewhere (a training state) and pass them in. */
  readonly storage: { sum: Float64Array; count: number };
  readonly #out: FmOutput;

  constructor(rows: number, out: FmOutput, storage?: { sum: Float64Array; count: number }) {
    if (storage && storage.sum.length !== rows) throw new RangeError(`FmPredictionAverage: storage holds ${storage.sum.length} sums, expected ${rows}`);
    this.storage = storage ?? { sum: new Float64Array(rows), count: 0 };
    this.#out = out;
  }

  get count(): number {
    return this.storage.count;
  }

  add(scores: ArrayLike<number>): void {
    const o = this.#out;
    const binary = o.task === 'binary';
    const probit = o.link === 'probit';
    const sum = this.storage.sum;
    for (let i = 0; i < sum.length; i++) {
      const s = scores[i]!;
      sum[i] = sum[i]! + (binary ? (probit ? normalCdf(s) : sigmoid(s)) : Math.min(o.labelMax, Math.max(o.labelMin, s + o.labelOffset)));
    }
    this.storage.count++;
  }

  /** Averaged predictions: ratings (regression) or probabilities (binary). */
  predictions(): Float64Array {
    const n = Math.max(1, this.storage.count);
    return this.storage.sum.map((s) => s / n);
  }
}

/**
 * Predictions of an FM model: clipped ratings (regression) or probabilities (binary), averaged
 * over the model's samples. Features the model has not seen count as zero parameters. Read
 * rows with the model's hashBits.
 */
export function predictFm(model: FmModel, data: CsrMatrix): Float64Array {
  const k = model.factors;
  const stride = k + 1;
  const width = model.samples * stride;
  const rowsOfModel = model.params.length / width;
  const nnz = data.rowPtr[data.numRows] ?? 0;
  const pos = new Int32Array(nnz);
  // Unseen features point at an all-zero row appended after the model's rows.
  for (let e = 0; e < nnz; e++) pos[e] = model.index.get(data.featureIds[e]!) ?? rowsOfModel;
  const params = new Float32Array((rowsOfModel + 1) * stride);
  const sums = new Float64Array(k);
  const scores = new Float64Array(data.numRows);
  const avg = new FmPredictionAverage(data.numRows, model);
  for (let s = 0; s < model.samples; s++) {
    for (let r = 0; r < rowsOfModel; r++) params.set(model.params.subarray(r * width + s * stride, r * width + (s + 1) * stride), r * stride);
    const w0 = model.w0Samples[s]!;
    for (let r = 0; r < data.numRows; r++) scores[r] = fmScore(params, k, w0, pos, data.values, data.rowPtr[r]!, data.rowPtr[r + 1]!, sums);
    avg.add(scores);
  }
  return avg.predictions();
}
