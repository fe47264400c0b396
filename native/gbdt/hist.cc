// See hist.h. The histogram kernel is the only loop that runs once per (row, feature) per tree
// level; it is kept branch-free (the missing bin is just bin 0) and threads only when a node
// has enough work to amortise starting them. Loops whose branch would depend on the data (row
// partitioning, rounding, the binary search of binning) are written branch-free too: with
// random data such a branch mispredicts about every other time.
#include "gbdt/hist.h"

#include <algorithm>  // for std::min, std::max, std::fill
#include <cmath>      // for std::fabs, std::copysign, std::exp, std::log1p
#include <cstring>    // for std::memcpy
#include <thread>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// Rows ahead of the current one whose bins and pairs are prefetched (row subsets are ascending
// but sparse after a few levels, so the hardware prefetcher does not see the pattern).
constexpr size_t kPrefetch = 16;

void histPairsRange(const uint8_t* bins, size_t numFeatures, const uint32_t* rows, size_t begin, size_t end, const double* gh,
                    const uint32_t* binOffsets, double* hist) {
  for (size_t i = begin; i < end; i++) {
    if (i + kPrefetch < end) {
      const size_t ahead = rows[i + kPrefetch];
      __builtin_prefetch(bins + ahead * numFeatures);
      __builtin_prefetch(gh + 2 * ahead);
    }
    const uint32_t r = rows[i];
    const uint8_t* br = bins + static_cast<size_t>(r) * numFeatures;
    const double* p = gh + 2 * static_cast<size_t>(r);
    if (p[0] == 0 && p[1] == 0) continue;  // unsampled rows
#if defined(__SSE2__)
    const __m128d v = _mm_loadu_pd(p);
    for (size_t f = 0; f < numFeatures; f++) {
      double* slot = hist + 2 * (static_cast<size_t>(binOffsets[f]) + br[f]);
      _mm_storeu_pd(slot, _mm_add_pd(_mm_loadu_pd(slot), v));
    }
#else
    const double g = p[0];
    const double h = p[1];
    for (size_t f = 0; f < numFeatures; f++) {
      double* slot = hist + 2 * (static_cast<size_t>(binOffsets[f]) + br[f]);
      slot[0] += g;
      slot[1] += h;
    }
#endif
  }
}

// JavaScript's Math.round: the nearest integer, halves toward +infinity, -0 for [-0.5, 0).
// Branch-free for |x| < 2^52 (the fractional part of a fixed-point value is a coin flip, and
// std::floor is a libm call without SSE4.1): truncate through int64, step down to the floor for
// negatives, compare the (exact) fraction with 1/2. The result's sign is x's (a zero result of
// a negative x is -0), hence copysign. Larger magnitudes, infinities and NaN are returned as is.
inline double jsRound(double x) {
  if (!(std::fabs(x) < 4503599627370496.0)) return x;
  int64_t i = static_cast<int64_t>(x);               // toward zero
  i -= static_cast<int64_t>(static_cast<double>(i) > x);  // floor
  i += static_cast<int64_t>(x - static_cast<double>(i) >= 0.5);
  return std::copysign(static_cast<double>(i), x);
}

// LSD radix sort of floating-point values (no NaN) on order-preserving keys: every bit of a
// negative flipped, the sign bit of the rest; -0 sorts before +0, as in a typed-array sort.
// 11-bit digits; a pass whose digit is the same for every value is skipped (the high digits
// of values in a narrow range, e.g. probabilities).
template <typename F, typename U>
void radixSort(F* values, size_t n, F* scratch) {
  constexpr int kBits = 11;
  constexpr U kMask = (U{1} << kBits) - 1;
  constexpr int kPasses = (8 * static_cast<int>(sizeof(U)) + kBits - 1) / kBits;
  constexpr U kSign = U{1} << (8 * sizeof(U) - 1);
  if (n < 2) return;
  auto key = [](F f) {
    U u;
    std::memcpy(&u, &f, sizeof u);
    return (u & kSign) != 0 ? static_cast<U>(~u) : static_cast<U>(u | kSign);
  };
  std::vector<size_t> counts(static_cast<size_t>(kPasses) << kBits, 0);
  for (size_t i = 0; i < n; i++) {
    const U k = key(values[i]);
    for (int p = 0; p < kPasses; p++) counts[(static_cast<size_t>(p) << kBits) + static_cast<size_t>(k >> (p * kBits) & kMask)]++;
  }
  F* src = values;
  F* dst = scratch;
  for (int p = 0; p < kPasses; p++) {
    size_t* c = counts.data() + (static_cast<size_t>(p) << kBits);
    const int shift = p * kBits;
    if (c[static_cast<size_t>(key(src[0]) >> shift & kMask)] == n) continue;
    size_t sum = 0;
    for (size_t b = 0; b <= kMask; b++) {
      const size_t t = c[b];
      c[b] = sum;
      sum += t;
    }
    for (size_t i = 0; i < n; i++) {
      const F f = src[i];
      dst[c[static_cast<size_t>(key(f) >> shift & kMask)]++] = f;
    }
    std::swap(src, dst);
  }
  if (src != values) std::memcpy(values, src, n * sizeof(F));
}

}  // namespace

