// See coordinate_kernels.h.
#include "fm/coordinate_kernels.h"

#include "fm/coordinate_stream.h"

#include <cmath>
#include <cstdint>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

namespace shoal {
namespace fm {

namespace {

constexpr double kScale = 4294967296.0;  // 2^32
constexpr __int128 kLimb = static_cast<__int128>(1) << 26;

// Exact rounding without a conversion instruction: for |t| < 2^51, t + 1.5 * 2^52 lies in
// (2^52, 2^53), where doubles are the integers, so the addition rounds t to an integer and the
// bit pattern minus the magic number's is that integer. The bit patterns are summed as uint64
// (wrapping) and corrected per flush, a few plain instructions per term the compiler can
// vectorize.
constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52
constexpr uint64_t kMagicBits = 0x4338000000000000ull;

inline uint64_t roundedBits(double scaled) {
  const double y = scaled + kMagic;
  uint64_t u;
  std::memcpy(&u, &y, sizeof u);
  return u;
}

// Each term is an integer below 2^51, so an int64 holds the sum of 2^12 of them: a run of a
// feature's entries is at most kRun long, and a feature's int64 sums move into 128-bit totals
// before they could hold more than 2 * kRun terms.
constexpr size_t kRun = 2048;

// acc = high * 2^26 + low with low in [0, 2^26): an arithmetic shift floors (a 128-bit
// division is a libgcc call; features that never flushed take the int64 path).
void writeLimbs(__int128 acc, double* high, double* low) {
  const __int128 h = acc >> 26;
  const __int128 l = acc - h * kLimb;
  *high = static_cast<double>(h);
  *low = static_cast<double>(l);
}

void writeLimbs(int64_t acc, double* high, double* low) {
  const int64_t h = acc >> 26;
  *high = static_cast<double>(h);
  *low = static_cast<double>(acc - h * (int64_t{1} << 26));
}

}  // namespace

size_t stepSums(size_t width, bool withOnes) { return width * (width + 1) / 2 + width * (withOnes ? 2 : 1); }

namespace {

// The per-entry helpers inline into the pass (vector arguments never cross a call).
#define SHOAL_FM_ALWAYS_INLINE inline __attribute__((always_inline))

// The statistics pass adds an entry's terms as vectors of L doubles (GCC vector extensions;
// the same IEEE multiplications and additions as one at a time, so the same bits). Over a run
// of entries of one feature (u1's user block in row order: the file is sorted by user), the
// sums stay in registers. Layout per feature: Gram row a (sum h_a h_c, c <= a) in
// roundUp(a + 1) slots, so a row is hs_a times the first vectors of h; then sum h_a e and
// sum h_a, roundUp(W) slots each. Padding slots sum terms of the upper triangle or exact zeros
// (h is zero past W), bounded like the others and never read.
template <size_t L>
struct Lanes {
  typedef double D __attribute__((vector_size(L * sizeof(double))));
  typedef uint64_t U __attribute__((vector_size(L * sizeof(uint64_t))));

  static constexpr size_t roundUp(size_t n) { return (n + L - 1) / L * L; }

  template <size_t... I>
  static SHOAL_FM_ALWAYS_INLINE D pack(const double* x, std::index_sequence<I...>) {
    return D{x[I]...};
  }

  static constexpr size_t gramRowStart(size_t a) {
    size_t s = 0;
    for (size_t b = 0; b < a; b++) s += roundUp(b + 1);
    return s;
  }
};

// A step's exact sums per block feature in the padded layout of Lanes<L>: wrapping sums of
// the rounded terms' bit patterns (one buffer per thread, as large as the largest step's sums
// so far, zeroed per call: cheaper than allocating) and the count of terms in them (at most
// 2 * kRun: then they move into 128-bit totals, for the few features with that many
// entries). Plain uint64 storage: vectors are added to it with memcpy (unaligned moves, no
// aliasing question).
template <size_t L>
class PaddedSums {
 public:
  typedef typename Lanes<L>::U U;

  PaddedSums(size_t features, size_t width) : width_(width), slots_(Lanes<L>::gramRowStart(width) + 2 * Lanes<L>::roundUp(width)), terms_(features, 0), slot_(features, -1) {
    static thread_local std::vector<uint64_t> scratch;
    const size_t n = features * slots_;
    if (scratch.size() < n) scratch.resize(n);
    std::memset(scratch.data(), 0, n * sizeof(uint64_t));
    raw_ = scratch.data();
  }

