// allReduce dispatch: picks the algorithm by message size and world size (small ones:
// step_plan.cc planSmallOp; large ones: direct reads of the peers' buffers when every rank is
// on one host and may read the others' memory, all_reduce_direct.cc; else the ring).
// Every rank must pick the same one, so the choice depends only on (count, dtype, size), the
// host table every rank holds alike (collectives/topology.h: ranks sharing hosts, two hosts or
// more: all_reduce_hierarchical.cc), the peer-memory verdict all ranks agreed on at connect
// (runtime/peer_memory_select.h) and tuning settings that the launcher gives every rank alike.
#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

void allReduce(Context& c, void* buf, size_t count) {
  if (c.size() == 1) return;
  if (c.useHierarchy()) return allReduceHierarchical(c, buf, count);
  StepPlan small;  // recursive doubling or flat (step_plan.cc: planSmallOp)
  if (planSmallOp(c, small, transport::OpKind::kAllReduce, buf, count, -1)) return small.run(c);
  if (directReadsUsable(c, count)) return allReduceDirect(c, buf, count);
  allReduceRing(c, buf, count);
}

}  // namespace collectives
}  // namespace shoal
