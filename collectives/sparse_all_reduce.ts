// Sparse AllReduce: every rank contributes (key, row) pairs; every rank gets the union of
// the keys, sorted, with the rows of equal keys summed. A thin wrapper over the native
// Communicator.sparseAllReduce (native/collectives/sparse_all_reduce.cc): keys are
// partitioned by hash range, each owner merge-sums its range, and the owners' results are
// gathered. Cost, with b = 8 + 4*dim bytes per row: each rank sends about its distinct keys'
// rows once to their owners, then receives the job's distinct rows it does not own
// (U - U_r) * b bytes; nothing is padded to the largest rank.
import type { Communicator, SparseResult } from '../lib/communicator.js';

export type SparseRows = SparseResult;

/**
 * Sums sparse rows across ranks. Keys may be unsorted and repeated on input.
 * @example const { keys, values } = await sparseAllReduce(comm, myKeys, myGrads, 4);
 */
export async function sparseAllReduce(comm: Communicator, keys: BigUint64Array, values: Float32Array, dim = 1): Promise<SparseRows> {
  return comm.sparseAllReduce(keys, values, { dim });
}
