// Trained-model files: the JSON format `shoal train` writes and `shoal predict` and the SDK
// read (loadModel). This file owns the format; it does no training and reads no data sets.
//
// Format (version 1):
//   { "format": "shoal-model", "version": 1, "algorithm": "lr", "solver": "lbfgs",
//     "weights": [w_0, ..., w_{numFeatures-1}] | null, "weightsFile"?: "model.bin",
//     "bias": b, "numFeatures": n, "hashBits"?: B, "params": {...}, "metrics"?: {...} }
// hashBits (absent: 0) says the ids were hashed into [0, 2^B) by the reader; predict must too.
// weights[j] is the weight of feature id j exactly as ids appear in the data file (libsvm ids
// are 1-based, so weights[0] is unused and 0 there). Models with more than 1e5 weights keep
// them in a binary sidecar next to the JSON (`weightsFile`, relative to the JSON's directory):
// numFeatures little-endian float64 values, nothing else.
import { loadFmModel, predictFm } from './fm/model.js';
import { loadFtrlModel, predictFtrl } from './ftrl/model.js';
import { parseMartModel, predict as martPredict, predictMargins, type MartModel } from './mart/model.js';
import { readKeyedModel, readWeightsFile, type KeyedModel } from './keyed_model.js';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import type { CsrMatrix } from '../lib/data/csr.js';
import { ShoalError } from '../lib/errors.js';

export const MODEL_FORMAT = 'shoal-model';
const MART_FORMAT = 'shoal-mart';
export const MODEL_VERSION = 1;
/** Above this many weights the weights go to a binary sidecar. */
export const SIDECAR_THRESHOLD = 100_000;

/** The rows predict() needs (a CsrMatrix from readLibsvm is one). */
export type PredictRows = Pick<CsrMatrix, 'numRows' | 'rowPtr' | 'featureIds' | 'values'>;

/** What the JSON holds besides the weights. */
export interface ModelHeader {
  algorithm: 'lr';
  solver: string;
  bias: number;
  numFeatures: number;
  /** Rows must be read with these hash bits (0 or absent: ids as in the file). */
  hashBits?: number;
  params: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/** A loaded model. */
export interface Model extends ModelHeader {
  /** Weight of feature id j at index j; length numFeatures. */
  weights: Float64Array;
  /**
   * P(y = +1 | x) for every row.
   * @throws {RangeError} ERR_INVALID_ARGUMENT when a row has a feature id >= numFeatures.
   */
  predict(rows: PredictRows): Float64Array;
  /** The raw margins w.x + bias. */
  margins(rows: PredictRows): Float64Array;
}

/** A loaded tree ensemble (shoal train mart / lambdamart). */
export interface TreeModel {
  algorithm: 'mart' | 'lambdamart';
  numFeatures: number;
  objective: string;
  /** Probabilities for binary:logistic, scores otherwise. */
  predict(rows: PredictRows): Float64Array;
  margins(rows: PredictRows): Float64Array;
}

/** A model trained through the parameter server (shoal train ftrl / fm). */
export interface PsModel {
  algorithm: 'ftrl' | 'fm';
  /** Rows must be read with these hash bits (0: ids as in the file). */
  hashBits: number;
  /** Probabilities (FTRL, binary FM) or predicted values (regression FM). */
  predict(rows: PredictRows): Float64Array;
}

/** What loadModel returns: every kind has predict(). A KeyedModel (`keyed: true`) is LR by uint64 key (keyed_model.ts). */
export type LoadedModel = Model | KeyedModel | TreeModel | PsModel;

/**
 * Writes a linear model as JSON (+ `.bin` sidecar above SIDECAR_THRESHOLD weights).
 * @throws {ShoalError} ERR_IO when the file cannot be written.
 */
export async function saveLinearModel(path: string, header: ModelHeader, weights: Float64Array): Promise<void> {
  const sidecar = weights.length > SIDECAR_THRESHOLD;
  const binName = `${basename(path).replace(/\.json$/i, '')}.bin`;
  const doc = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    algorithm: header.algorithm,
    solver: header.solver,
    weights: sidecar ? null : Array.from(weights),
    ...(sidecar ? { weightsFile: binName } : {}),
    bias: header.bias,
    numFeatures: header.numFeatures,
    ...(header.hashBits ? { hashBits: header.hashBits } : {}),
    params: header.params,
    ...(header.metrics ? { metrics: header.metrics } : {}),
  };
  try {
    if (sidecar) {
      const buf = Buffer.alloc(weights.length * 8);
      for (let j = 0; j < weights.length; j++) buf.writeDoubleLE(weights[j]!, j * 8);
      await writeFile(join(dirname(path), binName), buf);
    }
    await writeFile(path, JSON.stringify(doc) + '\n');
  } catch (err) {
    throw new ShoalError('ERR_IO', `cannot write model ${JSON.stringify(path)}: ${(err as Error).message}`, { op: 'saveModel' });
  }
}

function bad(path: string, what: string): ShoalError {
  return new ShoalError('ERR_INVALID_ARGUMENT', `${path}: not a valid shoal model: ${what}`, { op: 'loadModel' });
}

