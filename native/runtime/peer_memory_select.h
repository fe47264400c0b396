// Whether the ranks of a communicator read each other's buffers directly (transport/
// peer_memory.h), agreed by all of them right after the host table is known: every rank
// decides alike, or ranks would run different allReduce algorithms.
#pragma once

#include "collectives/topology.h"
#include "common/deadline.h"
#include "transport/link.h"
#include "transport/peer_memory.h"

namespace shoal {
namespace runtime {

// Only when every rank is on one host (the table every rank holds); otherwise no message is
// sent. Then two rounds with every peer over TCP: (1) each rank tells its pid and the address
// and value of a random probe; each reads every peer's probe with process_vm_readv; (2) each
// tells whether it wants direct reads (`wanted`: SHOAL_DIRECT_READS), reaches every peer by
// shared memory and read every probe back intact. Enabled only if every rank said yes.
// Throws kIo/kTimeout like the handshake.
transport::PeerMemory selectPeerMemory(transport::Link& link, bool wanted, const collectives::Topology& topology,
                                       const Deadline& deadline);

}  // namespace runtime
}  // namespace shoal
