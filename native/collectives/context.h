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
#include "transport/link.h"

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
  std::vector<uint8_t> slots_[2];
};

struct Tuning {
  size_t smallMessageBytes = 64 << 10;  // at or below: latency-optimal algorithms
  size_t segmentBytes = 256 << 10;      // reduce granularity inside a ring step
};

struct Context {
  transport::Link& link;
  const transport::OpDesc& op;
  const Deadline& deadline;
  Scratch& scratch;
  const Tuning& tuning;

  int rank() const { return link.rank(); }
  int size() const { return link.size(); }
  size_t elementBytes() const { return dtypeSize(op.dtype); }
  // Runs one step: all xfers progress together until every one completes.
  void run(Xfer* xs, size_t n) { link.run(op, xs, n, deadline); }
  // dst = op(a, b) over `count` elements.
  void reduce(void* dst, const void* a, const void* b, size_t count) const {
    shoal::reduce(op.dtype, op.reduceOp, dst, a, b, count);
  }
};

// Entry points, dispatched by op kind in the engine. Buffers are the caller's memory.
void allReduce(Context& c, void* buf, size_t count);
void allReduceRing(Context& c, void* buf, size_t count);
void allReduceRecursiveDoubling(Context& c, void* buf, size_t count);
void bcast(Context& c, void* buf, size_t count, int root);
void bcastBinomialTree(Context& c, void* buf, size_t bytes, int root);
void bcastPipelinedChain(Context& c, void* buf, size_t bytes, int root);
void reduceTo(Context& c, void* buf, size_t count, int root);
void reduceToBinomialTree(Context& c, void* buf, size_t count, int root);
void reduceToPipelinedChain(Context& c, void* buf, size_t count, int root);
void allGather(Context& c, const void* send, void* recv, size_t count);
void barrier(Context& c);

}  // namespace collectives
}  // namespace shoal
