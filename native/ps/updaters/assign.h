// assign: w = g. The push replaces the row (model loading, externally computed values).
#pragma once

#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

void applyAssign(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

}  // namespace shoal::ps