/**
 * Reads a model written by `shoal train` (or saveLinearModel).
 * @throws {ShoalError} ERR_IO when the file (or its sidecar) cannot be read; ERR_INVALID_ARGUMENT
 *   when it is not a shoal model of a supported version.
 * @example
 *   const model = await loadModel('model.json');
 *   const probs = model.predict(await readLibsvm('a9a.t'));
 */
export async function loadModel(path: string): Promise<LoadedModel> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ShoalError('ERR_IO', `cannot read model ${JSON.stringify(path)}: ${(err as Error).message}`, { op: 'loadModel' });
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw bad(path, `invalid JSON (${(err as Error).message})`);
  }
  if (doc !== null && typeof doc === 'object' && doc.format === MART_FORMAT) {
    let m: MartModel;
    try {
      m = parseMartModel(doc, path);
    } catch (err) {
      throw bad(path, (err as Error).message);
    }
    return {
      algorithm: m.objective.startsWith('rank') ? 'lambdamart' : 'mart',
      numFeatures: m.numFeatures,
      objective: m.objective,
      predict: (rows: PredictRows) => martPredict(m, rows),
      margins: (rows: PredictRows) => predictMargins(m, rows),
    };
  }
  if (doc === null || typeof doc !== 'object' || doc.format !== MODEL_FORMAT) throw bad(path, `"format" is not "${MODEL_FORMAT}" or "${MART_FORMAT}"`);
  if (doc.version !== MODEL_VERSION) throw bad(path, `unsupported version ${JSON.stringify(doc.version)} (this build reads ${MODEL_VERSION})`);
  if (doc.algorithm === 'ftrl') {
    const m = await loadFtrlModel(path);
    // The scorers read only the CSR arrays of PredictRows.
    return { algorithm: 'ftrl', hashBits: m.hashBits, predict: (rows: PredictRows) => predictFtrl(m, rows as CsrMatrix) };
  }
  if (doc.algorithm === 'fm') {
    const m = await loadFmModel(path);
    return { algorithm: 'fm', hashBits: m.hashBits, predict: (rows: PredictRows) => predictFm(m, rows as CsrMatrix) };
  }
  if (doc.algorithm !== 'lr') throw bad(path, `unsupported algorithm ${JSON.stringify(doc.algorithm)}`);
  if (doc.keyed === true) return readKeyedModel(path, doc, (what) => bad(path, what));
  const numFeatures = doc.numFeatures;
  if (typeof numFeatures !== 'number' || !Number.isSafeInteger(numFeatures) || numFeatures < 0) throw bad(path, '"numFeatures" must be an integer >= 0');
  const bias = typeof doc.bias === 'number' ? doc.bias : 0;
  const hashBits = doc.hashBits ?? 0;
  if (typeof hashBits !== 'number' || !Number.isInteger(hashBits) || hashBits < 0 || hashBits > 32) throw bad(path, '"hashBits" must be an integer in [0, 32]');
  let weights: Float64Array;
  if (Array.isArray(doc.weights)) {
    if (doc.weights.length !== numFeatures || !doc.weights.every((v) => typeof v === 'number')) throw bad(path, `"weights" must hold numFeatures = ${numFeatures} numbers`);
    weights = Float64Array.from(doc.weights as number[]);
  } else if (typeof doc.weightsFile === 'string') {
    const [bin, buf] = await readWeightsFile(path, doc.weightsFile);
    if (buf.length !== numFeatures * 8) throw bad(path, `${bin} holds ${buf.length} bytes, expected numFeatures * 8 = ${numFeatures * 8}`);
    weights = new Float64Array(numFeatures);
    for (let j = 0; j < numFeatures; j++) weights[j] = buf.readDoubleLE(j * 8);
  } else {
    throw bad(path, 'neither "weights" nor "weightsFile"');
  }
  const header: ModelHeader = {
    algorithm: 'lr',
    solver: typeof doc.solver === 'string' ? doc.solver : 'unknown',
    bias,
    numFeatures,
    hashBits,
    params: (doc.params ?? {}) as Record<string, unknown>,
  };
  if (doc.metrics && typeof doc.metrics === 'object') header.metrics = doc.metrics as Record<string, unknown>;
  const margins = (rows: PredictRows): Float64Array => {
    const out = new Float64Array(rows.numRows);
    const { rowPtr, featureIds, values } = rows;
    for (let i = 0; i < rows.numRows; i++) {
      let z = bias;
      const end = rowPtr[i + 1]!;
      for (let k = rowPtr[i]!; k < end; k++) {
        const id = featureIds[k]!;
        if (id >= numFeatures) {
          const err = new RangeError(`predict: row ${i + 1} has feature id ${id} but the model has numFeatures ${numFeatures} (ids 0..${numFeatures - 1})`);
          (err as RangeError & { code: string }).code = 'ERR_INVALID_ARGUMENT';
          throw err;
        }
        z += weights[id]! * values[k]!;
      }
      out[i] = z;
    }
    return out;
  };
  return {
    ...header,
    weights,
    margins,
    predict(rows: PredictRows) {
      const z = margins(rows);
      for (let i = 0; i < z.length; i++) {
        const v = z[i]!;
        z[i] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
      }
      return z;
    },
  };
}
