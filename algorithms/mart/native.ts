// The typed view of the addon's gradient-boosting kernels (native/binding/gbdt_wrap.cc,
// native/gbdt/hist.h). Only this file in algorithms/mart touches the native layer.
import { native } from '../../lib/native.js';

export interface GbdtBinding {
  /** Bins CSR rows into `out` (numRows * numFeatures, pre-zeroed; 0 = missing). */
  binRows(rowPtr: Uint32Array, featureIds: Uint32Array, values: Float32Array, cutPtr: Uint32Array, cuts: Float32Array, numFeatures: number, out: Uint8Array): void;
  /** Adds the (gradient, hessian) sums of `rows` per (feature, bin) slot into `hist`. */
  buildHist(bins: Uint8Array, numFeatures: number, rows: Uint32Array, grad: Float64Array, hess: Float64Array, binOffsets: Uint32Array, hist: Float64Array, threads: number): void;
  /** Stable in-place partition of `rows` into left then right; returns the count left. */
  partitionRows(bins: Uint8Array, numFeatures: number, rows: Uint32Array, feature: number, threshold: number, defaultLeft: boolean, scratch: Uint32Array): number;
  /** margins[r] += leaf value of row r in a binned tree. */
  addTreeBins(bins: Uint8Array, numFeatures: number, left: Int32Array, right: Int32Array, feature: Int32Array, threshold: Int32Array, defaultLeft: Uint8Array, leafValue: Float64Array, margins: Float64Array): void;
}

export const gbdtNative: GbdtBinding = (native as unknown as { gbdt: GbdtBinding }).gbdt;
