// The hot loops of histogram-based gradient boosting (algorithms/mart): turning raw feature
// values into bin indices, building gradient/hessian histograms of a node's rows, splitting a
// node's row range into its children, and adding one tree's leaf values to margins; and the
// per-round passes over all rows (logistic gradients and loss, fixed-point quantisation, leaf
// values into margins) plus the sorts of the sketch and of the test AUC. Pure
// functions over caller-owned memory: no threads outlive a call, no allocation escapes, no
// N-API (binding/gbdt_wrap.cc validates and calls these).
//
// Layout. Rows are stored row-major as uint8 bins, `bins[row * numFeatures + f]`; bin 0 of a
// feature means "missing" and bins 1..n_f are the feature's value buckets. Histogram slot of
// (f, b) is `binOffsets[f] + b`; a histogram is 2 doubles per slot (gradient, hessian).
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint8_t, uint32_t, int32_t

namespace shoal {
namespace gbdt {

// Bins rows [0, numRows) of a CSR matrix into `out` (numRows * numFeatures, pre-filled with 0
// = missing). Feature id `id` uses the cuts `cuts[cutPtr[id] .. cutPtr[id + 1])` (ascending
// upper bounds): bin = 1 + the first k with value <= cuts[k], clamped to the last bucket.
// Ids >= numFeatures and NaN values stay missing.
void binRows(const uint32_t* rowPtr, size_t numRows, const uint32_t* featureIds, const float* values, const uint32_t* cutPtr,
             const float* cuts, size_t numFeatures, uint8_t* out);

// hist[2*(binOffsets[f] + bins[r, f])] += grad[r] (and hessian at +1) for every r in rows.
// Adds into `hist` (zero it first). Rows are split over `threads` workers with private
// histograms that are summed at the end; the caller passes integer-valued gradients (fixed
// point), so the result does not depend on the summation order.
void buildHist(const uint8_t* bins, size_t numFeatures, const uint32_t* rows, size_t numRows, const double* grad,
               const double* hess, const uint32_t* binOffsets, size_t numSlots, double* hist, int threads);

// Stable partition of `rows` (in place; `scratch` holds numRows uint32) into rows going left
// (bins[r, feature] in [1, threshold], or 0 when defaultLeft) then right. Returns the count left.
size_t partitionRows(const uint8_t* bins, size_t numFeatures, uint32_t* rows, size_t numRows, uint32_t feature,
                     uint32_t threshold, bool defaultLeft, uint32_t* scratch);

// Fixed point of one round: out[0] = max |grad[i]|, out[1] = max hess[i] (NaN skipped; 0 when
// no value is larger), the maxima index.ts turns into the scales of quantizePairs.
void absMax(const double* grad, const double* hess, size_t n, double* out);

// gh[2i] = round(grad[i] * sg), gh[2i + 1] = round(hess[i] * sh), rounding as JavaScript's
// Math.round (halves toward +infinity, -0 for results in [-0.5, 0)): interleaved integer-valued
// (gradient, hessian) pairs, the input of buildHistPairs.
void quantizePairs(const double* grad, const double* hess, size_t n, double sg, double sh, double* gh);

// buildHist over interleaved pairs gh[2r], gh[2r + 1]: one 16-byte add per (row, feature).
// Same sums as buildHist (integer-valued inputs: order-independent).
void buildHistPairs(const uint8_t* bins, size_t numFeatures, const uint32_t* rows, size_t numRows, const double* gh,
                    const uint32_t* binOffsets, size_t numSlots, double* hist, int threads);

// For every leaf j: margins[rows[k]] += values[j] for k in [ranges[2j], ranges[2j + 1]).
void addLeafValues(const uint32_t* rows, const uint32_t* ranges, const double* values, size_t numLeaves, double* margins);

// Sort `values` ascending in place (n values, no NaN; -0 before +0, as a typed-array sort);
// `scratch` holds n values. Radix sorts, O(n).
void sortFloat32(float* values, size_t n, float* scratch);
void sortFloat64(double* values, size_t n, double* scratch);

// The local value distribution of every feature f < numFeatures over CSR rows (ids >=
// numFeatures and NaN skipped): feature f's values occupy vals[offsets[f] .. offsets[f + 1]),
// and after the call the first distinct[f] entries of that slice are its distinct values in
// ascending order (-0 and +0 are one value, the first in sort order kept) and mult[] the same
// entries' multiplicities. offsets holds numFeatures + 1 entries; vals and mult one per stored
// value at least.
void featureDistinct(const uint32_t* rowPtr, size_t numRows, const uint32_t* featureIds, const float* values,
                     size_t numFeatures, uint32_t* offsets, uint32_t* distinct, float* vals, uint32_t* mult);

// Binary logistic objective at margins m (labels > 0 positive; weights may be null = 1):
// p = 1 / (1 + exp(-m[i])), grad[i] = (p - y) * w, hess[i] = max(p * (1 - p), 1e-16) * w.
void logisticGradients(const double* margins, const float* labels, const float* weights, size_t n, double* grad,
                       double* hess);

// out[0] = sum of w * log(1 + exp(-y' m[i])) (y' = +-1, computed stably), out[1] = sum of w,
// both summed in row order.
void logisticLoss(const double* margins, const float* labels, const float* weights, size_t n, double* out);

// margins[r] += value of the leaf row r reaches in a tree over bins. Node i is a leaf when
// left[i] < 0 (its value is leafValue[i]); otherwise rows with bin 0 go to defaultLeft ?
// left : right, and rows with bin <= threshold[i] go left.
void addTreeBins(const uint8_t* bins, size_t numFeatures, size_t numRows, const int32_t* left, const int32_t* right,
                 const int32_t* feature, const int32_t* threshold, const uint8_t* defaultLeft, const double* leafValue,
                 double* margins);

}  // namespace gbdt
}  // namespace shoal
