// adagrad: per column, acc += g*g; w -= lr * g / (sqrt(acc) + eps). The accumulators live
// in the row after w (row = w[dim], acc[dim]) and start at 0.
#pragma once

#include <cmath>    // for std::sqrt
#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

// Inline so the shard store's push loop can use it without a call per key (the common
// updater; the others go through ApplyFn).
inline void adagradRow(float lr, float eps, uint32_t dim, float* row, const float* push) {
  float* w = row;
  float* acc = row + dim;
  for (uint32_t j = 0; j < dim; ++j) {
    const float g = push[j];
    acc[j] += g * g;
    w[j] -= lr * g / (std::sqrt(acc[j]) + eps);
  }
}

void applyAdagrad(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

}  // namespace shoal::ps
