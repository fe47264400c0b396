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
  /** Adds the sums of interleaved fixed-point pairs gh[2r], gh[2r + 1] of `rows` per slot into `hist`. */
  buildHistPairs(bins: Uint8Array, numFeatures: number, rows: Uint32Array, gh: Float64Array, binOffsets: Uint32Array, hist: Float64Array, threads: number): void;
  /** out[0] = max |grad[i]|, out[1] = max hess[i] (NaN skipped, at least 0). */
  absMax(grad: Float64Array, hess: Float64Array, out: Float64Array): void;
  /** gh[2i] = Math.round(grad[i] * sg), gh[2i + 1] = Math.round(hess[i] * sh) (JS rounding). */
  quantizePairs(grad: Float64Array, hess: Float64Array, sg: number, sh: number, gh: Float64Array): void;
  /** margins[rows[k]] += values[j] for k in [ranges[2j], ranges[2j + 1]), leaf by leaf. */
  addLeafValues(rows: Uint32Array, ranges: Uint32Array, values: Float64Array, margins: Float64Array): void;
  /** Sorts `values` ascending in place (radix; no NaN, -0 before +0); `scratch` at least as long. */
  sortFloat32(values: Float32Array, scratch: Float32Array): void;
  /** Per feature: its sorted distinct local values and their multiplicities (see native/gbdt/hist.h). */
  featureDistinct(rowPtr: Uint32Array, featureIds: Uint32Array, values: Float32Array, numFeatures: number, offsets: Uint32Array, distinct: Uint32Array, vals: Float32Array, mult: Uint32Array): void;
  /** sortFloat32 for doubles. */
  sortFloat64(values: Float64Array, scratch: Float64Array): void;
  /** Binary logistic grad/hess at `margins` (labels > 0 positive; weights null = 1); see objective.ts. */
  logisticGradients(margins: Float64Array, labels: Float32Array, weights: Float32Array | null, grad: Float64Array, hess: Float64Array): void;
  /** out = [sum of weighted logistic loss, sum of weights], in row order. */
  logisticLoss(margins: Float64Array, labels: Float32Array, weights: Float32Array | null, out: Float64Array): void;
  /** margins[r] += leaf value of row r in a binned tree. */
  addTreeBins(bins: Uint8Array, numFeatures: number, left: Int32Array, right: Int32Array, feature: Int32Array, threshold: Int32Array, defaultLeft: Uint8Array, leafValue: Float64Array, margins: Float64Array): void;
}

export const gbdtNative: GbdtBinding = (native as unknown as { gbdt: GbdtBinding }).gbdt;
