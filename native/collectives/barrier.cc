// Dissemination barrier: in round k every rank sends an empty frame to (r + 2^k) mod p and
// waits for one from (r - 2^k) mod p. After ceil(log2 p) rounds every rank has heard,
// directly or not, from every other, so none can leave before all have arrived.
// Cost: ceil(log2 p) rounds of 48-byte headers.
#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

void barrier(Context& c) {
  StepPlan plan;  // dissemination, or the flat barrier (step_plan.cc: planSmallOp)
  planSmallOp(c, plan, transport::OpKind::kBarrier, nullptr, 0, -1);
  plan.run(c);
}

void planBarrier(Context& c, StepPlan& plan) {
  const int p = c.size();
  const int r = c.rank();
  uint16_t step = 0;
  for (int dist = 1; dist < p; dist <<= 1, ++step) {
    plan.add(c, {Xfer::send((r + dist) % p, step, nullptr, 0), Xfer::recv((r - dist + p) % p, step, nullptr, 0)});
  }
}

}  // namespace collectives
}  // namespace shoal
