// adagrad: per column, acc += g*g; w -= lr * g / (sqrt(acc) + eps). The accumulators live
// in the row after w (row = w[dim], acc[dim]) and start at 0.
#pragma once

#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

void applyAdagrad(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

}  // namespace shoal::ps
