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
//           its own buffer.
//   step 2: "done reading" to every peer. After it, nobody reads our buffer or slot: the op
//           returns, and the caller may free or reuse the buffer at once.
//
// Lending (transport::ReadState, published at connect): from before step 0 until it returns,
// a rank's `lending` word says "my memory is yours for op seq" (its key + seq); when its reads
// end (done or given up) its `readsDone` word says so. Two rules make a released buffer
// harmless:
//   - No rank returns, success or failure, while a live peer may still read its memory. A
//     failing rank (an error, a timeout, an abort from JS) stops reading, tells every peer at
//     once (abort frames: a peer waiting on it in a step fails instead of waiting out its
//     deadline), and then waits until each peer's readsDone passes this op, or it is not in
//     this op, or its process or connection is gone, before it gives its memory back. A rank
//     in a step fails as soon as it sees the abort, so this takes as long as a peer's current
//     phase of reads. (A peer that enters the op only later fails its lending check below.)
//   - That wait is bounded (kStopWaitMs): a live peer that is stopped or starved for longer
//     may read our memory after we gave it back. So every rank, after its last read and
//     before it may succeed, reads every peer's `lending` word again: anything but that
//     peer's key + seq fails the op, since what was read may be someone else's bytes. (The
//     peer clears the word before its buffer is handed back, and our reads come before our
//     check: bytes we read from a reused buffer imply we see the cleared word. A freed and
//     reused ReadState holds the random key + seq with negligible probability.)
// The result slot is written only after the next direct allReduce's step 0, which no peer
// passes before it finished this op's step 2.
//
// The steps' frames carry the usual op checks (ranks in different ops fail with
// MismatchError) and all waiting in them happens in the Link (dead peers, aborts, timeouts as
// for any step). A peer that dies while we read its memory fails the read (ESRCH:
// PeerLostError).
//
// Why: the ring passes every chunk through a shared ring, a copy in by the sender and a copy
// out by the receiver, 2(p-1) times per rank, and waits on its neighbours 2(p-1) times. Here
// a rank reads the others' inputs for its slice once and copies the other slices once (per
// rank (p-1)/p * n each way, plus n/p into the result slot) and waits three times. With more
// ranks than cores every wait may cost a wake-up behind another process (BENCHMARKS.md).
//
// Determinism: slice r is reduced by rank r alone, in a fixed order (its own values, then
// ranks r+1, r+2, ... around), and copied by everyone else: identical bits on every rank.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "collectives/context.h"
#include "collectives/even_split.h"

