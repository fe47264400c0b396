// The allGather-based sparse allReduce that collectives/sparse_all_reduce.ts was before it
// wrapped the native op, kept as the baseline of bench/sparse.ts.
// Every rank contributes (key, row) pairs; every rank gets the union of
// the keys, sorted, with the rows of equal keys summed. Built on allGather: counts first,
// then every rank's pairs padded to the largest count, so one allGather of keys and one of
// values move everything. Cost: (p-1) * max_count * (8 + 4*dim) bytes received per rank;
// the merge is O(total pairs * log) on every rank. Good for gradients with little overlap
// across ranks; for large dense overlap use allReduce on a dense buffer.
import type { Communicator, SparseResult as SparseRows } from '../lib/communicator.js';
import { invalidArgument } from '../lib/errors.js';

/**
 * Sums sparse rows across ranks. Keys may be unsorted and repeated on input.
 * @example const { keys, values } = await sparseAllReduceByAllGather(comm, myKeys, myGrads, 4);
 */
export async function sparseAllReduceByAllGather(comm: Communicator, keys: BigUint64Array, values: Float32Array, dim = 1): Promise<SparseRows> {
  if (!(keys instanceof BigUint64Array)) throw invalidArgument('sparseAllReduce', 'keys', 'a BigUint64Array', keys);
  if (!(values instanceof Float32Array) || values.length !== keys.length * dim) {
    throw invalidArgument('sparseAllReduce', 'values', `a Float32Array of keys.length * dim = ${keys.length * dim}`, values, true);
  }
  if (!Number.isInteger(dim) || dim < 1) throw invalidArgument('sparseAllReduce', 'dim', 'a positive integer', dim, true);
  const counts = new Int32Array(comm.size);
  await comm.allGather(new Int32Array([keys.length]), counts);
  const max = Math.max(0, ...counts);
  const paddedKeys = new BigUint64Array(max);
  paddedKeys.set(keys);
  const paddedValues = new Float32Array(max * dim);
  paddedValues.set(values);
  const allKeys = new BigInt64Array(max * comm.size);
  const allValues = new Float32Array(max * dim * comm.size);
  // allGather moves raw 64-bit patterns; BigInt64Array and BigUint64Array share them.
  await comm.allGather(new BigInt64Array(paddedKeys.buffer), allKeys);
  await comm.allGather(paddedValues, allValues);
  // Merge in rank order so every rank adds the same numbers in the same order.
  const sums = new Map<bigint, Float64Array>();
  const unsigned = new BigUint64Array(allKeys.buffer);
  for (let r = 0; r < comm.size; r++) {
    for (let i = 0; i < counts[r]!; i++) {
      const k = unsigned[r * max + i]!;
      let row = sums.get(k);
      if (!row) sums.set(k, (row = new Float64Array(dim)));
      const base = (r * max + i) * dim;
      for (let j = 0; j < dim; j++) row[j]! += allValues[base + j]!;
    }
  }
  const sorted = [...sums.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const outKeys = BigUint64Array.from(sorted);
  const outValues = new Float32Array(sorted.length * dim);
  sorted.forEach((k, i) => outValues.set(sums.get(k)!, i * dim));
  return { keys: outKeys, values: outValues };
}
