// Ring allGather: recv = concat(send of rank 0, ..., send of rank p-1).
//
// Each rank copies its own block into place, then in step s (0 <= s < p-1) sends block
// (r-s) mod p to its right neighbour and receives block (r-s-1) mod p from its left,
// straight into the caller's receive buffer. Cost: p-1 steps; each rank sends and
// receives (p-1) * n bytes.
#include <cstring>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

void allGather(Context& c, const void* send, void* recv, size_t count) {
  if (c.useHierarchy()) return allGatherHierarchical(c, send, recv, count);
  const int p = c.size();
  const int r = c.rank();
  const size_t block = count * c.elementBytes();
  uint8_t* out = static_cast<uint8_t*>(recv);
  uint8_t* mine = out + static_cast<size_t>(r) * block;
  if (block && mine != send) std::memmove(mine, send, block);
  if (p == 1) return;
  const int right = (r + 1) % p;
  const int left = (r - 1 + p) % p;
  for (int s = 0; s < p - 1; ++s) {
    const size_t sendIdx = static_cast<size_t>((r - s + 2 * p) % p);
    const size_t recvIdx = static_cast<size_t>((r - s - 1 + 2 * p) % p);
    Xfer xs[2] = {
        Xfer::send(right, static_cast<uint16_t>(s), out + sendIdx * block, block),
        Xfer::recv(left, static_cast<uint16_t>(s), out + recvIdx * block, block),
    };
    c.run(xs, 2);
  }
}

}  // namespace collectives
}  // namespace shoal
