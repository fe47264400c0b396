#include "ps/updaters/sgd.h"

namespace shoal::ps {

void applySgd(const UpdaterConfig& config, uint32_t dim, float* row, const float* push) {
  const float lr = config.lr;
  for (uint32_t j = 0; j < dim; ++j) row[j] -= lr * push[j];
}

}  // namespace shoal::ps
