// Errors of the native core. Code on the comm thread throws shoal::Error; the engine
// catches it at the op boundary and hands a Status to the binding, so no exception ever
// crosses a thread or reaches N-API.
#pragma once

#include <stdexcept>
#include <string>

namespace shoal {

// Same names and order as lib/errors.ts ErrorCode.
enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kInvalidUsage = 2,
  kMismatch = 3,
  kTimeout = 4,
  kIo = 5,
  kPeerLost = 6,
  kAborted = 7,
  kAuth = 8,
  kInternal = 9,
};

inline const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "ERR_INVALID_ARGUMENT";
    case ErrorCode::kInvalidUsage: return "ERR_INVALID_USAGE";
    case ErrorCode::kMismatch: return "ERR_MISMATCH";
    case ErrorCode::kTimeout: return "ERR_TIMEOUT";
    case ErrorCode::kIo: return "ERR_IO";
    case ErrorCode::kPeerLost: return "ERR_PEER_LOST";
    case ErrorCode::kAborted: return "ERR_ABORTED";
    case ErrorCode::kAuth: return "ERR_AUTH";
    case ErrorCode::kInternal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, int peer = -1)
      : std::runtime_error(message), code_(code), peer_(peer) {}
  ErrorCode code() const { return code_; }
  // The other rank involved (lost peer, disagreeing rank), or -1.
  int peer() const { return peer_; }

 private:
  ErrorCode code_;
  int peer_;
};

// The outcome of one op as the binding sees it.
struct Status {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  int peer = -1;
  bool ok() const { return code == ErrorCode::kOk; }
};

}  // namespace shoal
