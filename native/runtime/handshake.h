// The connection handshake: both ends prove they hold the job secret (HMAC-SHA256 over
// fresh nonces from each side, so nothing replayable and never the secret itself crosses
// the wire) and agree on communicator, ranks and world size before any data flows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/deadline.h"

namespace shoal {
namespace runtime {

struct HandshakeIdentity {
  const std::string& token;
  uint32_t commId;
  int rank;
  int size;
};

// Connector side: we are `self.rank` connecting to `peer`. Throws kAuth or kIo.
void handshakeAsClient(int fd, const HandshakeIdentity& self, int peer, const Deadline& deadline);
// Acceptor side: returns the authenticated peer's rank. Throws on anything unexpected.
// `acceptPeer` says which ranks may dial us; by default (collectives) only higher ranks of
// the same communicator.
int handshakeAsServer(int fd, const HandshakeIdentity& self, const Deadline& deadline,
                      const std::function<bool(int)>& acceptPeer = nullptr);

}  // namespace runtime
}  // namespace shoal
