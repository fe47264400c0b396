// add: w += g. Workers that run their own optimizer push deltas (also counters, sums).
#pragma once

#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

void applyAdd(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

}  // namespace shoal::ps
