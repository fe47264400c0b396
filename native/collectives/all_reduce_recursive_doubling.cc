// Recursive-doubling allReduce (latency-optimal, for small messages).
//
// With p a power of two, in round k every rank exchanges its whole buffer with the rank
// whose index differs in bit k and reduces: log2(p) rounds. For other p, let q be the
// largest power of two below p and e = p - q: first the e even ranks among 0..2e-1 send
// their data to their odd neighbour and sit out; the q remaining ranks run the rounds
// (renumbered 0..q-1); then each odd rank sends the result back to its even neighbour.
//
// Determinism: in every exchange both partners compute op(lower half, upper half) with the
// same operands in the same order, so all ranks hold identical bits.
//
// Cost: log2(q) rounds (+2 when p is not a power of two), each sending n bytes per rank.
#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

void planAllReduceRecursiveDoubling(Context& c, StepPlan& plan, void* buf, size_t count) {
  const int p = c.size();
  const int r = c.rank();
  const size_t bytes = count * c.elementBytes();
  int q = 1;
  while (q * 2 <= p) q *= 2;
  const int extra = p - q;
  uint8_t* incoming = c.scratch.get(0, bytes);
  // The plan may finish on another thread after this frame is gone: capture values only.
  const DType dtype = c.op.dtype;
  const ReduceOp op = c.op.reduceOp;
  auto reduceInto = [=](bool incomingFirst) {
    return [=] { incomingFirst ? shoal::reduce(dtype, op, buf, incoming, buf, count) : shoal::reduce(dtype, op, buf, buf, incoming, count); };
  };

  int newRank;
  if (r < 2 * extra) {
    if (r % 2 == 0) {
      plan.add(c, {Xfer::send(r + 1, 0, buf, bytes)});
      plan.add(c, {Xfer::recv(r + 1, 100, buf, bytes)});
      return;
    }
    plan.add(c, {Xfer::recv(r - 1, 0, incoming, bytes)}, reduceInto(true));
    newRank = r / 2;
  } else {
    newRank = r - extra;
  }

  uint16_t step = 1;
  for (int mask = 1; mask < q; mask <<= 1, ++step) {
    const int partnerNew = newRank ^ mask;
    const int partner = partnerNew < extra ? partnerNew * 2 + 1 : partnerNew + extra;
    plan.add(c, {Xfer::send(partner, step, buf, bytes), Xfer::recv(partner, step, incoming, bytes)}, reduceInto(partnerNew < newRank));
  }

  if (r < 2 * extra) plan.add(c, {Xfer::send(r - 1, 100, buf, bytes)});
}

}  // namespace collectives
}  // namespace shoal
