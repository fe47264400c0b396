#include "ps/updaters/add.h"

namespace shoal::ps {

void applyAdd(const UpdaterConfig&, uint32_t dim, float* row, const float* push) {
  for (uint32_t j = 0; j < dim; ++j) row[j] += push[j];
}

}  // namespace shoal::ps