void absMax(const double* grad, const double* hess, size_t n, double* out) {
  double mg = 0;
  double mh = 0;
  for (size_t i = 0; i < n; i++) {
    const double ag = std::fabs(grad[i]);
    if (ag > mg) mg = ag;
    if (hess[i] > mh) mh = hess[i];
  }
  out[0] = mg;
  out[1] = mh;
}

void quantizePairs(const double* grad, const double* hess, size_t n, double sg, double sh, double* gh) {
  for (size_t i = 0; i < n; i++) {
    gh[2 * i] = jsRound(grad[i] * sg);
    gh[2 * i + 1] = jsRound(hess[i] * sh);
  }
}

namespace {
// Runs fill(begin, end, dst) over row chunks on up to `threads` threads (fewer for small
// work), each chunk into its own histogram, then adds them in chunk order: the same bits for
// a given thread count.
template <typename Fill>
void chunkedHist(size_t numRows, size_t numFeatures, size_t numSlots, double* hist, int threads, Fill fill) {
  const size_t cells = numRows * numFeatures;
  size_t nt = threads < 1 ? 1 : static_cast<size_t>(threads);
  nt = std::min(nt, std::max<size_t>(1, cells / kMinCellsPerThread));
  if (nt <= 1) {
    fill(0, numRows, hist);
    return;
  }
  std::vector<std::vector<double>> partial(nt - 1, std::vector<double>(2 * numSlots, 0.0));
  std::vector<std::thread> workers;
  const size_t chunk = (numRows + nt - 1) / nt;
  for (size_t t = 1; t < nt; t++) {
    const size_t b = std::min(numRows, t * chunk);
    const size_t e = std::min(numRows, (t + 1) * chunk);
    double* dst = partial[t - 1].data();
    workers.emplace_back([=] { fill(b, e, dst); });
  }
  fill(0, std::min(numRows, chunk), hist);
  for (std::thread& w : workers) w.join();
  for (const std::vector<double>& p : partial) {
    for (size_t i = 0; i < 2 * numSlots; i++) hist[i] += p[i];
  }
}
}  // namespace

void buildHistPairs(const uint8_t* bins, size_t numFeatures, const uint32_t* rows, size_t numRows, const double* gh,
                    const uint32_t* binOffsets, size_t numSlots, double* hist, int threads) {
  chunkedHist(numRows, numFeatures, numSlots, hist, threads,
              [=](size_t b, size_t e, double* dst) { histPairsRange(bins, numFeatures, rows, b, e, gh, binOffsets, dst); });
}

void addLeafValues(const uint32_t* rows, const uint32_t* ranges, const double* values, size_t numLeaves, double* margins) {
  for (size_t j = 0; j < numLeaves; j++) {
    const double v = values[j];
    for (uint32_t k = ranges[2 * j]; k < ranges[2 * j + 1]; k++) margins[rows[k]] += v;
  }
}

