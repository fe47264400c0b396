// Initial rows. A row's initial value is a pure function of (init.seed, key, column): any
// server that creates the row, at any time, after any migration or failover, produces the
// same bits, so replicas and restarted shards agree without shipping never-pushed rows.
#pragma once

#include <cstdint>  // for uint32_t, uint64_t

#include "ps/table_config.h"

namespace shoal::ps {

// The initial value of column j of `key`. normal: Box-Muller on two splitmix64 draws, the
// cos output for even j and the sin output for odd j of the same pair; uniform:
// low + (high - low) * u with u from 24 random bits, so it lies in [low, high].
float initialValue(const InitConfig& init, uint64_t key, uint32_t j);

// Writes a fresh row of rowFloatsPerKey(config) floats: dim initial values then zeroed
// state. FTRL rows are all zeros (z = n = 0), whatever the init config says.
void initRow(const TableConfig& config, uint64_t key, float* row);

}  // namespace shoal::ps
