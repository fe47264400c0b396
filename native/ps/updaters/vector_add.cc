#include "ps/updaters/vector_add.h"

#include <cstring>

namespace shoal::ps {

void applyVectorAdd(const UpdaterConfig&, uint32_t dim, float* row, const float* push) {
  // dim = 2k floats: k float64s into slots k..2k-1, which start at float dim of the row.
  for (uint32_t i = 0; i < dim; i += 2) {
    double g, add;
    std::memcpy(&g, row + dim + i, sizeof(g));
    std::memcpy(&add, push + i, sizeof(add));
    g += add;
    std::memcpy(row + dim + i, &g, sizeof(g));
  }
}

}  // namespace shoal::ps
