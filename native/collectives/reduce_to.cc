// reduceTo (MPI_Reduce): the reduction lands in the root's buffer; other ranks' buffers are
// left unchanged. Binomial tree (flat among 3-4 ranks, small_flat.cc) for small messages and,
// on one host, up to Tuning::smallRootedBytes; pipelined chain for larger ones.
//
// Binomial tree (v = (r - root) mod p): in round k a rank with bit k set sends its partial
// result to v - 2^k and stops; otherwise it receives from v + 2^k (if it exists) and
// reduces op(own, child), lower ranks first. Cost: ceil(log2 p) rounds of n bytes.
//
// Pipelined chain: v = 1, 2, ..., p-1, then the root. Rank v receives the partial result of
// ranks 1..v-1, reduces it with its own data segment by segment and forwards each reduced
// segment at once; the root reduces the last partial into its buffer. Cost: about
// n/bandwidth + (p-1) segment latencies; each rank sends n bytes once.
//
// Both orders are fixed, so the root's result is bit-identical from run to run.
#include <algorithm>
#include <cstring>

#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

void reduceTo(Context& c, void* buf, size_t count, int root) {
  const int p = c.size();
  if (p == 1) return;
  if (c.useHierarchy()) return reduceToHierarchical(c, buf, count, root);
  StepPlan small;  // binomial tree or flat (step_plan.cc: planSmallOp)
  if (planSmallOp(c, small, transport::OpKind::kReduceTo, buf, count, root)) return small.run(c);
  reduceToPipelinedChain(c, buf, count, root);
}

void planReduceToBinomialTree(Context& c, StepPlan& plan, void* buf, size_t count, int root) {
  const int p = c.size();
  const int v = (c.rank() - root + p) % p;
  const size_t bytes = count * c.elementBytes();
  // The root accumulates in place; other ranks that reduce work on a copy so their buffer
  // stays intact. A leaf (v odd: it sends in the first round) sends its buffer as it is.
  const bool leaf = (v & 1) != 0;
  uint8_t* acc = static_cast<uint8_t*>(buf);
  if (v != 0 && !leaf) {
    acc = c.scratch.get(1, bytes);
    if (bytes) std::memcpy(acc, buf, bytes);
  }
  uint8_t* incoming = leaf ? nullptr : c.scratch.get(0, bytes);  // leaves receive nothing
  const DType dtype = c.op.dtype;
  const ReduceOp op = c.op.reduceOp;
  for (int mask = 1; mask < p; mask <<= 1) {
    if (v & mask) {
      plan.add(c, {Xfer::send((v - mask + root) % p, static_cast<uint16_t>(mask), acc, bytes)});
      return;
    }
    if (v + mask < p) {
      plan.add(c, {Xfer::recv((v + mask + root) % p, static_cast<uint16_t>(mask), incoming, bytes)},
               [=] { shoal::reduce(dtype, op, acc, acc, incoming, count); });
    }
  }
}

void reduceToPipelinedChain(Context& c, void* buf, size_t count, int root) {
  const int p = c.size();
  const int r = c.rank();
  const int v = (r - root + p) % p;
  const size_t esz = c.elementBytes();
  const size_t bytes = count * esz;
  const size_t segment = std::max(esz, c.tuning.segmentBytes / esz * esz);
  const int prev = (r - 1 + p) % p;
  const int next = (r + 1) % p;
  uint8_t* own = static_cast<uint8_t*>(buf);

  if (v == 1) {  // head of the chain: its data goes out unchanged
    Xfer out = Xfer::send(next, 0, own, bytes);
    c.run(&out, 1);
    return;
  }
  uint8_t* partial = c.scratch.get(0, bytes);
  if (v == 0) {  // the root: last link, reduces into its own buffer
    Xfer in = Xfer::recv(prev, 0, partial, bytes);
    in.segmentBytes = segment;
    in.onSegment = [&](size_t off, size_t len) { c.reduce(own + off, partial + off, own + off, len / esz); };
    c.run(&in, 1);
    return;
  }
  size_t reduced = 0;
  Xfer xs[2] = {Xfer::recv(prev, 0, partial, bytes), Xfer::send(next, 0, partial, bytes)};
  xs[0].segmentBytes = segment;
  xs[0].onSegment = [&](size_t off, size_t len) {
    c.reduce(partial + off, partial + off, own + off, len / esz);
    reduced = off + len;
  };
  xs[1].available = &reduced;
  c.run(xs, 2);
}

}  // namespace collectives
}  // namespace shoal
