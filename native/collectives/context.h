// What a collective algorithm gets to work with: the op being run, the link to the other
// ranks, the op's deadline, and reusable scratch memory. Algorithms are plain functions
// (one file each) that express their steps as transport::Xfer lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/deadline.h"
#include "common/dtype.h"
#include "common/reduce_kernels.h"
#include "common/sparse_rows.h"
#include "collectives/topology.h"
#include "transport/link.h"
#include "transport/peer_memory.h"

namespace shoal {
namespace collectives {

using transport::Xfer;

// Scratch buffers that live as long as the engine. Growing one touches every page once,
// so later ops never pay first-touch page faults on the large-message path.
class Scratch {
 public:
  uint8_t* get(int slot, size_t bytes) {
    std::vector<uint8_t>& b = slots_[slot];
    if (b.size() < bytes) {
      b.clear();
      b.shrink_to_fit();
      b.resize(bytes, 0);  // value-initialised: pages are touched now, not mid-collective
    }
    return b.data();
  }

 private:
  // 0, 1: flat algorithms; 2, 3: hierarchical ones around them; 4: all_reduce_direct.cc's
  // reduced slice, which peers read from another process.
  std::vector<uint8_t> slots_[5];
};

struct Tuning {
  size_t smallMessageBytes = 64 << 10;  // at or below: latency-optimal algorithms
  // bcast and reduceTo up to this size take the binomial tree, a plan the calling thread runs
  // itself (runtime::Engine::runHere), where ranks share one host (or are two): the pipelined
  // chain runs on the comm thread, and handing it over and waking the caller with the result
  // cost about 25 us on these VMs (np 2 bcast 256 KiB 40 -> 15 us, BENCHMARKS.md). Between
  // hosts the chain's pipelining matters more. SHOAL_SMALL_ROOTED_BYTES.
  size_t smallRootedBytes = 4 << 20;
  // The same for allReduce, by the bytes each rank sends in recursive doubling, n ceil(log2 p)
  // (the ring sends 2n(p-1)/p): up to 1 MiB at np 2, 512 KiB at np 3-4 (BENCHMARKS.md).
  // SHOAL_SMALL_ALLREDUCE_BYTES.
  size_t smallAllReduceBytes = 1 << 20;
  size_t segmentBytes = 256 << 10;      // reduce granularity inside a ring step
  bool hierarchical = true;             // SHOAL_HIERARCHICAL=0: flat algorithms even across hosts
  bool streamTwoHosts = true;           // SHOAL_HIERARCHICAL=phased: no all_reduce_two_hosts.cc
  // all_reduce_direct.cc from this slice size up (np >= 3): below it the ring's messages fit
  // its shared rings and it was as fast (BENCHMARKS.md). SHOAL_DIRECT_MIN_SLICE_BYTES.
  size_t directMinSliceBytes = 2 << 20;
  // Tests only (NativeComm options of the same names): all_reduce_direct.cc fails right after
  // this step (-1: never) and, once it gives its memory back, overwrites it the way a caller
  // reusing its buffer at once would; and sleeps this long before each phase of reads.
  int testDirectFailAfterStep = -1;
  int testDirectReadDelayMs = 0;
};

struct Context {
  transport::Link& link;
  const transport::OpDesc& op;
  const Deadline& deadline;
  Scratch& scratch;
  const Tuning& tuning;
  const Topology* topology = nullptr;
  // A sub-group (hierarchical algorithms run the flat ones among some ranks): rank() and
  // size() are within `group`, peers named in Xfers are group ranks, and every step number
  // gets `stepBase` added so the phases' frames cannot be taken for one another.
  const std::vector<int>* group = nullptr;
  int groupRank = -1;
  uint16_t stepBase = 0;
  // Set when every rank may read every other rank's memory (the whole communicator on one
  // host, agreed at connect); sub-groups never get it.
  const transport::PeerMemory* peerMemory = nullptr;

