// The keyed linear model file: what `shoal train lr --servers K` writes. The LR header of the
// dense format (algorithms/model.ts: format, version, algorithm 'lr', solver, bias, params,
// metrics) with `keyed: true`, and the weights by uint64 feature id instead of by index, so a
// model over a 2^64 id space takes 16 bytes per non-zero weight, never a dense vector.
//
//   { "format": "shoal-model", "version": 1, "algorithm": "lr", "keyed": true, "solver": ...,
//     "weights": null, "weightsFile": "model.keys.bin", "count": n, "numKeys": k, "bias": b, ... }
// The sidecar (relative to the JSON's directory) holds n little-endian uint64 keys, then their
// n float64 weights, nothing else; keys are distinct, in no particular order. Keys not in the
// file (features the training rows never had, or whose weight ended at 0) have weight 0.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { ShoalError } from '../lib/errors.js';
import { U64Index } from '../lib/ps/u64_index.js';
import { sigmoid } from '../lib/sigmoid.js';
import type { PredictRows } from './model.js';

/** A loaded keyed model (`shoal train lr --servers K`). */
export interface KeyedModel {
  algorithm: 'lr';
  keyed: true;
  solver: string;
  bias: number;
  /** Distinct keys the model was trained on (weights stored: keys.length, the non-zero ones). */
  numKeys: number;
  keys: BigUint64Array;
  weights: Float64Array;
  params: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  /** The weight of `key` (0 when the model does not hold it). */
  weight(key: bigint): number;
  /**
   * P(y = +1 | x) for every row. Rows read with readLibsvm's keyIds carry `keys` (featureIds
   * index them); otherwise a feature id is its key.
   */
  predict(rows: KeyedRows): Float64Array;
  margins(rows: KeyedRows): Float64Array;
}

/** Rows for a keyed model: with `keys`, featureIds are indices into it. */
export type KeyedRows = PredictRows & { keys?: BigUint64Array };

/** The sidecar's name next to the model JSON `path`. */
export function keyedSidecarName(path: string): string {
  return `${basename(path).replace(/\.json$/i, '')}.keys.bin`;
}

/** The JSON document of a keyed model (the sidecar is written by the caller). */
export function keyedModelDoc(path: string, header: { solver: string; bias: number; count: number; numKeys: number; params: Record<string, unknown>; metrics?: Record<string, unknown> }): Record<string, unknown> {
  return {
    format: 'shoal-model',
    version: 1,
    algorithm: 'lr',
    keyed: true,
    solver: header.solver,
    weights: null,
    weightsFile: keyedSidecarName(path),
    count: header.count,
    numKeys: header.numKeys,
    bias: header.bias,
    params: header.params,
    ...(header.metrics ? { metrics: header.metrics } : {}),
  };
}

/** Reads a keyed model whose JSON `doc` came from `path`; errors come from `bad` (naming the file). */
export async function readKeyedModel(path: string, doc: Record<string, unknown>, bad: (what: string) => Error): Promise<KeyedModel> {
  const count = doc.count;
  const numKeys = doc.numKeys;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw bad('"count" must be an integer >= 0');
  if (typeof numKeys !== 'number' || !Number.isSafeInteger(numKeys) || numKeys < count) throw bad('"numKeys" must be an integer >= count');
  if (typeof doc.weightsFile !== 'string') throw bad('a keyed model needs "weightsFile"');
  const [bin, buf] = await readWeightsFile(path, doc.weightsFile);
  if (buf.length !== count * 16) throw bad(`${bin} holds ${buf.length} bytes, expected count * 16 = ${count * 16}`);
  // Fresh, aligned copies (a Buffer may sit at any offset of a shared pool).
  const keys = new BigUint64Array(count);
  const weights = new Float64Array(count);
  new Uint8Array(keys.buffer).set(buf.subarray(0, count * 8));
  new Uint8Array(weights.buffer).set(buf.subarray(count * 8));
  const index = new U64Index(count);
  const words = new Uint32Array(keys.buffer);
  for (let i = 0; i < count; i++) {
    if (index.get(words[2 * i]!, words[2 * i + 1]!) >= 0) throw bad(`${bin} holds key ${keys[i]} twice`);
    index.add(words[2 * i]!, words[2 * i + 1]!, i);
  }
  const bias = typeof doc.bias === 'number' ? doc.bias : 0;
  const lookup = (lo: number, hi: number): number => {
    const at = index.get(lo, hi);
    return at < 0 ? 0 : weights[at]!;
  };
  const margins = (rows: KeyedRows): Float64Array => {
    const { rowPtr, featureIds, values } = rows;
    // With keys: one lookup per distinct key of the rows, then a plain dot product per row.
    let local: Float64Array | null = null;
    if (rows.keys) {
      const kw = new Uint32Array(rows.keys.buffer, rows.keys.byteOffset, 2 * rows.keys.length);
      local = new Float64Array(rows.keys.length);
      for (let j = 0; j < local.length; j++) local[j] = lookup(kw[2 * j]!, kw[2 * j + 1]!);
    }
    const out = new Float64Array(rows.numRows);
    for (let i = 0; i < rows.numRows; i++) {
      let z = bias;
      const end = rowPtr[i + 1]!;
      for (let k = rowPtr[i]!; k < end; k++) {
        const id = featureIds[k]!;
        let w: number;
        if (local) {
          if (id >= local.length) throw new RangeError(`predict: row ${i + 1} has local feature index ${id} but rows.keys holds ${local.length} keys`);
          w = local[id]!;
        } else {
          w = lookup(id >>> 0, 0);
        }
        z += w * values[k]!;
      }
      out[i] = z;
    }
    return out;
  };
  return {
    algorithm: 'lr',
    keyed: true,
    solver: typeof doc.solver === 'string' ? doc.solver : 'unknown',
    bias,
    numKeys,
    keys,
    weights,
    params: (doc.params ?? {}) as Record<string, unknown>,
    ...(doc.metrics && typeof doc.metrics === 'object' ? { metrics: doc.metrics as Record<string, unknown> } : {}),
    weight: (key: bigint) => lookup(Number(key & 0xffffffffn), Number((key >> 32n) & 0xffffffffn)),
    margins,
    predict(rows) {
      const z = margins(rows);
      for (let i = 0; i < z.length; i++) z[i] = sigmoid(z[i]!);
      return z;
    },
  };
}

/** A model's binary sidecar, named by `file` beside the model at `modelPath` (never elsewhere): [its path, its bytes]. */
export async function readWeightsFile(modelPath: string, file: string): Promise<[string, Buffer]> {
  const bin = join(dirname(modelPath), basename(file));
  try {
    return [bin, await readFile(bin)];
  } catch (err) {
    throw new ShoalError('ERR_IO', `cannot read model weights ${JSON.stringify(bin)}: ${(err as Error).message}`, { op: 'loadModel' });
  }
}
