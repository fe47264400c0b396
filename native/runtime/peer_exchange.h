// One fixed-size message to every peer and one back from each, over the TCP connections, while
// a communicator connects (host keys, the peer-memory probe). Small writes to every peer first,
// then the reads, so no rank waits on one that is itself waiting.
#pragma once

#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/error.h"
#include "transport/link.h"
#include "transport/socket.h"

namespace shoal {
namespace runtime {

// got[j] is what rank j sent (got[rank] = mine). Every message must start with uint32_t `magic`;
// one that does not fails with kIo naming the rank and `what`.
template <typename Message>
std::vector<Message> exchangeWithPeers(transport::Link& link, const Message& mine, uint32_t magic, const char* what,
                                       const Deadline& deadline) {
  const int rank = link.rank();
  auto& peers = link.peers();
  for (int j = 0; j < link.size(); ++j) {
    if (j != rank) transport::writeAll(peers[static_cast<size_t>(j)].fd, &mine, sizeof(mine), deadline, what);
  }
  std::vector<Message> got(static_cast<size_t>(link.size()), mine);
  for (int j = 0; j < link.size(); ++j) {
    if (j == rank) continue;
    Message& m = got[static_cast<size_t>(j)];
    transport::readAll(peers[static_cast<size_t>(j)].fd, &m, sizeof(m), deadline, what);
    if (m.magic != magic) throw Error(ErrorCode::kIo, "rank " + std::to_string(j) + " sent a malformed " + what, j);
  }
  return got;
}

}  // namespace runtime
}  // namespace shoal
