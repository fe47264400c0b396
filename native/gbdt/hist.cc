// See hist.h. The histogram kernel is the only loop that runs once per (row, feature) per tree
// level; it is kept branch-free (the missing bin is just bin 0) and threads only when a node
// has enough work to amortise starting them.
#include "gbdt/hist.h"

#include <algorithm>  // for std::upper_bound
#include <cstring>    // for std::memcpy
#include <thread>
#include <vector>

namespace shoal {
namespace gbdt {

namespace {

// Below this many (row, feature) cells a node is built on the calling thread.
constexpr size_t kMinCellsPerThread = size_t{1} << 18;

void histRange(const uint8_t* bins, size_t numFeatures, const uint32_t* rows, size_t begin, size_t end, const double* grad,
               const double* hess, const uint32_t* binOffsets, double* hist) {
  for (size_t i = begin; i < end; i++) {
    const uint32_t r = rows[i];
    const uint8_t* br = bins + static_cast<size_t>(r) * numFeatures;
    const double g = grad[r];
    const double h = hess[r];
    if (g == 0 && h == 0) continue;  // unsampled rows
    for (size_t f = 0; f < numFeatures; f++) {
      double* slot = hist + 2 * (static_cast<size_t>(binOffsets[f]) + br[f]);
      slot[0] += g;
      slot[1] += h;
    }
  }
}

}  // namespace

void binRows(const uint32_t* rowPtr, size_t numRows, const uint32_t* featureIds, const float* values, const uint32_t* cutPtr,
             const float* cuts, size_t numFeatures, uint8_t* out) {
  for (size_t r = 0; r < numRows; r++) {
    uint8_t* dst = out + r * numFeatures;
    for (uint32_t k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
      const uint32_t id = featureIds[k];
      const float v = values[k];
      if (id >= numFeatures || v != v) continue;
      const float* lo = cuts + cutPtr[id];
      const float* hi = cuts + cutPtr[id + 1];
      if (lo == hi) continue;
      // First cut >= v: lower_bound on "cut < v".
      const float* it = std::lower_bound(lo, hi, v);
      size_t b = static_cast<size_t>(it - lo);
      if (b == static_cast<size_t>(hi - lo)) b--;
      dst[id] = static_cast<uint8_t>(b + 1);
    }
  }
}

void buildHist(const uint8_t* bins, size_t numFeatures, const uint32_t* rows, size_t numRows, const double* grad,
               const double* hess, const uint32_t* binOffsets, size_t numSlots, double* hist, int threads) {
  const size_t cells = numRows * numFeatures;
  size_t nt = threads < 1 ? 1 : static_cast<size_t>(threads);
  nt = std::min(nt, std::max<size_t>(1, cells / kMinCellsPerThread));
  if (nt <= 1) {
    histRange(bins, numFeatures, rows, 0, numRows, grad, hess, binOffsets, hist);
    return;
  }
  std::vector<std::vector<double>> partial(nt - 1, std::vector<double>(2 * numSlots, 0.0));
  std::vector<std::thread> workers;
  const size_t chunk = (numRows + nt - 1) / nt;
  for (size_t t = 1; t < nt; t++) {
    const size_t b = std::min(numRows, t * chunk);
    const size_t e = std::min(numRows, (t + 1) * chunk);
    double* dst = partial[t - 1].data();
    workers.emplace_back([=] { histRange(bins, numFeatures, rows, b, e, grad, hess, binOffsets, dst); });
  }
  histRange(bins, numFeatures, rows, 0, std::min(numRows, chunk), grad, hess, binOffsets, hist);
  for (std::thread& w : workers) w.join();
  for (const std::vector<double>& p : partial) {
    for (size_t i = 0; i < 2 * numSlots; i++) hist[i] += p[i];
  }
}

size_t partitionRows(const uint8_t* bins, size_t numFeatures, uint32_t* rows, size_t numRows, uint32_t feature,
                     uint32_t threshold, bool defaultLeft, uint32_t* scratch) {
  size_t nl = 0;
  size_t nr = 0;
  for (size_t i = 0; i < numRows; i++) {
    const uint32_t r = rows[i];
    const uint8_t b = bins[static_cast<size_t>(r) * numFeatures + feature];
    const bool goLeft = b == 0 ? defaultLeft : b <= threshold;
    if (goLeft) {
      rows[nl++] = r;
    } else {
      scratch[nr++] = r;
    }
  }
  std::memcpy(rows + nl, scratch, nr * sizeof(uint32_t));
  return nl;
}

void addTreeBins(const uint8_t* bins, size_t numFeatures, size_t numRows, const int32_t* left, const int32_t* right,
                 const int32_t* feature, const int32_t* threshold, const uint8_t* defaultLeft, const double* leafValue,
                 double* margins) {
  for (size_t r = 0; r < numRows; r++) {
    const uint8_t* br = bins + r * numFeatures;
    int32_t n = 0;
    while (left[n] >= 0) {
      const uint8_t b = br[feature[n]];
      const bool goLeft = b == 0 ? defaultLeft[n] != 0 : b <= threshold[n];
      n = goLeft ? left[n] : right[n];
    }
    margins[r] += leafValue[n];
  }
}

}  // namespace gbdt
}  // namespace shoal