  // Feature b's sums, to add one entry's terms to.
  SHOAL_FM_ALWAYS_INLINE uint64_t* one(size_t b) {
    if (terms_[b] + 1 > 2 * kRun) flush(b);
    terms_[b]++;
    return raw_ + b * slots_;
  }

  // Adds a run of `terms` terms of feature b (the first `vectors` vectors of the layout).
  SHOAL_FM_ALWAYS_INLINE void add(size_t b, size_t terms, const U* run, size_t vectors) {
    if (terms_[b] + terms > 2 * kRun) flush(b);
    terms_[b] += static_cast<uint32_t>(terms);
    uint64_t* r = raw_ + b * slots_;
    for (size_t j = 0; j < vectors; j++) {
      U m;
      std::memcpy(&m, r + j * L, sizeof m);
      m += run[j];
      std::memcpy(r + j * L, &m, sizeof m);
    }
  }

  // Every feature's sums into out, in stepSums' layout (feature b's sum s at b * perFeature + s).
  void write(const SumsView& out, bool withOnes) const {
    const size_t perFeature = stepSums(width_, withOnes);
    const size_t tri = width_ * (width_ + 1) / 2;
    std::vector<uint32_t> from(perFeature);
    for (size_t a = 0; a < width_; a++) {
      for (size_t c = 0; c <= a; c++) from[a * (a + 1) / 2 + c] = static_cast<uint32_t>(Lanes<L>::gramRowStart(a) + c);
      from[tri + a] = static_cast<uint32_t>(Lanes<L>::gramRowStart(width_) + a);
      if (withOnes) from[tri + width_ + a] = static_cast<uint32_t>(Lanes<L>::gramRowStart(width_) + Lanes<L>::roundUp(width_) + a);
    }
    for (size_t b = 0; b < terms_.size(); b++) {
      const uint64_t* r = raw_ + b * slots_;
      const uint64_t bias = static_cast<uint64_t>(terms_[b]) * kMagicBits;
      double* high = out.limbs + out.first + b * perFeature;
      double* low = high + out.count;
      if (slot_[b] < 0) {
        for (size_t s = 0; s < perFeature; s++) writeLimbs(static_cast<int64_t>(r[from[s]] - bias), high + s, low + s);
      } else {
        const __int128* t = totals_.data() + static_cast<size_t>(slot_[b]) * slots_;
        for (size_t s = 0; s < perFeature; s++) writeLimbs(static_cast<int64_t>(r[from[s]] - bias) + t[from[s]], high + s, low + s);
      }
    }
  }

 private:
  void flush(size_t b) {
    if (slot_[b] < 0) {
      slot_[b] = static_cast<int32_t>(totals_.size() / slots_);
      totals_.resize(totals_.size() + slots_, 0);
    }
    __int128* t = totals_.data() + static_cast<size_t>(slot_[b]) * slots_;
    uint64_t* r = raw_ + b * slots_;
    const uint64_t bias = static_cast<uint64_t>(terms_[b]) * kMagicBits;
    for (size_t s = 0; s < slots_; s++) t[s] += static_cast<int64_t>(r[s] - bias), r[s] = 0;
    terms_[b] = 0;
  }

