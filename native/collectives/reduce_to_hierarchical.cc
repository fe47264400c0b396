// Hierarchical reduceTo (Context::useHierarchy): each host reduces onto its leader (the root
// on the root's host, the lowest rank elsewhere), then the leaders reduce onto the root. Only
// the leaders' n bytes leave their hosts. A leader other than the root works on a copy
// (scratch slot 2), so every buffer but the root's stays unchanged, as in the flat reduceTo.
//
// Cost (alpha-beta, as in all_reduce_hierarchical.cc): T_reduce(L, n; alpha_l, beta_l) +
// T_reduce(H, n; alpha_g, beta_g); the flat chain sends n bytes across every host boundary
// it crosses, the tree log2(p) rounds of n.
#include <cstring>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

void reduceToHierarchical(Context& c, void* buf, size_t count, int root) {
  const Topology& t = *c.topology;
  const int me = c.rank();
  const int host = t.hostOf[static_cast<size_t>(me)];
  const std::vector<int>& local = t.ranks[static_cast<size_t>(host)];
  const std::vector<int> leaders = t.leaders(root);
  const int leader = leaders[static_cast<size_t>(host)];
  void* work = buf;
  if (me == leader && me != root) {
    const size_t bytes = count * c.elementBytes();
    work = c.scratch.get(2, bytes);
    if (bytes) std::memcpy(work, buf, bytes);
  }
  if (local.size() > 1) {
    Context in = c.within(local, 0x4000);
    reduceTo(in, work, count, t.localIndex(leader));
  }
  if (me == leader) {
    Context across = c.within(leaders, 0x8000);
    reduceTo(across, work, count, t.hostOf[static_cast<size_t>(root)]);
  }
}

}  // namespace collectives
}  // namespace shoal
