// bcast dispatch: binomial tree (flat among 3-4 ranks, small_flat.cc) for small messages and,
// on one host, up to Tuning::smallRootedBytes; pipelined chain for larger ones.
//
// Binomial tree: ranks renumbered relative to the root (v = (r - root) mod p); rank v
// receives from v minus its lowest set bit, then sends to v + 2^k for each lower k.
// Cost: ceil(log2 p) rounds of n bytes.
//
// Pipelined chain: v receives from v-1 and forwards to v+1 as bytes arrive, so the message
// streams down the chain. Cost: about n/bandwidth + (p-1) * (one socket round of latency);
// each rank sends n bytes once.
#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

void bcast(Context& c, void* buf, size_t count, int root) {
  if (c.size() == 1) return;
  if (c.useHierarchy()) return bcastHierarchical(c, buf, count, root);
  StepPlan small;  // binomial tree or flat (step_plan.cc: planSmallOp)
  if (planSmallOp(c, small, transport::OpKind::kBcast, buf, count, root)) return small.run(c);
  bcastPipelinedChain(c, buf, count * c.elementBytes(), root);
}

void planBcastBinomialTree(Context& c, StepPlan& plan, void* buf, size_t bytes, int root) {
  const int p = c.size();
  const int v = (c.rank() - root + p) % p;
  int mask = 1;
  while (mask < p) {
    if (v & mask) {
      plan.add(c, {Xfer::recv((v - mask + root) % p, 0, buf, bytes)});
      break;
    }
    mask <<= 1;
  }
  std::vector<Xfer> outs;
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (v + mask < p) outs.push_back(Xfer::send((v + mask + root) % p, 0, buf, bytes));
  }
  if (!outs.empty()) plan.add(c, std::move(outs));
}

void bcastPipelinedChain(Context& c, void* buf, size_t bytes, int root) {
  const int p = c.size();
  const int v = (c.rank() - root + p) % p;
  const int prev = (c.rank() - 1 + p) % p;
  const int next = (c.rank() + 1) % p;
  if (v == 0) {
    Xfer out = Xfer::send(next, 0, buf, bytes);
    c.run(&out, 1);
    return;
  }
  Xfer xs[2] = {Xfer::recv(prev, 0, buf, bytes), Xfer::send(next, 0, buf, bytes)};
  if (v == p - 1) {
    c.run(xs, 1);
    return;
  }
  xs[1].available = &xs[0].done;  // forward only what has arrived
  c.run(xs, 2);
}

}  // namespace collectives
}  // namespace shoal
