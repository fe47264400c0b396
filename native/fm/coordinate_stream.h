// The counter-based random streams of the FM coordinate solvers, natively: the same hash and
// the same draws as algorithms/fm/coordinate_stream.ts (a number is a pure function of (seed,
// kind, iteration, index, counter)), so the per-coordinate draws and the probit targets, the
// bulk of an iteration's random numbers, run here while the few scalar draws stay in JS. Each
// kind of draw is made on one side only; log/cos/exp may differ from V8's in the last bit,
// which changes no rank's agreement with another (tested against the JS stream).
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

  // Uniform in (0, 1).
  double uniform() {
    const uint32_t c = counter_;
    counter_ += 2;
    const uint32_t a = fmix(key_ ^ ((c + 1) * 0x9e3779b1u));
    const uint32_t b = fmix(a ^ ((c + 2) * 0x85ebca77u));
    return (static_cast<double>(a >> 5) * 67108864.0 + static_cast<double>(b >> 6) + 0.5) / 9007199254740992.0;
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
  uint32_t seed_;
  uint32_t key_ = 0;
  uint32_t counter_ = 0;
};

}  // namespace fm
}  // namespace shoal
