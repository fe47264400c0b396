// The counter-based random streams of the FM coordinate solvers, natively: the same hash and
// the same draws as algorithms/fm/coordinate_stream.ts (a number is a pure function of (seed,
// kind, iteration, index, counter)), so the per-coordinate draws and the probit targets, the
// bulk of an iteration's random numbers, run here while the few scalar draws stay in JS. Each
// kind of draw is made on one side only; log/cos/exp may differ from V8's in the last bit,
// which changes no rank's agreement with another (tested against the JS stream).
//
// normalZiggurat() is the per-coordinate draw of the MCMC sampler: Marsaglia and Tsang's
// ziggurat in Doornik's formulation (ZIGNOR, 128 layers), about 1.01 uniforms and no
// transcendental function per normal on average, against a log, a cos and a sqrt for
// Box-Muller; the draws of an iteration (k + 1 per feature, on every rank) are its largest
// replicated cost.
#pragma once

#include <cmath>
#include <cstdint>

namespace shoal {
namespace fm {

inline uint32_t fmix(uint32_t h) {
  h = (h ^ (h >> 16)) * 0x85ebca6bu;
  h = (h ^ (h >> 13)) * 0xc2b2ae35u;
  return h ^ (h >> 16);
}

// The ziggurat's layers: x[i] the right edge of layer i (x[0] the base strip's width, whose area
// includes the tail beyond x[1] = r; x[128] = 0), ratio[i] = x[i + 1] / x[i] (the part of layer
// i under the curve at every height).
struct ZigguratTables {
  static constexpr int kLayers = 128;
  static constexpr double kR = 3.442619855899;
  static constexpr double kV = 9.91256303526217e-3;
  double x[kLayers + 1];
  double ratio[kLayers];
  ZigguratTables() {
    x[0] = kV / std::exp(-0.5 * kR * kR);
    x[1] = kR;
    for (int i = 2; i < kLayers; i++) x[i] = std::sqrt(-2 * std::log(kV / x[i - 1] + std::exp(-0.5 * x[i - 1] * x[i - 1])));
    x[kLayers] = 0;
    for (int i = 0; i < kLayers; i++) ratio[i] = x[i + 1] / x[i];
  }
  static const ZigguratTables& get() {
    static const ZigguratTables tables;
    return tables;
  }
};

class CoordinateStream {
 public:
  explicit CoordinateStream(uint32_t seed) : seed_(seed) {}

  // The stream of `index` (an integer below 2^53) of `kind` in `iteration`.
  void reset(uint32_t kind, uint32_t iteration, double index) {
    const uint64_t i = static_cast<uint64_t>(index);
    uint32_t h = fmix(seed_ ^ 0x9e3779b9u);
    h = fmix(h ^ (kind * 0x27d4eb2du));
    h = fmix(h ^ iteration);
    h = fmix(h ^ static_cast<uint32_t>(i));
    h = fmix(h ^ static_cast<uint32_t>(i >> 32));
    key_ = h;
    counter_ = 0;
  }

  // Continues the stream at `counter` (even): a stream holds sub-streams, one per coordinate.
  CoordinateStream& seek(uint32_t counter) {
    counter_ = counter;
    return *this;
  }

  // Uniform in (0, 1).
  double uniform() {
    uint32_t a, b;
    next(&a, &b);
    return uniformOf(a, b);
  }

  // Standard normal (ziggurat, see the top of this file). A uniform's two words give a sign
  // and 52 bits (u in (-1, 1), from the bits uniform() uses) and the layer (7 of the bits it
  // drops).
  double normalZiggurat() {
    const ZigguratTables& t = ZigguratTables::get();
    for (;;) {
      uint32_t a, b;
      next(&a, &b);
      const double u = 2 * uniformOf(a, b) - 1;
      const unsigned i = (a & 31u) | ((b & 3u) << 5);
      if (std::fabs(u) < t.ratio[i]) return u * t.x[i];
      if (i == 0) {
        // The tail beyond r (Marsaglia 1964).
        double x, y;
        do {
          x = std::log(uniform()) / ZigguratTables::kR;
          y = std::log(uniform());
        } while (-2 * y < x * x);
        return u < 0 ? x - ZigguratTables::kR : ZigguratTables::kR - x;
      }
      const double xv = u * t.x[i];
      const double f0 = std::exp(-0.5 * (t.x[i] * t.x[i] - xv * xv));
      const double f1 = std::exp(-0.5 * (t.x[i + 1] * t.x[i + 1] - xv * xv));
      if (f1 + uniform() * (f0 - f1) < 1.0) return xv;
    }
  }

  // Standard normal (Box-Muller, one of the pair).
  double normal() {
    const double u = uniform();
    const double v = uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
  }

  // Standard normal conditioned on being > a (Robert 1995: plain rejection below 0.5, else
  // exponential proposals).
  double normalAbove(double a) {
    if (a < 0.5) {
      for (;;) {
        const double z = normal();
        if (z > a) return z;
      }
    }
    const double lambda = (a + std::sqrt(a * a + 4)) / 2;
    for (;;) {
      const double z = a - std::log(uniform()) / lambda;
      if (uniform() <= std::exp(-0.5 * (z - lambda) * (z - lambda))) return z;
    }
  }

 private:
  void next(uint32_t* a, uint32_t* b) {
    const uint32_t c = counter_;
    counter_ += 2;
    *a = fmix(key_ ^ ((c + 1) * 0x9e3779b1u));
    *b = fmix(*a ^ ((c + 2) * 0x85ebca77u));
  }

  static double uniformOf(uint32_t a, uint32_t b) {
    return (static_cast<double>(a >> 5) * 67108864.0 + static_cast<double>(b >> 6) + 0.5) / 9007199254740992.0;
  }

  uint32_t seed_;
  uint32_t key_ = 0;
  uint32_t counter_ = 0;
};

}  // namespace fm
}  // namespace shoal
