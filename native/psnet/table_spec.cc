#include "psnet/table_spec.h"

#include <sstream>

#include "common/error.h"
#include "psnet/json.h"

namespace shoal {
namespace psnet {

std::string describeSpec(const TableSpec& s) {
  static const char* kModes[] = {"bsp", "ssp", "asp"};
  std::ostringstream o;
  o << "dim " << s.dim << ", updater " << (s.updater == kCustomUpdater ? "custom" : ps::updaterKindName(static_cast<ps::UpdaterKind>(s.updater))) << ", init "
    << ps::initKindName(static_cast<ps::InitKind>(s.init)) << ", consistency " << (s.consistency < 3 ? kModes[s.consistency] : "?");
  if (s.consistency == 1) o << " (staleness " << s.staleness << ")";
  if (s.vectorSlots != 0) o << ", " << static_cast<int>(s.vectorSlots) << " slots";
  return o.str();
}

void validateTableName(const std::string& name) {
  const auto allowed = [](unsigned char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (!first && (c == '.' || c == ':' || c == '-'));
  };
  bool ok = !name.empty() && name.size() <= kMaxTableNameBytes;
  for (size_t i = 0; ok && i < name.size(); ++i) ok = allowed(static_cast<unsigned char>(name[i]), i == 0);
  if (ok) return;
  // The name is quoted as JSON so control characters and quotes show as escapes.
  const std::string shown = name.size() > kMaxTableNameBytes ? jsonString(name.substr(0, kMaxTableNameBytes)) + "..." : jsonString(name);
  throw Error(ErrorCode::kInvalidArgument, "invalid table name " + shown + " (" + std::to_string(name.size()) +
                                               " bytes): a table name is 1.." + std::to_string(kMaxTableNameBytes) +
                                               " characters of [A-Za-z0-9_.:-], starting with a letter, digit or '_'");
}

}  // namespace psnet
}  // namespace shoal
