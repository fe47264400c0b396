#include "ps/row_init.h"

#include <cmath>
#include <cstring>

#include "ps/mix64.h"

namespace shoal::ps {

namespace {

// Two independent 64-bit draws per (seed, key, index): the key and the seed each go through
// a full mix before they meet, so nearby keys or seeds give unrelated streams.
inline uint64_t draw(uint64_t stream, uint64_t index, uint32_t which) {
  return mix64(stream + (2 * index + which + 1) * kGolden);
}

inline uint64_t streamOf(const InitConfig& init, uint64_t key) { return mix64(key ^ mix64(init.seed + kInitSalt)); }

inline float uniformAt(const InitConfig& init, uint64_t stream, uint32_t j) {
  const double u = static_cast<double>(draw(stream, j, 0) >> 40) * 0x1.0p-24;  // [0, 1)
  return static_cast<float>(init.low + (static_cast<double>(init.high) - init.low) * u);
}

// Box-Muller yields two independent normals per pair of draws: columns 2m and 2m+1 share
// pair m (cos and sin), which halves the log/sqrt/trig work of initialising a wide row.
// Double precision so the tails are not truncated; u1 in (0, 1] keeps log() finite.
inline void normalPair(const InitConfig& init, uint64_t stream, uint32_t m, float* even, float* odd) {
  const double u1 = static_cast<double>((draw(stream, m, 0) >> 11) + 1) * 0x1.0p-53;
  const double u2 = static_cast<double>(draw(stream, m, 1) >> 11) * 0x1.0p-53;
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * M_PI * u2;
  *even = static_cast<float>(init.mean + init.std * (r * std::cos(theta)));
  if (odd != nullptr) *odd = static_cast<float>(init.mean + init.std * (r * std::sin(theta)));
}

}  // namespace

float initialValue(const InitConfig& init, uint64_t key, uint32_t j) {
  switch (init.kind) {
    case InitKind::kZeros: return 0.0f;
    case InitKind::kUniform: return uniformAt(init, streamOf(init, key), j);
    case InitKind::kNormal: {
      float even = 0, odd = 0;
      normalPair(init, streamOf(init, key), j / 2, &even, &odd);
      return j % 2 == 0 ? even : odd;
    }
  }
  return 0.0f;
}

void initRow(const TableConfig& config, uint64_t key, float* row) {
  const uint32_t rowFloats = rowFloatsPerKey(config);
  const InitConfig& init = config.init;
  if (config.updater.kind == UpdaterKind::kFtrl || init.kind == InitKind::kZeros) {
    std::memset(row, 0, rowFloats * sizeof(float));
    return;
  }
  const uint32_t dim = config.dim;
  const uint64_t stream = streamOf(init, key);
  if (init.kind == InitKind::kUniform) {
    for (uint32_t j = 0; j < dim; ++j) row[j] = uniformAt(init, stream, j);
  } else {
    for (uint32_t j = 0; j < dim; j += 2) normalPair(init, stream, j / 2, &row[j], j + 1 < dim ? &row[j + 1] : nullptr);
  }
  std::memset(row + dim, 0, (rowFloats - dim) * sizeof(float));
}

}  // namespace shoal::ps
