// The hot loops of histogram-based gradient boosting (algorithms/mart): turning raw feature
// values into bin indices, building gradient/hessian histograms of a node's rows, splitting a
// node's row range into its children, and adding one tree's leaf values to margins. Pure
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

// margins[r] += value of the leaf row r reaches in a tree over bins. Node i is a leaf when
// left[i] < 0 (its value is leafValue[i]); otherwise rows with bin 0 go to defaultLeft ?
// left : right, and rows with bin <= threshold[i] go left.
void addTreeBins(const uint8_t* bins, size_t numFeatures, size_t numRows, const int32_t* left, const int32_t* right,
                 const int32_t* feature, const int32_t* threshold, const uint8_t* defaultLeft, const double* leafValue,
                 double* margins);

}  // namespace gbdt
}  // namespace shoal
