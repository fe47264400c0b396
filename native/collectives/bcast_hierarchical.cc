// Hierarchical bcast (Context::useHierarchy): the root sends to one leader per host (the
// lowest rank there; the root leads its own host), then each leader bcasts within its host.
// Only n bytes enter each host.
//
// Cost (alpha-beta, as in all_reduce_hierarchical.cc): T_bcast(H, n; alpha_g, beta_g) +
// T_bcast(L, n; alpha_l, beta_l); the flat chain crosses a host boundary at every host change
// along the rank order, the flat tree up to log2(p) times per host.
#include "collectives/context.h"

namespace shoal {
namespace collectives {

void bcastHierarchical(Context& c, void* buf, size_t count, int root) {
  const Topology& t = *c.topology;
  const int me = c.rank();
  const int host = t.hostOf[static_cast<size_t>(me)];
  const std::vector<int>& local = t.ranks[static_cast<size_t>(host)];
  const std::vector<int> leaders = t.leaders(root);
  const int leader = leaders[static_cast<size_t>(host)];
  if (me == leader) {
    Context across = c.within(leaders, 0x4000);
    bcast(across, buf, count, t.hostOf[static_cast<size_t>(root)]);
  }
  if (local.size() > 1) {
    Context in = c.within(local, 0x8000);
    bcast(in, buf, count, t.localIndex(leader));
  }
}

}  // namespace collectives
}  // namespace shoal
