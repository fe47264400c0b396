// Ring reduceScatter with explicit counts (MPI_Reduce_scatter semantics): send holds
// sum(counts) elements split into p blocks, block i = counts[i] elements; afterwards rank r's
// recv holds op over all ranks of block r. `send` is not modified.
//
// In step s (0 <= s < p-1) rank r sends block (r-s-1) mod p to its right neighbour (its own
// input at s = 0, else the partial result it received in step s-1) and receives block
// (r-s-2) mod p from its left, which it combines with its own input of that block:
// partial = op(received, mine). The last step receives block r, which then holds all p
// contributions and is written straight into recv. Two scratch blocks alternate (one being
// sent, one being received). Cost: p-1 steps; rank r sends every block but its own
// (n - n_r bytes, n = the send buffer's bytes) and receives every block but block r-1
// (n - n_{r-1}), (p-1)/p · n each way for equal blocks, and reduces what it receives.
#include <cstring>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

void reduceScatter(Context& c, const void* send, void* recv, const std::vector<size_t>& counts) {
  const int p = c.size();
  const int r = c.rank();
  const size_t eb = c.elementBytes();
  std::vector<size_t> offset(static_cast<size_t>(p) + 1, 0);
  size_t largest = 0;
  for (int i = 0; i < p; ++i) {
    offset[static_cast<size_t>(i) + 1] = offset[static_cast<size_t>(i)] + counts[static_cast<size_t>(i)];
    largest = std::max(largest, counts[static_cast<size_t>(i)]);
  }
  const auto* in = static_cast<const uint8_t*>(send);
  auto mine = [&](int block) { return in + offset[static_cast<size_t>(block)] * eb; };
  auto bytesOf = [&](int block) { return counts[static_cast<size_t>(block)] * eb; };
  if (p == 1) {
    if (bytesOf(0) && recv != send) std::memmove(recv, send, bytesOf(0));
    return;
  }
  uint8_t* slot[2] = {c.scratch.get(0, largest * eb), c.scratch.get(1, largest * eb)};
  const int right = (r + 1) % p;
  const int left = (r - 1 + p) % p;
  for (int s = 0; s < p - 1; ++s) {
    const int sendBlock = (r - s - 1 + 2 * p) % p;
    const int recvBlock = (r - s - 2 + 2 * p) % p;
    const uint8_t* out = s == 0 ? mine(sendBlock) : slot[(s + 1) % 2];
    uint8_t* got = slot[s % 2];
    Xfer xs[2] = {
        Xfer::send(right, static_cast<uint16_t>(s), out, bytesOf(sendBlock)),
        Xfer::recv(left, static_cast<uint16_t>(s), got, bytesOf(recvBlock)),
    };
    c.run(xs, 2);
    const bool last = s == p - 2;  // recvBlock == r
    c.reduce(last ? recv : got, got, mine(recvBlock), counts[static_cast<size_t>(recvBlock)]);
  }
}

}  // namespace collectives
}  // namespace shoal
