// Fault injection's server rule kill:server=K:request=N (lib/fault_injection.ts, passed in by
// lib/ps/server_main.ts): the server SIGKILLs itself when its N-th request arrives (1 = the
// first; requests from workers and other servers alike), before handling it, like a crash.
#pragma once

#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <string>

namespace shoal {
namespace psnet {

inline void killAtRequest(uint64_t killAt, uint64_t request, int rank, const char* what) {
  if (killAt == 0 || request != killAt) return;
  // Written synchronously, so the line is out before the signal.
  const std::string line = "[shoal inject] parameter server " + std::to_string(rank) + ": kill at request " + std::to_string(request) + " (" + what + ")\n";
  if (::write(2, line.data(), line.size()) < 0) { /* stderr closed: die anyway */ }
  ::raise(SIGKILL);
}

// kill:server=K:request=N:unreplicated=M: from request N - M on, the server's push forwards
// are not sent (lost, as if still in its buffers when it dies at request N).
inline bool forwardsDropped(uint64_t from, uint64_t request) { return from != 0 && request >= from; }

}  // namespace psnet
}  // namespace shoal