  int rank() const { return group ? groupRank : link.rank(); }
  int size() const { return group ? static_cast<int>(group->size()) : link.size(); }
  size_t elementBytes() const { return dtypeSize(op.dtype); }
  // Turns group ranks and step numbers into the link's (once per xfer).
  void map(Xfer* xs, size_t n) const {
    if (!group) return;
    for (size_t i = 0; i < n; ++i) {
      xs[i].peer = (*group)[static_cast<size_t>(xs[i].peer)];
      xs[i].step = static_cast<uint16_t>(xs[i].step + stepBase);
    }
  }
  // Runs one step: all xfers progress together until every one completes.
  void run(Xfer* xs, size_t n) {
    map(xs, n);
    link.run(op, xs, n, deadline);
  }
  // True when the flat algorithms should give way to the hierarchical ones (same on every rank).
  bool useHierarchy() const { return !group && tuning.hierarchical && topology && topology->multiRankHosts(); }
  // The context of a sub-group of this communicator's ranks; this rank must be in `members`.
  Context within(const std::vector<int>& members, uint16_t base) const {
    Context sub{link, op, deadline, scratch, tuning, topology, &members, -1, base};
    for (size_t i = 0; i < members.size(); ++i)
      if (members[i] == link.rank()) sub.groupRank = static_cast<int>(i);
    return sub;
  }
  // dst = op(a, b) over `count` elements.
  void reduce(void* dst, const void* a, const void* b, size_t count) const {
    shoal::reduce(op.dtype, op.reduceOp, dst, a, b, count);
  }
};

// Entry points, dispatched by op kind in the engine. Buffers are the caller's memory.
void allReduce(Context& c, void* buf, size_t count);
void allReduceRing(Context& c, void* buf, size_t count);
// One host, peers' memory readable (c.peerMemory): each rank reduces its slice reading the
// others' buffers directly, then copies the other slices (all_reduce_direct.cc).
bool directReadsUsable(const Context& c, size_t count);
void allReduceDirect(Context& c, void* buf, size_t count);
void bcast(Context& c, void* buf, size_t count, int root);
void bcastPipelinedChain(Context& c, void* buf, size_t bytes, int root);
void reduceTo(Context& c, void* buf, size_t count, int root);
void reduceToPipelinedChain(Context& c, void* buf, size_t count, int root);
void allGather(Context& c, const void* send, void* recv, size_t count);
// Hierarchical forms (Context::useHierarchy): within each host, then among host leaders.
void allReduceHierarchical(Context& c, void* buf, size_t count);
// Two hosts with equal rank counts, each chunk non-empty: the streamed form (one step).
bool twoHostsStreamable(const Topology& t, size_t count);
void allReduceTwoHosts(Context& c, void* buf, size_t count);
void reduceToHierarchical(Context& c, void* buf, size_t count, int root);
void bcastHierarchical(Context& c, void* buf, size_t count, int root);
void allGatherHierarchical(Context& c, const void* send, void* recv, size_t count);
void barrier(Context& c);
// counts[i]: elements of rank i's block; send holds sum(counts), recv counts[rank].
void reduceScatter(Context& c, const void* send, void* recv, const std::vector<size_t>& counts);
// counts[i]: elements rank i contributes; recv holds sum(counts), in rank order.
void allGatherv(Context& c, const void* send, void* recv, const std::vector<size_t>& counts);
// Sum (key, row) pairs across ranks; scatterOnly keeps only this rank's hash range.
void sparseAllReduce(Context& c, const uint64_t* keys, const float* values, size_t n, size_t dim, bool scatterOnly,
                     SparseRows& out);

// Building blocks of the variable-size collectives (steps numbered from firstStep).
// Sends words[j] to every rank j != rank and returns what each rank j sent us in got[j].
void exchangeWords(Context& c, uint16_t step, const uint64_t* words, uint64_t* got);
// Ring allgather of variable byte blocks: block i (bytes[i]) lands at recv + sum(bytes[<i]).
void allGathervBytes(Context& c, uint16_t firstStep, const void* send, uint8_t* recv, const std::vector<size_t>& bytes);
// Every rank sends block j of `send` (offset sum(sendBytes[<j]), length sendBytes[j]) to
// rank j: counts first, then the payloads, all peers at once. recv gets what each rank sent
// us, in rank order; recvBytes[j] how much rank j sent.
void allToAllv(Context& c, uint16_t firstStep, const uint8_t* send, const std::vector<size_t>& sendBytes,
               std::vector<uint8_t>& recv, std::vector<size_t>& recvBytes);
// Which rank owns `key` in the sparse collectives: the key's hash range (splitmix64 mix,
// then the high 64 bits of hash * size). lib/communicator.ts sparseOwner() mirrors it.
inline int sparseOwner(uint64_t key, int size) {
  uint64_t z = key + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<int>((static_cast<unsigned __int128>(z) * static_cast<unsigned>(size)) >> 64);
}

}  // namespace collectives
}  // namespace shoal
