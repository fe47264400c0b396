// Ranks learn which of them share a host: each sends its host key to every peer right after
// the connections are authenticated, so every rank builds the same table (collectives/
// topology.h) and the hierarchical collectives are chosen identically everywhere.
#pragma once

#include <string>

#include "collectives/topology.h"
#include "common/deadline.h"
#include "common/sha256.h"
#include "transport/link.h"

namespace shoal {
namespace runtime {

// This process's host key: SHA-256 of `override` when not empty (SHOAL_HOST_ID), else of the
// boot id, the network namespace and the uid (network namespaces on one machine count as
// hosts: they do not share addresses, and the multi-host tests make hosts of them).
Digest localHostKey(const std::string& override);

// Sends `key` to every peer of `link` and reads theirs (small writes first, then the reads, so
// no rank waits on one that is itself waiting). Throws kIo/kTimeout like the handshake.
collectives::Topology exchangeHostKeys(transport::Link& link, const Digest& key, const Deadline& deadline);

}  // namespace runtime
}  // namespace shoal
