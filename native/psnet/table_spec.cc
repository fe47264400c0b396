#include "psnet/table_spec.h"

#include <sstream>

namespace shoal {
namespace psnet {

std::string describeSpec(const TableSpec& s) {
  static const char* kModes[] = {"bsp", "ssp", "asp"};
  std::ostringstream o;
  o << "dim " << s.dim << ", updater " << (s.updater == kCustomUpdater ? "custom" : ps::updaterKindName(static_cast<ps::UpdaterKind>(s.updater))) << ", init "
    << ps::initKindName(static_cast<ps::InitKind>(s.init)) << ", consistency " << (s.consistency < 3 ? kModes[s.consistency] : "?");
  if (s.consistency == 1) o << " (staleness " << s.staleness << ")";
  return o.str();
}

}  // namespace psnet
}  // namespace shoal
