#include "ps/row_init.h"

#include <cmath>
#include <cstring>

#include "ps/mix64.h"

namespace shoal::ps {

namespace {

// Two independent 64-bit draws per (seed, key, column): the key and the seed each go
// through a full mix before they meet, so nearby keys or seeds give unrelated streams.
inline uint64_t draw(const InitConfig& init, uint64_t key, uint32_t j, uint32_t which) {
  const uint64_t stream = mix64(key ^ mix64(init.seed + kInitSalt));
  return mix64(stream + (2 * static_cast<uint64_t>(j) + which + 1) * kGolden);
}

}  // namespace

float initialValue(const InitConfig& init, uint64_t key, uint32_t j) {
  switch (init.kind) {
    case InitKind::kZeros: return 0.0f;
    case InitKind::kUniform: {
      const double u = static_cast<double>(draw(init, key, j, 0) >> 40) * 0x1.0p-24;  // [0, 1)
      return static_cast<float>(init.low + (static_cast<double>(init.high) - init.low) * u);
    }
    case InitKind::kNormal: {
      // u1 in (0, 1] keeps log() finite; double precision so the tails are not truncated.
      const double u1 = static_cast<double>((draw(init, key, j, 0) >> 11) + 1) * 0x1.0p-53;
      const double u2 = static_cast<double>(draw(init, key, j, 1) >> 11) * 0x1.0p-53;
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      return static_cast<float>(init.mean + init.std * z);
    }
  }
  return 0.0f;
}

void initRow(const TableConfig& config, uint64_t key, float* row) {
  const uint32_t rowFloats = rowFloatsPerKey(config);
  if (config.updater.kind == UpdaterKind::kFtrl || config.init.kind == InitKind::kZeros) {
    std::memset(row, 0, rowFloats * sizeof(float));
    return;
  }
  for (uint32_t j = 0; j < config.dim; ++j) row[j] = initialValue(config.init, key, j);
  std::memset(row + config.dim, 0, (rowFloats - config.dim) * sizeof(float));
}

}  // namespace shoal::ps
