// See coordinate_kernels.h.
#include "fm/coordinate_kernels.h"

#include "fm/coordinate_stream.h"

#include <cmath>
#include <cstdint>

namespace shoal {
namespace fm {

namespace {

constexpr double kScale = 4294967296.0;  // 2^32
constexpr __int128 kLimb = static_cast<__int128>(1) << 26;

// Terms below 2^20 become integers below 2^52, so an int64 takes 2^11 of them without
// overflow; every kFlushEvery terms it is added into the 128-bit total.
constexpr uint32_t kFlushEvery = 1024;

struct ExactAcc {
  __int128 total = 0;
  int64_t part = 0;

  void flush() {
    total += part;
    part = 0;
  }
};

inline bool addTerm(ExactAcc& acc, double term) {
  if (!(std::fabs(term) < kExactTermLimit)) return false;
  // Round half away from zero by truncation (llround is a libm call, 5x slower here).
  const double scaled = term * kScale;
  acc.part += static_cast<int64_t>(scaled + std::copysign(0.5, scaled));
  return true;
}

// acc = high * 2^26 + low with low in [0, 2^26).
void writeLimbs(__int128 acc, double* high, double* low) {
  __int128 h = acc / kLimb;
  __int128 l = acc - h * kLimb;
  if (l < 0) {
    l += kLimb;
    h -= 1;
  }
  *high = static_cast<double>(h);
  *low = static_cast<double>(l);
}

}  // namespace

long blockStats(const Columns& cols, const Coordinate& c, const int32_t* block, size_t blockLen, const double* resid,
                double* limbs) {
  const size_t sums = 2 * blockLen;
  for (size_t b = 0; b < blockLen; b++) {
    const size_t g = static_cast<size_t>(block[b]);
    ExactAcc s2;
    ExactAcc se;
    uint32_t sinceFlush = 0;
    const double v = c.factor < 0 ? 0.0 : c.params[g * c.stride + 1 + static_cast<size_t>(c.factor)];
    const double* qf = c.factor < 0 ? nullptr : c.q + static_cast<size_t>(c.factor) * cols.numRows;
    for (uint32_t e = cols.colStart[g]; e < cols.colStart[g + 1]; e++) {
      const uint32_t i = cols.colRow[e];
      if (i >= cols.numRows) return -2 - static_cast<long>(i);
      const double x = cols.colVal[e];
      const double h = c.factor < 0 ? x : x * (qf[i] - v * x);
      if (!addTerm(s2, h * h) || !addTerm(se, h * resid[i])) return static_cast<long>(b);
      if (++sinceFlush == kFlushEvery) {
        s2.flush();
        se.flush();
        sinceFlush = 0;
      }
    }
    s2.flush();
    se.flush();
    writeLimbs(s2.total, &limbs[2 * b], &limbs[sums + 2 * b]);
    writeLimbs(se.total, &limbs[2 * b + 1], &limbs[sums + 2 * b + 1]);
  }
  return -1;
}

long blockApply(const Columns& cols, const Coordinate& c, const int32_t* block, size_t blockLen, const double* delta,
                const double* oldValue, double* q, double* resid) {
  for (size_t b = 0; b < blockLen; b++) {
    const double d = delta[b];
    if (d == 0) continue;
    const size_t g = static_cast<size_t>(block[b]);
    const double old = oldValue[b];
    for (uint32_t e = cols.colStart[g]; e < cols.colStart[g + 1]; e++) {
      const uint32_t i = cols.colRow[e];
      if (i >= cols.numRows) return -2 - static_cast<long>(i);
      const double x = cols.colVal[e];
      if (c.factor < 0) {
        resid[i] -= d * x;
      } else {
        double& qi = q[static_cast<size_t>(c.factor) * cols.numRows + i];
        const double h = x * (qi - old * x);
        qi += d * x;
        resid[i] -= d * h;
      }
    }
  }
  return -1;
}

void rowScores(const uint32_t* rowPtr, size_t numRows, const int32_t* entryFeature, const float* values, const double* params,
               size_t k, double w0, double* q, double* yhat) {
  const size_t stride = k + 1;
  for (size_t i = 0; i < numRows; i++) {
    double linear = w0;
    double sq = 0;
    for (size_t f = 0; f < k; f++) q[f * numRows + i] = 0;
    for (uint32_t e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      const double* p = params + static_cast<size_t>(entryFeature[e]) * stride;
      const double x = values[e];
      linear += p[0] * x;
      for (size_t f = 0; f < k; f++) {
        const double vx = p[1 + f] * x;
        q[f * numRows + i] += vx;
        sq += vx * vx;
      }
    }
    double pair = 0;
    for (size_t f = 0; f < k; f++) pair += q[f * numRows + i] * q[f * numRows + i];
    yhat[i] = linear + 0.5 * (pair - sq);
  }
}

void drawBlock(const DrawSpec& spec, const int32_t* block, size_t blockLen, const double* featureIds, double* params, size_t k,
               const double* limbs, double* delta, double* oldValue) {
  const size_t stride = k + 1;
  const size_t offset = spec.factor < 0 ? 0 : 1 + static_cast<size_t>(spec.factor);
  const size_t sums = 2 * blockLen;
  // exact_sums.ts value(): high limb in units of 2^-6, low limb in units of 2^-32.
  auto value = [&](size_t i) { return limbs[i] * (1.0 / 64) + limbs[sums + i] / kScale; };
  CoordinateStream rng(spec.seed);
  for (size_t b = 0; b < blockLen; b++) {
    const size_t g = static_cast<size_t>(block[b]);
    double& theta = params[g * stride + offset];
    const double old = theta;
    const double s2 = value(2 * b);
    const double se = value(2 * b + 1);
    const double prec = spec.alpha * s2 + spec.lambda;
    double next = 0;
    if (prec > 0) {
      const double mean = (spec.alpha * (se + old * s2) + spec.lambda * spec.mu) / prec;
      if (spec.sample) {
        rng.reset(spec.kind, spec.iteration, spec.factor < 0 ? featureIds[g] : featureIds[g] * static_cast<double>(k) + spec.factor);
        next = mean + rng.normal() / std::sqrt(prec);
      } else {
        next = mean;
      }
    }
    oldValue[b] = old;
    delta[b] = next - old;
    theta = next;
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

long residualStats(const double* resid, size_t n, double* limbs) {
  ExactAcc s2;
  ExactAcc s1;
  uint32_t sinceFlush = 0;
  for (size_t i = 0; i < n; i++) {
    const double e = resid[i];
    if (!addTerm(s2, e * e) || !addTerm(s1, e)) return static_cast<long>(i);
    if (++sinceFlush == kFlushEvery) {
      s2.flush();
      s1.flush();
      sinceFlush = 0;
    }
  }
  s2.flush();
  s1.flush();
  writeLimbs(s2.total, &limbs[0], &limbs[2]);
  writeLimbs(s1.total, &limbs[1], &limbs[3]);
  return -1;
}

}  // namespace fm
}  // namespace shoal
