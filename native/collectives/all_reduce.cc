// allReduce dispatch: picks the algorithm by message size and world size.
// Every rank must pick the same one, so the choice depends only on (count, dtype, size), the
// host table every rank holds alike (collectives/topology.h: ranks sharing hosts, two hosts or
// more: all_reduce_hierarchical.cc) and tuning settings that the launcher gives every rank alike.
#include "collectives/context.h"

namespace shoal {
namespace collectives {

void allReduce(Context& c, void* buf, size_t count) {
  if (c.size() == 1) return;
  if (c.useHierarchy()) return allReduceHierarchical(c, buf, count);
  const size_t bytes = count * c.elementBytes();
  // Count 0 still exchanges (empty) frames, so a rank that disagrees on the count is caught.
  if (bytes <= c.tuning.smallMessageBytes || count < static_cast<size_t>(c.size())) {
    allReduceRecursiveDoubling(c, buf, count);
  } else {
    allReduceRing(c, buf, count);
  }
}

}  // namespace collectives
}  // namespace shoal
