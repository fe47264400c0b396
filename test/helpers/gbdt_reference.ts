// The histogram the gbdt kernels must produce, written the obvious way: for every row and
// feature, add (grad, hess) to the slot of its bin.
export function referenceHistogram(bins: Uint8Array, nf: number, rows: ArrayLike<number>, grad: ArrayLike<number>, hess: ArrayLike<number>, binOffsets: Uint32Array): Float64Array {
  const want = new Float64Array(2 * binOffsets[nf]!);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k]!;
    for (let f = 0; f < nf; f++) {
      const s = binOffsets[f]! + bins[r * nf + f]!;
      want[2 * s] = want[2 * s]! + grad[r]!;
      want[2 * s + 1] = want[2 * s + 1]! + hess[r]!;
    }
  }
  return want;
}
