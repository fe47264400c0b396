// Converting the wire TableSpec to the store's TableConfig, and the consistency model.
#pragma once

#include <string>

#include "ps/table_config.h"
#include "psnet/protocol.h"

namespace shoal {
namespace psnet {

enum class Consistency : uint8_t { kBsp = 0, kSsp = 1, kAsp = 2 };

inline ps::TableConfig toTableConfig(const TableSpec& s) {
  ps::TableConfig c;
  c.dim = s.dim;
  // A user-defined updater computes new rows in JS; the store then just assigns them.
  c.updater.kind = s.updater == kCustomUpdater ? ps::UpdaterKind::kAssign : static_cast<ps::UpdaterKind>(s.updater);
  c.updater.lr = s.lr;
  c.updater.eps = s.eps;
  c.updater.alpha = s.alpha;
  c.updater.beta = s.beta;
  c.updater.l1 = s.l1;
  c.updater.l2 = s.l2;
  c.updater.vectorSlots = s.vectorSlots;
  c.init.kind = static_cast<ps::InitKind>(s.init);
  c.init.mean = s.initMean;
  c.init.std = s.initStd;
  c.init.low = s.initLow;
  c.init.high = s.initHigh;
  c.init.seed = s.initSeed;
  return c;
}

// How many clocks a pull may run ahead of the slowest worker; -1 means unbounded (ASP).
inline int64_t stalenessOf(const TableSpec& s) {
  switch (static_cast<Consistency>(s.consistency)) {
    case Consistency::kBsp: return 0;
    case Consistency::kSsp: return s.staleness;
    case Consistency::kAsp: return -1;
  }
  return -1;
}

// Specs are equal when every field that changes behaviour is equal.
inline bool sameSpec(const TableSpec& a, const TableSpec& b) {
  return a.dim == b.dim && a.updater == b.updater && a.customUpdater == b.customUpdater && a.init == b.init && a.consistency == b.consistency &&
         a.staleness == b.staleness && a.lr == b.lr && a.eps == b.eps && a.alpha == b.alpha && a.beta == b.beta &&
         a.l1 == b.l1 && a.l2 == b.l2 && a.initMean == b.initMean && a.initStd == b.initStd && a.initLow == b.initLow &&
         a.initHigh == b.initHigh && a.initSeed == b.initSeed && a.vectorSlots == b.vectorSlots;
}

std::string describeSpec(const TableSpec& s);

// Table names: 1..kMaxTableNameBytes characters of [A-Za-z0-9_.:-], not starting with '.',
// ':' or '-' (docs/parameter_server.md). Names end up in stats JSON, logs and snapshot file
// names, so nothing else is accepted. Throws kInvalidArgument naming the table.
constexpr size_t kMaxTableNameBytes = 128;
void validateTableName(const std::string& name);

}  // namespace psnet
}  // namespace shoal
