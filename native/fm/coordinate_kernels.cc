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

// Each term is an integer below 2^51, so an int64 takes 2^12 of them without overflow; every
// kFlushEvery terms per sum the partial sums go into 128-bit totals.
constexpr uint32_t kFlushEvery = 2048;

// acc = high * 2^26 + low with low in [0, 2^26): an arithmetic shift floors (a 128-bit
// division is a libgcc call, once per sum per feature).
void writeLimbs(__int128 acc, double* high, double* low) {
  const __int128 h = acc >> 26;
  const __int128 l = acc - h * kLimb;
  *high = static_cast<double>(h);
  *low = static_cast<double>(l);
}

}  // namespace

size_t stepSums(size_t width, bool withOnes) { return width * (width + 1) / 2 + width * (withOnes ? 2 : 1); }

namespace {

// A step's exact sums, per block feature: raw wrapping sums of the bit patterns and the count
// of terms since the last flush; a feature that reaches kFlushEvery terms moves its partial
// sums into 128-bit totals, allocated for the few features that need them.
class BlockAccs {
 public:
  BlockAccs(size_t features, size_t perFeature)
      : perFeature_(perFeature), raw_(features * perFeature, 0), pending_(features, 0), slot_(features, -1) {}

  uint64_t* raw(size_t b) { return raw_.data() + b * perFeature_; }

  // Call after the terms of one entry of feature b were added.
  void termAdded(size_t b) {
    if (++pending_[b] == kFlushEvery) flush(b);
  }

  // Every feature's sums into out (feature b's sum s at b * perFeature + s).
  void write(const SumsView& out) const {
    for (size_t b = 0; b < pending_.size(); b++) {
      const uint64_t* r = raw_.data() + b * perFeature_;
      const uint64_t bias = static_cast<uint64_t>(pending_[b]) * kMagicBits;
      const __int128* t = slot_[b] < 0 ? nullptr : totals_.data() + static_cast<size_t>(slot_[b]) * perFeature_;
      for (size_t s = 0; s < perFeature_; s++) {
        const __int128 sum = static_cast<int64_t>(r[s] - bias) + (t ? t[s] : 0);
        const size_t at = out.first + b * perFeature_ + s;
        writeLimbs(sum, &out.limbs[at], &out.limbs[out.count + at]);
      }
    }
  }

 private:
  void flush(size_t b) {
    if (slot_[b] < 0) {
      slot_[b] = static_cast<int32_t>(totals_.size() / perFeature_);
      totals_.resize(totals_.size() + perFeature_, 0);
    }
    __int128* t = totals_.data() + static_cast<size_t>(slot_[b]) * perFeature_;
    uint64_t* r = raw(b);
    const uint64_t bias = static_cast<uint64_t>(pending_[b]) * kMagicBits;
    for (size_t s = 0; s < perFeature_; s++) {
      t[s] += static_cast<int64_t>(r[s] - bias);
      r[s] = 0;
    }
    pending_[b] = 0;
  }

  size_t perFeature_;
  std::vector<uint64_t> raw_;
  std::vector<uint32_t> pending_;
  std::vector<int32_t> slot_;
  std::vector<__int128> totals_;
};

// The statistics pass for a step of width W (a compile-time constant: the Gram triangle's
// loops unroll and vectorize); HasW: the step starts at coordinate 0 (w, whose h is x). Rows
// in order, so q and the residuals stream; the accumulators (a few hundred bytes per feature)
// are the random accesses.
template <size_t W, bool HasW>
long statsFixed(const BlockEntries& be, const Step& s, const double* params, const double* q, const double* resid, SumsView out) {
  constexpr size_t kTri = W * (W + 1) / 2;
  // Factor columns of the step's v coordinates: v_f at coordinate 1 + f.
  const size_t f0 = HasW ? 0 : s.lo - 1;
  constexpr size_t kFirstV = HasW ? 1 : 0;
  BlockAccs accs(s.blockLen, stepSums(W, s.withOnes));
  for (size_t e = 0; e < be.count; e++) {
    const uint32_t i = be.row[e];
    if (i >= be.numRows) return -2 - static_cast<long>(i);
    const size_t b = static_cast<size_t>(be.pos[e]);
    const double* v = params + static_cast<size_t>(s.block[b]) * (s.k + 1) + 1 + f0;
    const double x = be.val[e];
    const double* qi = q + static_cast<size_t>(i) * s.k + f0;
    double h[W];
    if (HasW) h[0] = x;
    for (size_t a = kFirstV; a < W; a++) h[a] = x * (qi[a - kFirstV] - v[a - kFirstV] * x);
    // Every term is h_a h_b, h_a e or h_a: bounded through max |h_a| (NaN sticks).
    double maxH = 0;
    for (size_t a = 0; a < W; a++) {
      const double ah = std::fabs(h[a]);
      maxH = (ah > maxH || ah != ah) ? ah : maxH;
    }
    const double ev = resid[i];
    if (!(maxH * maxH < kExactTermLimit && maxH * std::fabs(ev) < kExactTermLimit && maxH < kExactTermLimit)) return static_cast<long>(b);
    double hs[W];
    for (size_t a = 0; a < W; a++) hs[a] = h[a] * kScale;
    uint64_t* raw = accs.raw(b);
    size_t t = 0;
    for (size_t a = 0; a < W; a++) {
      for (size_t c = 0; c <= a; c++) raw[t + c] += roundedBits(hs[a] * h[c]);
      t += a + 1;
    }
    for (size_t a = 0; a < W; a++) raw[kTri + a] += roundedBits(hs[a] * ev);
    if (s.withOnes) {
      for (size_t a = 0; a < W; a++) raw[kTri + W + a] += roundedBits(hs[a]);
    }
    accs.termAdded(b);
  }
  accs.write(out);
  return -1;
}

using StatsFn = long (*)(const BlockEntries&, const Step&, const double*, const double*, const double*, SumsView);

template <size_t... Ws>
constexpr std::array<StatsFn, sizeof...(Ws)> statsTable(bool hasW, std::index_sequence<Ws...>) {
  return {{(hasW ? &statsFixed<Ws + 1, true> : &statsFixed<Ws + 1, false>)...}};
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

void rowScores(const uint32_t* rowPtr, size_t numRows, const int32_t* entryFeature, const float* values, const double* params,
               size_t k, double w0, double* q, double* yhat) {
  const size_t stride = k + 1;
  for (size_t i = 0; i < numRows; i++) {
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
  CoordinateStream rng(spec.seed);
  for (size_t b = 0; b < s.blockLen; b++) {
    const size_t g = static_cast<size_t>(s.block[b]);
    const size_t at = first + b * perFeature;
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
          if (c == 0) rng.reset(spec.kindW, spec.iteration, featureIds[g]);
          else rng.reset(spec.kindV, spec.iteration, featureIds[g] * static_cast<double>(s.k) + static_cast<double>(c - 1));
          next = mean + rng.normal() / std::sqrt(prec);
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
  BlockAccs accs(1, 2);
  uint64_t* raw = accs.raw(0);
  for (size_t i = 0; i < n; i++) {
    const double e = resid[i];
    if (!(std::fabs(e) < kExactTermLimit && e * e < kExactTermLimit)) return static_cast<long>(i);
    raw[0] += roundedBits(e * e * kScale);
    raw[1] += roundedBits(e * kScale);
    accs.termAdded(0);
  }
  accs.write(out);
  return -1;
}

}  // namespace fm
}  // namespace shoal
