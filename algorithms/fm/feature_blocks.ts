// Blocks of features that never occur in the same row, for the FM coordinate solvers: the
// updates of such features touch disjoint rows' cached terms, so a whole block is updated from
// one combined set of statistics (one allReduce) and the result equals updating its features
// one after another. Blocks come from a greedy colouring of the co-occurrence graph in feature
// id order (MovieLens user + item one-hot rows: two blocks, users and items).
//
// Every rank gathers the sparsity pattern of all rows (row lengths and feature ids, no values)
// and colours it the same way, so the blocks, the global feature index and the block order are
// identical on every rank and for every np. Memory: O(total nnz) per rank, once.
import type { Collective } from '../common/collective.js';
import type { CsrMatrix } from '../../lib/data/csr.js';

export interface FeatureBlocks {
  /** Global feature ids in increasing order; a feature's index here is its global index. */
  featureIds: Float64Array;
  /** Global indices of each block's features, blocks in colour order. */
  blocks: Int32Array[];
  /** Rows of every rank, and this rank's first row's global number. */
  globalRows: number;
  rowOffset: number;
}

/** Gathers every rank's sparsity pattern and colours the features; all ranks get the same result. */
export async function featureBlocks(comm: Collective, data: CsrMatrix): Promise<FeatureBlocks> {
  const nnz = data.rowPtr[data.numRows] ?? 0;
  const sizes = new Float64Array(2 * comm.size);
  await comm.allGather(new Float64Array([data.numRows, nnz]), sizes);
  let width = 0;
  let rowOffset = 0;
  let globalRows = 0;
  for (let r = 0; r < comm.size; r++) {
    width = Math.max(width, sizes[2 * r]! + sizes[2 * r + 1]!);
    if (r < comm.rank) rowOffset += sizes[2 * r]!;
    globalRows += sizes[2 * r]!;
  }
  // Row lengths then feature ids (float64: hashed ids use all 32 bits), padded to one width.
  const mine = new Float64Array(width);
  for (let i = 0; i < data.numRows; i++) mine[i] = data.rowPtr[i + 1]! - data.rowPtr[i]!;
  for (let e = 0; e < nnz; e++) mine[data.numRows + e] = data.featureIds[e]!;
  const all = new Float64Array(width * comm.size);
  await comm.allGather(mine, all);

  // Global rows as (rowStart, ids) in rank order.
  const totalNnz = Array.from({ length: comm.size }, (_, r) => sizes[2 * r + 1]!).reduce((a, b) => a + b, 0);
  const rowStart = new Uint32Array(globalRows + 1);
  const ids = new Float64Array(totalNnz);
  let row = 0;
  let at = 0;
  for (let r = 0; r < comm.size; r++) {
    const base = r * width;
    const rows = sizes[2 * r]!;
    let e = base + rows;
    for (let i = 0; i < rows; i++) {
      const len = all[base + i]!;
      rowStart[row++] = at;
      for (let j = 0; j < len; j++) ids[at++] = all[e++]!;
    }
  }
  rowStart[globalRows] = at;
  const sorted = ids.slice().sort();
  let distinct = 0;
  for (let e = 0; e < totalNnz; e++) if (e === 0 || sorted[e] !== sorted[e - 1]) sorted[distinct++] = sorted[e]!;
  const featureIds = sorted.slice(0, distinct);
  const col = globalIndices(featureIds, ids);

  // Rows of every feature (CSC of the pattern).
  const G = featureIds.length;
  const colStart = new Uint32Array(G + 1);
  for (let e = 0; e < totalNnz; e++) colStart[col[e]! + 1]!++;
  for (let g = 0; g < G; g++) colStart[g + 1] = colStart[g + 1]! + colStart[g]!;
  const fill = colStart.slice(0, G);
  const colRows = new Uint32Array(totalNnz);
  for (let i = 0; i < globalRows; i++) for (let e = rowStart[i]!; e < rowStart[i + 1]!; e++) colRows[fill[col[e]!]!++] = i;

  // Greedy colouring in id order: the smallest colour no co-occurring, already coloured feature has.
  const color = new Int32Array(G).fill(-1);
  const seen = new Int32Array(G + 1).fill(-1);
  let colors = 0;
  for (let g = 0; g < G; g++) {
    for (let c = colStart[g]!; c < colStart[g + 1]!; c++) {
      const i = colRows[c]!;
      for (let e = rowStart[i]!; e < rowStart[i + 1]!; e++) {
        const other = color[col[e]!]!;
        if (other >= 0) seen[other] = g;
      }
    }
    let c = 0;
    while (seen[c] === g) c++;
    color[g] = c;
    if (c + 1 > colors) colors = c + 1;
  }
  const counts = new Int32Array(colors);
  for (let g = 0; g < G; g++) counts[color[g]!]!++;
  const blocks = Array.from(counts, (n) => new Int32Array(n));
  counts.fill(0);
  for (let g = 0; g < G; g++) blocks[color[g]!]![counts[color[g]!]!++] = g;
  return { featureIds, blocks, globalRows, rowOffset };
}

/**
 * The global index (position in featureIds, ascending) of every id in `ids`: binary search over
 * the typed array (a Map of the ids was the largest part of the setup at MovieLens size). An id
 * not in featureIds gets `missing`, or throws when it is not given.
 */
export function globalIndices(featureIds: Float64Array, ids: ArrayLike<number>, missing?: number): Int32Array {
  const out = new Int32Array(ids.length);
  for (let e = 0; e < ids.length; e++) {
    const id = ids[e]!;
    let lo = 0;
    let hi = featureIds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (featureIds[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    if (featureIds[lo] === id) out[e] = lo;
    else if (missing !== undefined) out[e] = missing;
    else throw new RangeError(`feature id ${id} is not among the gathered feature ids`);
  }
  return out;
}
