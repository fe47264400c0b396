// A rank's rows by columns (CSC), for newton-l1's coordinate descent (glmnet_l1.ts), which
// walks one feature's non-zeros at a time: one counting pass and one filling pass over the
// CSR rows. The bias, when the layout has one, is a column of ones in the last slot.
import type { CsrData } from '../common/dataset.js';
import type { LinearLayout } from '../common/logistic.js';

export interface Columns {
  /** layout.dim + 1 offsets into rowIdx/values. */
  colPtr: Uint32Array;
  rowIdx: Uint32Array;
  values: Float32Array;
}

/** The rows of `data` as columns 0..layout.dim-1 (feature ids must be < layout.numFeatures). */
export function toColumns(data: CsrData, layout: LinearLayout): Columns {
  const { dim, numFeatures, bias } = layout;
  const n = data.numRows;
  const k0 = data.rowPtr[0]!;
  const k1 = data.rowPtr[n]!;
  const colPtr = new Uint32Array(dim + 1);
  for (let k = k0; k < k1; k++) colPtr[data.featureIds[k]! + 1]!++;
  if (bias) colPtr[numFeatures + 1] = n;
  for (let j = 0; j < dim; j++) colPtr[j + 1]! += colPtr[j]!;
  const rowIdx = new Uint32Array(colPtr[dim]!);
  const values = new Float32Array(colPtr[dim]!);
  const fill = colPtr.slice(0, dim);
  for (let i = 0; i < n; i++) {
    for (let k = data.rowPtr[i]!; k < data.rowPtr[i + 1]!; k++) {
      const at = fill[data.featureIds[k]!]!++;
      rowIdx[at] = i;
      values[at] = data.values[k]!;
    }
    if (bias) {
      const at = fill[numFeatures]!++;
      rowIdx[at] = i;
      values[at] = 1;
    }
  }
  return { colPtr, rowIdx, values };
}
