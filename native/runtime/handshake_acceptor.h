// Accepts connections on a listening socket and runs their handshakes side by side on the
// caller's poll loop (the PS server's I/O thread, a rank's rendezvous). Unauthenticated
// connections are bounded in number and time: at most maxPending at once (a new one evicts
// the oldest) and each for at most timeoutMs, so strangers that connect and stay silent, or
// trickle garbage, never delay an honest peer's handshake or anyone's requests.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/handshake.h"

namespace shoal {
namespace runtime {

struct AcceptorConfig {
  std::string token;
  uint32_t commId = 0;
  int rank = 0;
  int size = 1;
  std::function<bool(int)> acceptPeer;  // null: the collectives' rule (higher ranks only)
  int64_t timeoutMs = 10000;            // per unauthenticated connection
  size_t maxPending = 64;
};

class HandshakeAcceptor {
 public:
  struct Accepted {
    int fd;     // the caller's now (non-blocking)
    int peer;   // authenticated rank
    std::string from;
  };

  HandshakeAcceptor(int listenFd, AcceptorConfig config) : listenFd_(listenFd), config_(std::move(config)) {}
  ~HandshakeAcceptor();  // closes the pending connections (not the listener)
  HandshakeAcceptor(const HandshakeAcceptor&) = delete;
  HandshakeAcceptor& operator=(const HandshakeAcceptor&) = delete;

  // Appends the listener and every pending connection to the caller's poll set.
  void addPollFds(std::vector<pollfd>* fds) const;
  // Never waits: accepts what is queued, advances every handshake, drops expired ones.
  std::vector<Accepted> step();

  size_t pending() const { return pending_.size(); }
  size_t rejected() const { return rejected_; }
  const std::string& lastRejection() const { return lastRejection_; }

 private:
  struct Pending {
    int fd;
    std::string from;
    std::chrono::steady_clock::time_point deadline;
    std::unique_ptr<ServerHandshake> handshake;
  };
  void acceptQueued();
  void reject(Pending& p, const std::string& why);

  int listenFd_;
  AcceptorConfig config_;
  std::deque<Pending> pending_;  // oldest first
  size_t rejected_ = 0;
  std::string lastRejection_;
};

}  // namespace runtime
}  // namespace shoal
