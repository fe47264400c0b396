#include "ps/updaters/ftrl.h"

#include <cmath>

namespace shoal::ps {

void applyFtrl(const UpdaterConfig&, uint32_t dim, float* row, const float* push) {
  for (uint32_t j = 0; j < 2 * dim; ++j) row[j] += push[j];
}

void ftrlWeights(const UpdaterConfig& config, uint32_t dim, const float* row, float* w) {
  const float* z = row;
  const float* n = row + dim;
  for (uint32_t j = 0; j < dim; ++j) {
    const float zj = z[j];
    if (std::fabs(zj) <= config.l1) {
      w[j] = 0.0f;
      continue;
    }
    const float shrunk = zj - std::copysign(config.l1, zj);
    const float denom = (config.beta + std::sqrt(std::fmax(n[j], 0.0f))) / config.alpha + config.l2;
    w[j] = -shrunk / denom;
  }
}

}  // namespace shoal::ps