  size_t width_;
  size_t slots_;
  uint64_t* raw_ = nullptr;
  std::vector<uint32_t> terms_;
  std::vector<int32_t> slot_;
  std::vector<__int128> totals_;
};

template <size_t L>
struct InRegisters {
  typename Lanes<L>::U* acc;
  SHOAL_FM_ALWAYS_INLINE void add(size_t j, typename Lanes<L>::U terms) const { acc[j] += terms; }
};

template <size_t L>
struct InMemory {
  uint64_t* sums;
  SHOAL_FM_ALWAYS_INLINE void add(size_t j, typename Lanes<L>::U terms) const {
    typename Lanes<L>::U m;
    std::memcpy(&m, sums + j * L, sizeof m);
    m += terms;
    std::memcpy(sums + j * L, &m, sizeof m);
  }
};

// Adds one entry's rounded terms (value x, the row's q from the step's first factor, the
// feature's v for the step's coordinates, the row's residual) to acc; false when a term is
// out of range. Acc: where the terms go, a run's registers (InRegisters) or the feature's sums
// in memory (InMemory).
template <size_t L, size_t W, bool HasW, typename Acc>
SHOAL_FM_ALWAYS_INLINE bool entryTerms(double x, const double* qi, const double* vf, double ev, bool withOnes, Acc acc) {
  using V = Lanes<L>;
  using D = typename V::D;
  using U = typename V::U;
  constexpr size_t kH = V::roundUp(W) / L;            // vectors of h
  constexpr size_t kHe = V::gramRowStart(W) / L;      // first vector of sum h_a e
  constexpr size_t kOnes = kHe + kH;                  // first vector of sum h_a
  constexpr size_t kFirstV = HasW ? 1 : 0;
  double h[kH * L] = {};
  if (HasW) h[0] = x;
  for (size_t a = kFirstV; a < W; a++) h[a] = x * (qi[a - kFirstV] - vf[a] * x);
  // Every term is h_a h_b, h_a e or h_a: bounded through max |h_a| (NaN sticks).
  double maxH = 0;
  for (size_t a = 0; a < W; a++) {
    const double ah = std::fabs(h[a]);
    maxH = (ah > maxH || ah != ah) ? ah : maxH;
  }
  if (!(maxH * maxH < kExactTermLimit && maxH * std::fabs(ev) < kExactTermLimit && maxH < kExactTermLimit)) return false;
  D hv[kH];
  D hs[kH];
  // Packed lane by lane from the scalars (a vector load of just-stored scalars would stall).
  for (size_t j = 0; j < kH; j++) hv[j] = V::pack(h + j * L, std::make_index_sequence<L>());
  for (size_t j = 0; j < kH; j++) hs[j] = hv[j] * kScale;
#pragma GCC unroll 32
  for (size_t a = 0; a < W; a++) {
    const size_t row = V::gramRowStart(a) / L;
    const double m = h[a] * kScale;
    for (size_t j = 0; j < V::roundUp(a + 1) / L; j++) acc.add(row + j, (U)(m * hv[j] + kMagic));
  }
  for (size_t j = 0; j < kH; j++) acc.add(kHe + j, (U)(hs[j] * ev + kMagic));
  if (withOnes) {
    for (size_t j = 0; j < kH; j++) acc.add(kOnes + j, (U)(hs[j] + kMagic));
  }
  return true;
}

// The statistics pass for a step of width W (a compile-time constant: the Gram rows unroll
// into vector operations); HasW: the step starts at coordinate 0 (w, whose h is x). Entries in
// row order, so q and the residuals stream; over a run of one feature's entries the sums stay
// in registers, and each run adds them to the feature's (a few hundred bytes per feature, the
// random accesses).
template <size_t L, size_t W, bool HasW>
long statsPass(const BlockEntries& be, const Step& s, const double* params, const double* q, const double* resid, SumsView out) {
  using V = Lanes<L>;
  using U = typename V::U;
  constexpr size_t kH = V::roundUp(W) / L;            // vectors of h
  constexpr size_t kHe = V::gramRowStart(W) / L;      // first vector of sum h_a e
  constexpr size_t kOnes = kHe + kH;                  // first vector of sum h_a
  constexpr size_t kVectors = kOnes + kH;
  // Factor columns of the step's v coordinates: v_f at coordinate 1 + f.
  const size_t f0 = HasW ? 0 : s.lo - 1;
  constexpr size_t kFirstV = HasW ? 1 : 0;
  const bool withOnes = s.withOnes;
  PaddedSums<L> sums(s.blockLen, W);
  for (size_t e = 0; e < be.count;) {
    const size_t b = static_cast<size_t>(be.pos[e]);
    if (b >= s.blockLen) return kBadPosition - static_cast<long>(e);
    size_t end = e + 1;
    while (end < be.count && end - e < kRun && static_cast<size_t>(be.pos[end]) == b) end++;
    const double* v = params + static_cast<size_t>(s.block[b]) * (s.k + 1) + 1 + f0;
    double vf[W];
    for (size_t a = kFirstV; a < W; a++) vf[a] = v[a - kFirstV];
    if (end == e + 1) {
      // A lone entry (u1's item block: rows are sorted by user): straight into memory.
      const uint32_t i = be.row[e];
      if (i >= be.numRows) return -2 - static_cast<long>(i);
      if (!entryTerms<L, W, HasW>(be.val[e], q + static_cast<size_t>(i) * s.k + f0, vf, resid[i], withOnes, InMemory<L>{sums.one(b)})) return static_cast<long>(b);
    } else {
      U acc[kVectors] = {};
      for (size_t r = e; r < end; r++) {
        const uint32_t i = be.row[r];
        if (i >= be.numRows) return -2 - static_cast<long>(i);
        if (!entryTerms<L, W, HasW>(be.val[r], q + static_cast<size_t>(i) * s.k + f0, vf, resid[i], withOnes, InRegisters<L>{acc})) return static_cast<long>(b);
      }
      sums.add(b, end - e, acc, withOnes ? kVectors : kOnes);
    }
    e = end;
  }
  sums.write(out, withOnes);
  return -1;
}

using StatsFn = long (*)(const BlockEntries&, const Step&, const double*, const double*, const double*, SumsView);

// Vectors of two doubles: SSE2 on x86-64, NEON on arm64, everywhere the same bits.
constexpr size_t kLanes = 2;

template <size_t... Ws>
constexpr std::array<StatsFn, sizeof...(Ws)> statsTable(bool hasW, std::index_sequence<Ws...>) {
  return {{(hasW ? &statsPass<kLanes, Ws + 1, true> : &statsPass<kLanes, Ws + 1, false>)...}};
}

}  // namespace

long blockStats(const BlockEntries& be, const Step& s, const double* params, const double* q, const double* resid, SumsView out) {
  static const auto withW = statsTable(true, std::make_index_sequence<kMaxStepWidth>());
  static const auto withoutW = statsTable(false, std::make_index_sequence<kMaxStepWidth>());
  const size_t width = s.hi - s.lo;
  return (s.lo == 0 ? withW : withoutW)[width - 1](be, s, params, q, resid, out);
}

long blockApply(const BlockEntries& be, const Step& s, const double* delta, const double* oldValue, double* q, double* resid) {
  const size_t width = s.hi - s.lo;
  for (size_t e = 0; e < be.count; e++) {
    const uint32_t i = be.row[e];
    if (i >= be.numRows) return -2 - static_cast<long>(i);
    const size_t b = static_cast<size_t>(be.pos[e]);
    if (b >= s.blockLen) return kBadPosition - static_cast<long>(e);
    const double* d = delta + b * width;
    const double* old = oldValue + b * width;
    const double x = be.val[e];
    double* qi = q + static_cast<size_t>(i) * s.k;
    // h_ia uses q_if before this feature's change; v_f's change moves only q_if.
    double change = 0;
    for (size_t a = 0; a < width; a++) {
      const size_t c = s.lo + a;
      if (c == 0) {
        change += d[a] * x;
      } else {
        const double h = x * (qi[c - 1] - old[a] * x);
        change += d[a] * h;
        qi[c - 1] += d[a] * x;
      }
    }
    resid[i] -= change;
  }
  return -1;
}

long rowScores(const uint32_t* rowPtr, size_t numRows, const int32_t* entryFeature, const float* values, size_t entries, const double* params,
               size_t features, size_t k, double w0, double* q, double* yhat) {
  const size_t stride = k + 1;
  for (size_t i = 0; i < numRows; i++) {
    if (rowPtr[i + 1] < rowPtr[i] || rowPtr[i + 1] > entries) return -2 - static_cast<long>(i);
    for (uint32_t e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      if (static_cast<uint32_t>(entryFeature[e]) >= features) return static_cast<long>(e);
    }
    double linear = w0;
    double sq = 0;
    double* qi = q + i * k;
    for (size_t f = 0; f < k; f++) qi[f] = 0;
    for (uint32_t e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      const double* p = params + static_cast<size_t>(entryFeature[e]) * stride;
      const double x = values[e];
      linear += p[0] * x;
      for (size_t f = 0; f < k; f++) {
        const double vx = p[1 + f] * x;
        qi[f] += vx;
        sq += vx * vx;
      }
    }
    double pair = 0;
    for (size_t f = 0; f < k; f++) pair += qi[f] * qi[f];
    yhat[i] = linear + 0.5 * (pair - sq);
  }
  return -1;
}

void drawBlock(const DrawSpec& spec, const Step& s, const double* featureIds, double* params, const double* limbs, size_t count,
               size_t first, double* delta, double* oldValue) {
  const size_t stride = s.k + 1;
  const size_t width = s.hi - s.lo;
  const size_t tri = width * (width + 1) / 2;
  const size_t perFeature = stepSums(width, s.withOnes);
  // exact_sums.ts value(): high limb in units of 2^-6, low limb in units of 2^-32.
  auto value = [&](size_t i) { return limbs[i] * (1.0 / 64) + limbs[count + i] / kScale; };
  std::vector<double> gram(tri);
  std::vector<double> he(width);
  CoordinateStream rngW(spec.seed);
  CoordinateStream rngV(spec.seed);
  for (size_t b = 0; b < s.blockLen; b++) {
    const size_t g = static_cast<size_t>(s.block[b]);
    const size_t at = first + b * perFeature;
    // One hash per stream and feature; the coordinates are sub-streams of it.
    if (spec.sample && s.lo == 0) rngW.reset(spec.kindW, spec.iteration, featureIds[g]);
    if (spec.sample && s.hi > 1) rngV.reset(spec.kindV, spec.iteration, featureIds[g]);
    for (size_t t = 0; t < tri; t++) gram[t] = value(at + t);
    for (size_t a = 0; a < width; a++) {
      he[a] = value(at + tri + a);
      if (s.withOnes && spec.shift != 0) he[a] -= spec.shift * value(at + tri + width + a);
    }
    for (size_t a = 0; a < width; a++) {
      const size_t c = s.lo + a;
      double& theta = params[g * stride + c];
      const double old = theta;
      const double s2 = gram[a * (a + 1) / 2 + a];
      const double prec = spec.alpha * s2 + spec.lambda[c];
      double next = 0;
      if (prec > 0) {
        const double mean = (spec.alpha * (he[a] + old * s2) + spec.lambda[c] * spec.mu[c]) / prec;
        if (spec.sample) {
          const double z = c == 0 ? rngW.normalZiggurat() : rngV.seek(static_cast<uint32_t>(c - 1) * kDrawSubStream).normalZiggurat();
          next = mean + z / std::sqrt(prec);
        } else {
          next = mean;
        }
      }
      const double d = next - old;
      oldValue[b * width + a] = old;
      delta[b * width + a] = d;
      theta = next;
      // The residuals moved by -d h_a: the later coordinates' sum h e by -d sum h_a h_c.
      if (d != 0) {
        for (size_t c2 = a + 1; c2 < width; c2++) he[c2] -= d * gram[c2 * (c2 + 1) / 2 + a];
      }
    }
  }
}

void probitResiduals(uint32_t seed, uint32_t kind, uint32_t iteration, double rowOffset, const double* label, const double* yhat, size_t n,
                     double* resid) {
  CoordinateStream rng(seed);
  for (size_t i = 0; i < n; i++) {
    rng.reset(kind, iteration, rowOffset + static_cast<double>(i));
    const double y = yhat[i];
    const double target = label[i] != 0 ? y + rng.normalAbove(-y) : y - rng.normalAbove(y);
    resid[i] = target - y;
  }
}

long residualStats(const double* resid, size_t n, SumsView out) {
  // Two sums (e^2, e): int64 partial sums of the rounded bit patterns, into 128 bits every
  // kRun terms.
  __int128 total[2] = {0, 0};
  uint64_t raw[2] = {0, 0};
  uint32_t pending = 0;
  auto flush = [&] {
    const uint64_t bias = static_cast<uint64_t>(pending) * kMagicBits;
    for (int s = 0; s < 2; s++) total[s] += static_cast<int64_t>(raw[s] - bias), raw[s] = 0;
    pending = 0;
  };
  for (size_t i = 0; i < n; i++) {
    const double e = resid[i];
    if (!(std::fabs(e) < kExactTermLimit && e * e < kExactTermLimit)) return static_cast<long>(i);
    raw[0] += roundedBits(e * e * kScale);
    raw[1] += roundedBits(e * kScale);
    if (++pending == kRun) flush();
  }
  flush();
  for (size_t s = 0; s < 2; s++) writeLimbs(total[s], &out.limbs[out.first + s], &out.limbs[out.count + out.first + s]);
  return -1;
}

}  // namespace fm
}  // namespace shoal
