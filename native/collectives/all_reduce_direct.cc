// One-host allReduce by direct reads (every rank on one host and the communicator agreed on
// transport/peer_memory.h at connect). Rank r owns slice r of the buffer:
//   step 0: every rank sends every peer the address of its buffer. After it, every rank is in
//           the op with its input in place.
//   reduce: rank r reduces slice r into its own buffer a segment at a time, reading each
//           peer's part of the segment straight out of the peer's buffer (process_vm_readv)
//           into a small scratch that stays in cache, and copies each finished segment (still
//           in cache) into its result slot (scratch slot 4).
//   step 1: every rank sends every peer the address of its result slot. After it, every
//           slice is reduced and nobody reads an input any more.
//   gather: rank r copies every other slice straight out of its owner's result slot into
//           its own buffer, and returns.
// Peers read our buffer only between steps 0 and 1, so it is the caller's again when we
// return. They read our result slot after that, even after we return, so no other algorithm
// uses the slot, and we grow or write it only after the next direct allReduce's step 0,
// which no peer passes before it has finished this op's gather.
//
// The steps' frames carry the usual op checks (ranks in different ops fail with
// MismatchError) and all waiting happens inside them, in the Link (dead peers, aborts,
// timeouts as for any step). A peer that dies while we read its memory fails the read
// (ESRCH: PeerLostError). A peer whose op failed after step 1 keeps its result slot until
// its engine is destroyed; a read after that fails (EFAULT: ERR_IO) unless the address was
// reused meanwhile, and then this op's bytes are wrong but the peer's abort fails our next op.
//
// Why: the ring passes every chunk through a shared ring, a copy in by the sender and a copy
// out by the receiver, 2(p-1) times per rank, and waits on its neighbours 2(p-1) times. Here
// a rank reads the others' inputs for its slice once and copies the other slices once (per
// rank (p-1)/p * n each way, plus n/p into the result slot) and waits twice. With more ranks
// than cores every wait may cost a wake-up behind another process (BENCHMARKS.md).
//
// Determinism: slice r is reduced by rank r alone, in a fixed order (its own values, then
// ranks r+1, r+2, ... around), and copied by everyone else: identical bits on every rank.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "collectives/context.h"
#include "collectives/even_split.h"

namespace shoal {
namespace collectives {

namespace {
void readFromPeer(const Context& c, int peer, uint64_t remote, void* local, size_t bytes) {
  if (bytes == 0) return;
  const int err = transport::readPeerMemory(c.peerMemory->pids[static_cast<size_t>(peer)], remote, local, bytes);
  if (err == 0) return;
  const std::string where = std::string(transport::opKindName(c.op.kind)) + " seq " + std::to_string(c.op.seq) + " on rank " +
                            std::to_string(c.rank());
  if (err == ESRCH) {
    throw Error(ErrorCode::kPeerLost, "rank " + std::to_string(peer) + " lost during " + where + ": its process is gone", peer);
  }
  throw Error(ErrorCode::kIo, where + ": reading rank " + std::to_string(peer) + "'s memory failed: " + std::strerror(err), peer);
}
}  // namespace

// Not at np 2: its ring is two steps, and direct reads measured no faster there.
bool directReadsUsable(const Context& c, size_t count) {
  if (c.group || !c.peerMemory || !c.peerMemory->enabled || c.size() < 3) return false;
  return count / static_cast<size_t>(c.size()) * c.elementBytes() >= c.tuning.directMinSliceBytes;
}

void allReduceDirect(Context& c, void* buf, size_t count) {
  const int p = c.size();
  const int r = c.rank();
  const size_t esz = c.elementBytes();
  const EvenSplit slices(count, static_cast<size_t>(p));
  uint8_t* data = static_cast<uint8_t*>(buf);
  const size_t sliceStart = slices.offset(static_cast<size_t>(r)) * esz;
  const size_t sliceBytes = slices.length(static_cast<size_t>(r)) * esz;

  std::vector<uint64_t> mine(static_cast<size_t>(p), reinterpret_cast<uint64_t>(buf));
  std::vector<uint64_t> inputs(static_cast<size_t>(p), 0);
  exchangeWords(c, 0, mine.data(), inputs.data());

  uint8_t* result = c.scratch.get(4, sliceBytes);  // only now: peers may read it until step 0
  const size_t segment = std::max(esz, c.tuning.segmentBytes / esz * esz);
  uint8_t* incoming = c.scratch.get(0, segment);
  for (size_t off = 0; off < sliceBytes; off += segment) {
    const size_t len = std::min(segment, sliceBytes - off);
    uint8_t* target = data + sliceStart + off;
    for (int k = 1; k < p; ++k) {
      const int q = (r + k) % p;
      readFromPeer(c, q, inputs[static_cast<size_t>(q)] + sliceStart + off, incoming, len);
      c.reduce(target, target, incoming, len / esz);
    }
    std::memcpy(result + off, target, len);
  }

  std::fill(mine.begin(), mine.end(), reinterpret_cast<uint64_t>(result));
  std::vector<uint64_t> results(static_cast<size_t>(p), 0);
  exchangeWords(c, 1, mine.data(), results.data());

  for (int k = 1; k < p; ++k) {
    const int q = (r + k) % p;
    const size_t start = slices.offset(static_cast<size_t>(q)) * esz;
    readFromPeer(c, q, results[static_cast<size_t>(q)], data + start, slices.length(static_cast<size_t>(q)) * esz);
  }
}

}  // namespace collectives
}  // namespace shoal
