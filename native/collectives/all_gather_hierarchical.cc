// Hierarchical allGather (Context::useHierarchy): (1) the ranks of each host allGather their
// blocks, packed in host order, into scratch slot 3; (2) the host leaders (lowest ranks)
// allGatherv those host blocks among themselves; (3) each leader puts the blocks in rank order
// into recv and bcasts it within its host.
//
// Why: the flat ring passes (p-1) blocks over every ring edge, and a host whose ranks are
// contiguous sends (p-1) n bytes out of it; here a host sends (H-1) L n (its own blocks to the
// other leaders' ring) and receives (p - L) n once. Cost (alpha-beta, as in
// all_reduce_hierarchical.cc): (L-1)(alpha_l + n beta_l) + (H-1)(alpha_g + L n beta_g) +
// T_bcast(L, p n; alpha_l, beta_l).
#include <cstring>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

void allGatherHierarchical(Context& c, const void* send, void* recv, size_t count) {
  const Topology& t = *c.topology;
  const int p = c.size();
  const int me = c.rank();
  const int host = t.hostOf[static_cast<size_t>(me)];
  const std::vector<int>& local = t.ranks[static_cast<size_t>(host)];
  const std::vector<int> leaders = t.leaders(-1);
  const size_t block = count * c.elementBytes();
  // Where each host's packed blocks start in `packed`, and how long they are.
  std::vector<size_t> hostBytes(static_cast<size_t>(t.hosts()));
  std::vector<size_t> hostOffset(static_cast<size_t>(t.hosts()), 0);
  for (int h = 0; h < t.hosts(); ++h) {
    hostBytes[static_cast<size_t>(h)] = t.ranks[static_cast<size_t>(h)].size() * block;
    if (h > 0) hostOffset[static_cast<size_t>(h)] = hostOffset[static_cast<size_t>(h) - 1] + hostBytes[static_cast<size_t>(h) - 1];
  }
  uint8_t* packed = c.scratch.get(3, static_cast<size_t>(p) * block);
  uint8_t* mine = packed + hostOffset[static_cast<size_t>(host)];
  {
    Context in = c.within(local, 0x4000);
    allGather(in, send, mine, count);
  }
  const bool leader = me == leaders[static_cast<size_t>(host)];
  if (leader) {
    Context across = c.within(leaders, 0x8000);
    allGathervBytes(across, 0, mine, packed, hostBytes);
    uint8_t* out = static_cast<uint8_t*>(recv);
    for (int h = 0; h < t.hosts(); ++h) {
      const std::vector<int>& rs = t.ranks[static_cast<size_t>(h)];
      for (size_t i = 0; i < rs.size(); ++i) {
        if (block) std::memcpy(out + static_cast<size_t>(rs[i]) * block, packed + hostOffset[static_cast<size_t>(h)] + i * block, block);
      }
    }
  }
  if (local.size() > 1) {
    Context in = c.within(local, 0xC000);
    bcast(in, recv, count * static_cast<size_t>(p), 0);
  }
}

}  // namespace collectives
}  // namespace shoal
