// Ring allGatherv: recv = concat(send of rank 0, ..., send of rank p-1) where rank i sends
// counts[i] elements (counts may differ and may be 0; every rank passes the same counts).
//
// Same schedule as the ring allGather: each rank copies its own block into place, then in
// step s (0 <= s < p-1) forwards block (r-s) mod p to its right neighbour and receives block
// (r-s-1) mod p from its left, straight into recv. Cost: p-1 steps; each rank receives
// N - n_r bytes and sends N - n_{r+1} (N = all blocks' bytes). allGathervBytes is the byte-
// level core, also used by sparseAllReduce to gather the owners' results.
#include <cstring>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

void allGathervBytes(Context& c, uint16_t firstStep, const void* send, uint8_t* recv, const std::vector<size_t>& bytes) {
  const int p = c.size();
  const int r = c.rank();
  std::vector<size_t> offset(static_cast<size_t>(p), 0);
  for (int i = 1; i < p; ++i) offset[static_cast<size_t>(i)] = offset[static_cast<size_t>(i) - 1] + bytes[static_cast<size_t>(i) - 1];
  uint8_t* mine = recv + offset[static_cast<size_t>(r)];
  if (bytes[static_cast<size_t>(r)] && mine != send) std::memmove(mine, send, bytes[static_cast<size_t>(r)]);
  const int right = (r + 1) % p;
  const int left = (r - 1 + p) % p;
  for (int s = 0; s < p - 1; ++s) {
    const auto sendIdx = static_cast<size_t>((r - s + 2 * p) % p);
    const auto recvIdx = static_cast<size_t>((r - s - 1 + 2 * p) % p);
    const auto step = static_cast<uint16_t>(firstStep + s);
    Xfer xs[2] = {
        Xfer::send(right, step, recv + offset[sendIdx], bytes[sendIdx]),
        Xfer::recv(left, step, recv + offset[recvIdx], bytes[recvIdx]),
    };
    c.run(xs, 2);
  }
}

void allGatherv(Context& c, const void* send, void* recv, const std::vector<size_t>& counts) {
  std::vector<size_t> bytes(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) bytes[i] = counts[i] * c.elementBytes();
  allGathervBytes(c, 0, send, static_cast<uint8_t*>(recv), bytes);
}

}  // namespace collectives
}  // namespace shoal
