// Which data channel each pair of ranks uses: TCP, or shared memory (transport/shm_pipe.h)
// when both ranks run on one host. Decided per pair after every connection of the
// communicator is authenticated, over those connections, so a process that has not proven
// the job secret never learns a segment's name.
#pragma once

#include <cstddef>
#include <string>

#include "common/deadline.h"
#include "transport/link.h"

namespace shoal {
namespace runtime {

enum class TransportMode {
  kAuto,  // shared memory with peers on this host (same boot id and the segment opens), else TCP
  kTcp,   // TCP everywhere
  kShm,   // shared memory with every peer; connect fails if a peer cannot open the segment
};

// "auto" | "tcp" | "shm"; throws kInvalidArgument otherwise.
TransportMode parseTransportMode(const std::string& s);

// The ring size (per direction per same-host pair) when none is configured: 4 MiB among up to
// 4 ranks, halved as the job grows so all rings of a one-host job stay within 48 MiB of
// /dev/shm, never below 1 MiB. A 16 MiB allReduce at np 4 spends less time waiting on full
// rings with 4 MiB than with 1 MiB (BENCHMARKS.md).
size_t defaultRingBytes(int size);

// Runs the exchange with every peer of `link` (all connected): the lower rank of each pair
// offers a segment, the higher one opens it or declines, and both attach it on success.
// Every rank must call it with the same ring size; throws kIo/kTimeout on failure.
void selectTransports(transport::Link& link, TransportMode mode, size_t ringBytes, const Deadline& deadline);

}  // namespace runtime
}  // namespace shoal
