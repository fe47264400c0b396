// JSON string values for the text the PS server hands to JS (stats, save results, status).
// Every string that may hold user or peer text (table names, file names, error messages) goes
// through jsonString; JSON.parse on the JS side must never fail on what we produce.
#pragma once

#include <string>

namespace shoal {
namespace psnet {

// `s` as a quoted JSON string: quotes, backslashes and control characters escaped, bytes
// that are not valid UTF-8 replaced by U+FFFD (JSON text must be UTF-8).
std::string jsonString(const std::string& s);

}  // namespace psnet
}  // namespace shoal
