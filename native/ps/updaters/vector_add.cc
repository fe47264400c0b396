#include "ps/updaters/vector_add.h"

#include <cstring>

namespace shoal::ps {

void applyVectorAdd(const UpdaterConfig&, uint32_t, float* row, const float* push) {
  double g, add;
  std::memcpy(&g, row + 2, sizeof(g));
  std::memcpy(&add, push, sizeof(add));
  g += add;
  std::memcpy(row + 2, &g, sizeof(g));
}

}  // namespace shoal::ps
