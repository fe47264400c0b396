// The in-memory shape of a sparse data set as every reader produces it and every algorithm
// consumes it: compressed sparse rows plus per-row label, weight and query id. Pure types and
// small helpers; no I/O here.

/**
 * Rows in compressed sparse row form. Row `i`'s entries are `featureIds[k], values[k]` for
 * `k` in `[rowPtr[i], rowPtr[i + 1])`, in the order the file listed them (not sorted, not
 * deduplicated).
 *
 * Buffer lifetime: the arrays may be backed by memory the native reader allocated; it is
 * freed when the arrays are garbage-collected. Do not transfer or detach them.
 */
export interface CsrMatrix {
  numRows: number;
  /** Length `numRows + 1`; row i's entries are `[rowPtr[i], rowPtr[i+1])`. */
  rowPtr: Uint32Array;
  /** Feature ids exactly as in the file (libsvm ids are usually 1-based: NOT shifted), or hashed ids when hashBits is set. */
  featureIds: Uint32Array;
  values: Float32Array;
  /** Labels as written in the file (rounded to float32). */
  labels: Float32Array;
  /** Per-row weights when a weight file is given, else null. */
  weights: Float32Array | null;
  /** Per-row query id when qid: fields or a .query file are present, else null. Rows without one hold NO_QID. */
  qids: Uint32Array | null;
  /** Largest feature id seen on this rank (-1 if none). */
  maxFeatureId: number;
}

/** The qid of a row that has none while other rows do (2^32 - 1). */
export const NO_QID = 0xffffffff;

/** Number of stored entries (non-zeros) of a CSR matrix. */
export function csrNnz(m: CsrMatrix): number {
  return m.rowPtr[m.numRows] ?? 0;
}
