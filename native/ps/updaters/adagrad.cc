#include "ps/updaters/adagrad.h"

namespace shoal::ps {

void applyAdagrad(const UpdaterConfig& config, uint32_t dim, float* row, const float* push) {
  adagradRow(config.lr, config.eps, dim, row, push);
}

}  // namespace shoal::ps
