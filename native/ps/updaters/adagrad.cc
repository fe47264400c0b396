#include "ps/updaters/adagrad.h"

#include <cmath>

namespace shoal::ps {

void applyAdagrad(const UpdaterConfig& config, uint32_t dim, float* row, const float* push) {
  float* w = row;
  float* acc = row + dim;
  const float lr = config.lr;
  const float eps = config.eps;
  for (uint32_t j = 0; j < dim; ++j) {
    const float g = push[j];
    acc[j] += g * g;
    w[j] -= lr * g / (std::sqrt(acc[j]) + eps);
  }
}

}  // namespace shoal::ps