namespace shoal {
namespace collectives {

namespace {
// How long a failing rank waits for its peers to stop reading its memory: the launcher's
// heartbeat timeout, after which it kills a rank that made no progress (and a dead rank reads
// nothing). Past it the peers' lending check above keeps wrong bytes from passing.
constexpr int64_t kStopWaitMs = 10000;

std::string where(const Context& c) {
  return std::string(transport::opKindName(c.op.kind)) + " seq " + std::to_string(c.op.seq) + " on rank " + std::to_string(c.rank());
}

void readFromPeer(const Context& c, int peer, uint64_t remote, void* local, size_t bytes) {
  if (bytes == 0) return;
  const int err = transport::readPeerMemory(c.peerMemory->pids[static_cast<size_t>(peer)], remote, local, bytes);
  if (err == 0) return;
  if (err == ESRCH) {
    throw Error(ErrorCode::kPeerLost, "rank " + std::to_string(peer) + " lost during " + where(c) + ": its process is gone", peer);
  }
  throw Error(ErrorCode::kIo, where(c) + ": reading rank " + std::to_string(peer) + "'s memory failed: " + std::strerror(err), peer);
}

// A peer's ReadState: {lending, readsDone}; 0 on success, else the errno.
int readState(const Context& c, int peer, uint64_t words[2]) {
  const transport::PeerMemory& pm = *c.peerMemory;
  return transport::readPeerMemory(pm.pids[static_cast<size_t>(peer)], pm.states[static_cast<size_t>(peer)], words, 2 * sizeof(uint64_t));
}

// After our last read of the peers' memory: every peer still lent it for this op.
void checkStillLent(const Context& c) {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // our reads before the check
  for (int q = 0; q < c.size(); ++q) {
    if (q == c.rank()) continue;
    uint64_t words[2];
    readFromPeer(c, q, c.peerMemory->states[static_cast<size_t>(q)], words, sizeof(words));
    if (words[0] != c.peerMemory->keys[static_cast<size_t>(q)] + c.op.seq) {
      throw Error(ErrorCode::kAborted,
                  where(c) + ": rank " + std::to_string(q) + " gave its memory back (its op failed or gave up) while this rank was still reading it; the bytes read cannot be trusted",
                  q);
    }
  }
}

void testDelay(const Context& c) {
  if (c.tuning.testDirectReadDelayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(c.tuning.testDirectReadDelayMs));
}

void testFault(const Context& c, int step) {
  if (c.tuning.testDirectFailAfterStep == step) throw Error(ErrorCode::kIo, where(c) + ": injected fault after step " + std::to_string(step));
}

// The failure path (see the top of the file): we read nothing more; tell the peers; wait until
// none of them may still be reading our memory, or kStopWaitMs.
void stopLending(Context& c, const std::exception_ptr& failure) {
  c.peerMemory->own->readsDone.store(c.op.seq + 1);
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    c.link.sendAbortToAll(e);
  } catch (const std::exception& e) {
    c.link.sendAbortToAll(Error(ErrorCode::kInternal, std::string("internal error: ") + e.what()));
  } catch (...) {
    c.link.sendAbortToAll(Error(ErrorCode::kInternal, "internal error"));
  }
  std::vector<int> left;
  for (int q = 0; q < c.size(); ++q)
    if (q != c.rank()) left.push_back(q);
  const Deadline bound(kStopWaitMs);
  while (true) {
    left.erase(std::remove_if(left.begin(), left.end(),
                              [&](int q) {
                                // Stopped: its process (ESRCH) or engine (EFAULT) is gone, it is
                                // not in this op (not yet: if it enters, it fails its lending
                                // check), its reads are over, or it sent abort or goodbye.
                                uint64_t words[2];
                                return readState(c, q, words) != 0 || words[0] != c.peerMemory->keys[static_cast<size_t>(q)] + c.op.seq ||
                                       words[1] > c.op.seq || c.link.hungUp(q);
                              }),
               left.end());
    if (left.empty() || bound.expired()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  c.peerMemory->own->lending.store(0);
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
  transport::ReadState& own = *c.peerMemory->own;
  uint8_t* result = c.scratch.get(4, sliceBytes);  // before we lend it: no peer reads it now

  own.lending.store(c.peerMemory->key + c.op.seq);  // before any peer can learn our addresses
  try {
    std::vector<uint64_t> mine(static_cast<size_t>(p), reinterpret_cast<uint64_t>(buf));
    std::vector<uint64_t> inputs(static_cast<size_t>(p), 0);
    exchangeWords(c, 0, mine.data(), inputs.data());
    testFault(c, 0);

    testDelay(c);
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
    testFault(c, 1);

    testDelay(c);
    for (int k = 1; k < p; ++k) {
      const int q = (r + k) % p;
      const size_t start = slices.offset(static_cast<size_t>(q)) * esz;
      readFromPeer(c, q, results[static_cast<size_t>(q)], data + start, slices.length(static_cast<size_t>(q)) * esz);
    }
    checkStillLent(c);
    own.readsDone.store(c.op.seq + 1);

    std::vector<uint64_t> done(static_cast<size_t>(p), c.op.seq);
    exchangeWords(c, 2, done.data(), mine.data());
    testFault(c, 2);
  } catch (...) {
    stopLending(c, std::current_exception());
    if (c.tuning.testDirectFailAfterStep >= 0) {
      std::memset(buf, 0xff, count * esz);  // what a caller reusing its buffer at once may write
      std::memset(result, 0xff, sliceBytes);
    }
    throw;
  }
  own.lending.store(0);
}

}  // namespace collectives
}  // namespace shoal
