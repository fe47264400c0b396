// sgd: w -= lr * g, with the gradient pushed by the worker.
#pragma once

#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

void applySgd(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

}  // namespace shoal::ps
