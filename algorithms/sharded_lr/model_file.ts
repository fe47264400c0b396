// Writes the keyed model file (algorithms/keyed_model.ts) of a sharded run, collective: no
// process ever holds a vector over the id space, nor the whole model. Every key occurs in some
// rank's rows; a sparse reduce-scatter gives each key one owner rank (its hash range), each
// owner pulls its keys' final weights (slot X) from the servers and keeps the non-zero ones,
// and the owners' pieces go to rank 0 in chunks, which writes them at their offsets in the
// sidecar. Cost: one sparse reduce-scatter of the ranks' keys, one pull of each key, and
// 16 bytes per non-zero weight broadcast from its owner (rank 0's memory: one chunk).
import { open, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { ShoalError } from '../../lib/errors.js';
import type { Collective } from '../common/collective.js';
import { keyedModelDoc, keyedSidecarName } from '../keyed_model.js';
import { BIAS_KEY, type ShardedVectors } from './sharded_vectors.js';

/** Keys (and bias) per pull and per broadcast chunk: 16 MiB of keys and weights. */
const CHUNK = 1 << 20;

/** What writing the model needs beyond Collective: the Communicator's sparse reduce-scatter. */
export interface KeyOwnership {
  sparseReduceScatter?(keys: BigUint64Array, values: Float32Array, options?: { dim?: number }): Promise<{ keys: BigUint64Array; values: Float32Array }>;
}

export interface KeyedModelHeader {
  solver: string;
  params: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/** This rank's share of the model's keys: over the ranks, every key of every rank's rows once. */
async function ownedKeys(comm: Collective & KeyOwnership, keys: BigUint64Array): Promise<BigUint64Array> {
  if (comm.size === 1) return keys;
  if (!comm.sparseReduceScatter) throw new ShoalError('ERR_INVALID_ARGUMENT', 'lr --servers --model-out: the communicator has no sparseReduceScatter', { rank: comm.rank });
  return (await comm.sparseReduceScatter(keys, new Float32Array(keys.length), { dim: 1 })).keys;
}

/** The non-zero weights (slot X, the final iterate) of `keys`, with their keys. */
async function nonZeroWeights(vectors: ShardedVectors, keys: BigUint64Array): Promise<{ keys: BigUint64Array; weights: Float64Array }> {
  const outKeys = new BigUint64Array(keys.length);
  const outWeights = new Float64Array(keys.length);
  const w = new Float64Array(Math.min(CHUNK, keys.length));
  let n = 0;
  for (let at = 0; at < keys.length; at += CHUNK) {
    const part = keys.subarray(at, Math.min(keys.length, at + CHUNK));
    // A vector table answers one float64 per key as 2 floats.
    await vectors.w.pull(part, new Float32Array(w.buffer, 0, 2 * part.length));
    for (let i = 0; i < part.length; i++) {
      if (w[i] !== 0) {
        outKeys[n] = part[i]!;
        outWeights[n++] = w[i]!;
      }
    }
  }
  return { keys: outKeys.subarray(0, n), weights: outWeights.subarray(0, n) };
}

/**
 * Collective over `comm` (every rank passes its rows' keys): rank 0 writes `path` and its
 * sidecar (temporary names, then renamed: a reader never sees half a model). Returns the
 * number of non-zero weights written.
 */
export async function writeShardedModel(comm: Collective & KeyOwnership, vectors: ShardedVectors, keys: BigUint64Array, path: string, header: KeyedModelHeader): Promise<number> {
  const owned = await ownedKeys(comm, keys);
  const mine = await nonZeroWeights(vectors, owned);
  const counts = new Float64Array(comm.size);
  counts[comm.rank] = mine.keys.length;
  const numKeys = new Float64Array([owned.length]);
  await comm.allReduce(counts, { op: 'sum' });
  await comm.allReduce(numKeys, { op: 'sum' });
  const total = counts.reduce((a, b) => a + b, 0);
  const bin = join(dirname(path), keyedSidecarName(path));
  const tmp = `${bin}.tmp-${process.pid}`;
  const file = comm.rank === 0 ? await open(tmp, 'w') : null;
  let failed: unknown = null;
  try {
    const keyBytes = new Uint8Array(8 * Math.min(CHUNK, Math.max(1, ...counts)));
    const weightBytes = new Uint8Array(keyBytes.length);
    let offset = 0;
    for (let r = 0; r < comm.size; r++) {
      for (let at = 0; at < counts[r]!; at += CHUNK) {
        const len = Math.min(CHUNK, counts[r]! - at);
        const kb = keyBytes.subarray(0, 8 * len);
        const wb = weightBytes.subarray(0, 8 * len);
        if (comm.rank === r) {
          kb.set(new Uint8Array(mine.keys.buffer, mine.keys.byteOffset + 8 * at, 8 * len));
          wb.set(new Uint8Array(mine.weights.buffer, mine.weights.byteOffset + 8 * at, 8 * len));
        }
        await comm.bcast(kb, r);
        await comm.bcast(wb, r);
        // A write error is kept and reported after the loop: the other ranks are still in it.
        if (file && !failed) {
          try {
            await file.write(kb, 0, kb.length, 8 * (offset + at));
            await file.write(wb, 0, wb.length, 8 * (total + offset + at));
          } catch (err) {
            failed = err;
          }
        }
      }
      offset += counts[r]!;
    }
  } finally {
    await file?.close();
  }
  if (comm.rank === 0) {
    try {
      if (failed) throw failed;
      const bias = new Float64Array(1);
      if (vectors.bias) await vectors.bias.pull(BIAS_KEY, new Float32Array(bias.buffer));
      await rename(tmp, bin);
      const doc = keyedModelDoc(path, { ...header, bias: bias[0]!, count: total, numKeys: numKeys[0]! });
      await writeFile(`${path}.tmp-${process.pid}`, JSON.stringify(doc) + '\n');
      await rename(`${path}.tmp-${process.pid}`, path);
    } catch (err) {
      throw new ShoalError('ERR_IO', `cannot write model ${JSON.stringify(path)}: ${(err as Error).message}`, { op: 'saveModel' });
    }
  }
  return total;
}
