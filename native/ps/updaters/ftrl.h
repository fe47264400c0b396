// FTRL-Proximal, split the KunPeng way: workers compute the per-coordinate deltas of z and
// n (dz = g - sigma*w, dn = g*g) and push them; the server only merges them (z += dz,
// n += dn). The row stores z[dim], n[dim] and no w: w is derived from z and n whenever
// it is pulled, so it is never stale and costs no memory:
//   w = 0                                                if |z| <= l1
//   w = -(z - sign(z) * l1) / ((beta + sqrt(n)) / alpha + l2)   otherwise.
#pragma once

#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

void applyFtrl(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

// w[dim] from a stored row z[dim], n[dim]. A negative n (only if workers pushed negative
// dn) is read as 0 rather than producing NaN.
void ftrlWeights(const UpdaterConfig& config, uint32_t dim, const float* row, float* w);

}  // namespace shoal::ps
