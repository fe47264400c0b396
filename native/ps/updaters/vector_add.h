// vector: a push adds k = dim/2 float64s (each carried in two floats' bytes) into slots
// k..2k-1 of the row; k = 1: slot 1, the gradient slot of a vector table (ps/vector_program.h). Workers push their rows' partial
// gradients; the servers sum them in float64, so the sum does not lose the dense path's bits.
#pragma once

#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

void applyVectorAdd(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

}  // namespace shoal::ps
