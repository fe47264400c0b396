// A string as a JSON string literal, for the small JSON texts servers send back (restore
// status, save results): quotes and backslashes escaped, control bytes shown as spaces.
#pragma once

#include <string>

namespace shoal {
namespace psnet {

inline std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace psnet
}  // namespace shoal
