// Flat (one-hop) plans for small ops among 3 or 4 ranks: every rank talks only to the root.
//
//   bcast:     the root sends to every other rank in one step.
//   reduceTo:  every rank sends to the root; the root takes them one step per rank, in rank
//              order, and reduces each into its buffer (a fixed order: bit-identical runs).
//   allReduce: every rank sends its buffer to every other and folds all p of them in rank
//              order (the same bits everywhere): one hop. A gather to rank 0 and a release
//              would be two, and would let a rank that called bcast where the others called
//              allReduce wait for ever instead of reading a mismatching frame.
//   barrier:   every rank sends an empty frame to rank 0, which answers each once all came.
//
// Why, against the binomial tree, recursive doubling and the dissemination barrier: with a
// few ranks sharing fewer cores, what costs is a rank that sleeps until a peer is scheduled,
// not the bytes. Here no message waits for a rank in the middle of a tree: the critical path is
// one hop (two for the barrier), and a rank only ever waits for receives once its own sends
// are out, which the shared-memory transport sleeps on with a futex (transport/link.cc). A rank
// sends up to p - 1 copies, so this is for small messages only (step_plan.cc: flatAlgorithm).
#include <cstring>

#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

namespace {
// Step numbers: gather steps use 1, the release 2 (frames carry them; both sides must agree).
constexpr uint16_t kGatherStep = 1;
constexpr uint16_t kReleaseStep = 2;

// Root: one step per other rank, in rank order, each reducing what came into `acc`.
void gatherReduce(Context& c, StepPlan& plan, uint8_t* acc, size_t count, int root) {
  const size_t bytes = count * c.elementBytes();
  uint8_t* incoming = c.scratch.get(0, bytes);
  // The plan may finish on another thread after this frame is gone: capture values only.
  const DType dtype = c.op.dtype;
  const ReduceOp op = c.op.reduceOp;
  for (int r = 0; r < c.size(); ++r) {
    if (r == root) continue;
    plan.add(c, {Xfer::recv(r, kGatherStep, incoming, bytes)}, [=] { shoal::reduce(dtype, op, acc, acc, incoming, count); });
  }
}

void sendToAll(Context& c, StepPlan& plan, void* buf, size_t bytes, int root) {
  std::vector<Xfer> outs;
  for (int r = 0; r < c.size(); ++r)
    if (r != root) outs.push_back(Xfer::send(r, kReleaseStep, buf, bytes));
  plan.add(c, std::move(outs));
}
}  // namespace

void planBcastFlat(Context& c, StepPlan& plan, void* buf, size_t bytes, int root) {
  if (c.rank() == root) return sendToAll(c, plan, buf, bytes, root);
  plan.add(c, {Xfer::recv(root, kReleaseStep, buf, bytes)});
}

void planReduceToFlat(Context& c, StepPlan& plan, void* buf, size_t count, int root) {
  // Other ranks send their buffer as it is (left unchanged, as reduceTo promises).
  if (c.rank() != root) return plan.add(c, {Xfer::send(root, kGatherStep, buf, count * c.elementBytes())});
  gatherReduce(c, plan, static_cast<uint8_t*>(buf), count, root);
}

void planAllReduceFlat(Context& c, StepPlan& plan, void* buf, size_t count) {
  const int p = c.size();
  const int self = c.rank();
  const size_t bytes = count * c.elementBytes();
  // One step, every send and receive in it: no rank's send can wait on a peer that is itself
  // stuck sending (rings and sockets are finite). Rank r's buffer lands in slot r (own: none).
  uint8_t* slots = c.scratch.get(0, bytes * static_cast<size_t>(p));
  std::vector<Xfer> xs;
  for (int r = 0; r < p; ++r) {
    if (r == self) continue;
    xs.push_back(Xfer::send(r, kGatherStep, buf, bytes));
    xs.push_back(Xfer::recv(r, kGatherStep, slots + bytes * static_cast<size_t>(r), bytes));
  }
  // The plan may finish on another thread after this frame is gone: capture values only.
  const DType dtype = c.op.dtype;
  const ReduceOp op = c.op.reduceOp;
  // Every rank folds the p buffers in rank order, the same operands in the same order: every
  // rank ends with the same bits.
  plan.add(c, std::move(xs), [=] {
    if (bytes == 0) return;
    uint8_t* mine = slots + bytes * static_cast<size_t>(self);
    std::memcpy(mine, buf, bytes);
    for (int r = 1; r < p; ++r) shoal::reduce(dtype, op, slots, slots, slots + bytes * static_cast<size_t>(r), count);
    std::memcpy(buf, slots, bytes);
  });
}

void planBarrierFlat(Context& c, StepPlan& plan) {
  if (c.rank() != 0) {
    plan.add(c, {Xfer::send(0, kGatherStep, nullptr, 0)});
    plan.add(c, {Xfer::recv(0, kReleaseStep, nullptr, 0)});
    return;
  }
  for (int r = 1; r < c.size(); ++r) plan.add(c, {Xfer::recv(r, kGatherStep, nullptr, 0)});
  sendToAll(c, plan, nullptr, 0, 0);
}

}  // namespace collectives
}  // namespace shoal