void featureDistinct(const uint32_t* rowPtr, size_t numRows, const uint32_t* featureIds, const float* values,
                     size_t numFeatures, uint32_t* offsets, uint32_t* distinct, float* vals, uint32_t* mult) {
  const uint32_t nnz = rowPtr[numRows];
  std::fill(offsets, offsets + numFeatures + 1, 0u);
  for (uint32_t k = rowPtr[0]; k < nnz; k++) {
    const uint32_t id = featureIds[k];
    if (id < numFeatures && values[k] == values[k]) offsets[id + 1]++;
  }
  for (size_t f = 0; f < numFeatures; f++) offsets[f + 1] += offsets[f];
  std::vector<uint32_t> fill(offsets, offsets + numFeatures);
  for (uint32_t k = rowPtr[0]; k < nnz; k++) {
    const uint32_t id = featureIds[k];
    const float v = values[k];
    if (id < numFeatures && v == v) vals[fill[id]++] = v;
  }
  std::vector<float> scratch;
  for (size_t f = 0; f < numFeatures; f++) {
    float* v = vals + offsets[f];
    uint32_t* m = mult + offsets[f];
    const size_t n = offsets[f + 1] - offsets[f];
    if (scratch.size() < n) scratch.resize(n);
    radixSort<float, uint32_t>(v, n, scratch.data());
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
      if (d > 0 && v[d - 1] == v[i]) {
        m[d - 1]++;
      } else {
        v[d] = v[i];
        m[d++] = 1;
      }
    }
    distinct[f] = static_cast<uint32_t>(d);
  }
}

void logisticGradients(const double* margins, const float* labels, const float* weights, size_t n, double* grad,
                       double* hess) {
  for (size_t i = 0; i < n; i++) {
    const double p = 1 / (1 + std::exp(-margins[i]));
    const double w = weights != nullptr ? static_cast<double>(weights[i]) : 1.0;
    grad[i] = (p - (labels[i] > 0 ? 1.0 : 0.0)) * w;
    hess[i] = std::max(p * (1 - p), 1e-16) * w;
  }
}

void logisticLoss(const double* margins, const float* labels, const float* weights, size_t n, double* out) {
  double s = 0;
  double sw = 0;
  for (size_t i = 0; i < n; i++) {
    const double w = weights != nullptr ? static_cast<double>(weights[i]) : 1.0;
    const double z = margins[i];
    const double yz = labels[i] > 0 ? z : -z;
    s += w * (yz > 0 ? std::log1p(std::exp(-yz)) : -yz + std::log1p(std::exp(yz)));
    sw += w;
  }
  out[0] = s;
  out[1] = sw;
}

void sortFloat32(float* values, size_t n, float* scratch) { radixSort<float, uint32_t>(values, n, scratch); }

void sortFloat64(double* values, size_t n, double* scratch) { radixSort<double, uint64_t>(values, n, scratch); }

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
      // First cut >= v (std::lower_bound on "cut < v"), branch-free: the comparisons are data
      // dependent, so a branchy search mispredicts about half of its ~8 steps per value.
      const float* base = lo;
      size_t len = static_cast<size_t>(hi - lo);
      while (len > 1) {
        const size_t half = len / 2;
        base = base[half] < v ? base + half : base;
        len -= half;
      }
      size_t b = static_cast<size_t>(base - lo) + static_cast<size_t>(*base < v);
      if (b == static_cast<size_t>(hi - lo)) b--;
      dst[id] = static_cast<uint8_t>(b + 1);
    }
  }
}

void buildHist(const uint8_t* bins, size_t numFeatures, const uint32_t* rows, size_t numRows, const double* grad,
               const double* hess, const uint32_t* binOffsets, size_t numSlots, double* hist, int threads) {
  chunkedHist(numRows, numFeatures, numSlots, hist, threads,
              [=](size_t b, size_t e, double* dst) { histRange(bins, numFeatures, rows, b, e, grad, hess, binOffsets, dst); });
}

size_t partitionRows(const uint8_t* bins, size_t numFeatures, uint32_t* rows, size_t numRows, uint32_t feature,
                     uint32_t threshold, bool defaultLeft, uint32_t* scratch) {
  size_t nl = 0;
  size_t nr = 0;
  for (size_t i = 0; i < numRows; i++) {
    // Rows deep in a tree are sparse: one cache miss per row unless fetched ahead.
    if (i + kPrefetch < numRows) __builtin_prefetch(bins + static_cast<size_t>(rows[i + kPrefetch]) * numFeatures + feature);
    const uint32_t r = rows[i];
    const uint8_t b = bins[static_cast<size_t>(r) * numFeatures + feature];
    // Branch-free: the side is data-dependent (about a coin flip per row), so a branch
    // mispredicts half the time; write both places and advance one cursor instead.
    const size_t goLeft = b == 0 ? static_cast<size_t>(defaultLeft) : static_cast<size_t>(b <= threshold);
    rows[nl] = r;
    scratch[nr] = r;
    nl += goLeft;
    nr += 1 - goLeft;
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
