// A column view (CSC) of one rank's rows, built once from its CSR rows: BCD walks the
// columns of one feature block at a time. The bias, if any, is column numFeatures with a 1
// in every row.
import type { CsrData } from '../common/dataset.js';
import type { LinearLayout } from '../common/logistic.js';

export interface CscView {
  /** Column j has entries colPtr[j]..colPtr[j+1]-1. Length layout.dim + 1. */
  colPtr: Uint32Array;
  rows: Uint32Array;
  values: Float32Array;
}

export function toCsc(data: CsrData, layout: LinearLayout): CscView {
  const dim = layout.dim;
  const nnz = data.rowPtr[data.numRows] ?? 0;
  const total = nnz + (layout.bias ? data.numRows : 0);
  const colPtr = new Uint32Array(dim + 1);
  for (let k = 0; k < nnz; k++) {
    const id = data.featureIds[k]!;
    if (id >= layout.numFeatures) throw new RangeError(`bcd: feature id ${id} is outside the model (numFeatures ${layout.numFeatures})`);
    colPtr[id + 1]!++;
  }
  if (layout.bias) colPtr[layout.numFeatures + 1] = data.numRows;
  for (let j = 0; j < dim; j++) colPtr[j + 1]! += colPtr[j]!;
  const fill = colPtr.slice(0, dim);
  const rows = new Uint32Array(total);
  const values = new Float32Array(total);
  for (let i = 0; i < data.numRows; i++) {
    const end = data.rowPtr[i + 1]!;
    for (let k = data.rowPtr[i]!; k < end; k++) {
      const at = fill[data.featureIds[k]!]!++;
      rows[at] = i;
      values[at] = data.values[k]!;
    }
    if (layout.bias) {
      const at = fill[layout.numFeatures]!++;
      rows[at] = i;
      values[at] = 1;
    }
  }
  return { colPtr, rows, values };
}
