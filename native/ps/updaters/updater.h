// The server-side updaters: how one key's push changes its stored row. One file per
// updater; ShardStore looks the function up once per push call and calls it per key.
//
// Row layout (rowFloatsPerKey floats, see table_config.h):
//   assign, add, sgd: w[dim]
//   adagrad:          w[dim], acc[dim]
//   ftrl:             z[dim], n[dim]   (no w: it is computed from z and n at pull time)
//   vector:           vectorSlots float64 slots (ps/vector_program.h); pull reads slots 0..k-1 (dim = 2k)
// Push layout (pushFloatsPerKey floats): g[dim], except ftrl: dz[dim], dn[dim].
// All arithmetic is float32, in column order, so a JS reference using Math.fround matches.
#pragma once

#include <cstdint>  // for uint32_t

#include "ps/table_config.h"

namespace shoal::ps {

using ApplyFn = void (*)(const UpdaterConfig& config, uint32_t dim, float* row, const float* push);

// The apply function for `kind` (never null for a validated config).
ApplyFn applyFnFor(UpdaterKind kind);

}  // namespace shoal::ps
