// Ring allReduce: reduce-scatter then allgather around a ring (bandwidth-optimal).
//
// The buffer is cut into p chunks (p = ranks). In reduce-scatter step s (0 <= s < p-1)
// rank r sends chunk (r-s) mod p to its right neighbour and receives chunk (r-s-1) mod p
// from its left, reducing it into its own copy; after p-1 steps rank r holds the full
// reduction of chunk (r+1) mod p. The allgather passes the finished chunks around the ring
// in p-1 more steps, written straight into the caller's buffer.
//
// Overlap: a step's receive lands in scratch and is reduced segment by segment (Tuning::
// segmentBytes) as it arrives, while the kernel keeps receiving the rest and the send to the
// right runs in the same progress loop.
//
// Determinism: chunk c is accumulated in one fixed order (ranks c, c+1, ..., c-1, incoming
// partial sum first) by exactly one rank and then copied, so every rank ends with identical bits.
//
// Cost: 2(p-1) steps; each rank sends and receives 2(p-1)/p * n bytes; reduces (p-1)/p * n.
#include <algorithm>

#include "collectives/context.h"
#include "collectives/even_split.h"

namespace shoal {
namespace collectives {

void allReduceRing(Context& c, void* buf, size_t count) {
  const int p = c.size();
  const int r = c.rank();
  const size_t esz = c.elementBytes();
  const EvenSplit chunks(count, static_cast<size_t>(p));
  const int right = (r + 1) % p;
  const int left = (r - 1 + p) % p;
  uint8_t* data = static_cast<uint8_t*>(buf);
  uint8_t* incoming = c.scratch.get(0, chunks.length(0) * esz);
  const size_t segment = std::max(esz, c.tuning.segmentBytes / esz * esz);

  for (int s = 0; s < p - 1; ++s) {
    const size_t sendIdx = static_cast<size_t>((r - s + 2 * p) % p);
    const size_t recvIdx = static_cast<size_t>((r - s - 1 + 2 * p) % p);
    uint8_t* target = data + chunks.offset(recvIdx) * esz;
    Xfer xs[2] = {
        Xfer::send(right, static_cast<uint16_t>(s), data + chunks.offset(sendIdx) * esz, chunks.length(sendIdx) * esz),
        Xfer::recv(left, static_cast<uint16_t>(s), incoming, chunks.length(recvIdx) * esz),
    };
    xs[1].segmentBytes = segment;
    xs[1].onSegment = [&](size_t off, size_t len) { c.reduce(target + off, incoming + off, target + off, len / esz); };
    c.run(xs, 2);
  }
  for (int s = 0; s < p - 1; ++s) {
    const size_t sendIdx = static_cast<size_t>((r + 1 - s + 2 * p) % p);
    const size_t recvIdx = static_cast<size_t>((r - s + 2 * p) % p);
    const uint16_t step = static_cast<uint16_t>(p - 1 + s);
    Xfer xs[2] = {
        Xfer::send(right, step, data + chunks.offset(sendIdx) * esz, chunks.length(sendIdx) * esz),
        Xfer::recv(left, step, data + chunks.offset(recvIdx) * esz, chunks.length(recvIdx) * esz),
    };
    c.run(xs, 2);
  }
}

}  // namespace collectives
}  // namespace shoal
