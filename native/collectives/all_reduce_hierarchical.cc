// Hierarchical allReduce for ranks spread over hosts, several per host (Context::useHierarchy):
// (1) each host reduces onto its leader (its lowest rank) with reduceTo among its own ranks,
// (2) the leaders allReduce among themselves, (3) each leader bcasts the result to its host.
// Each phase runs the flat algorithm its size calls for, in a sub-group (Context::within).
//
// Why: the flat ring sends 2(p-1)/p * n bytes per rank and, with L ranks on each host, the
// host's link carries all of its ranks' ring edges that leave it; here only the leader's
// traffic leaves the host: 2(H-1)/H * n bytes (H hosts), the intra-host phases run over shared
// memory. Cost (alpha-beta; alpha_l, beta_l within a host, alpha_g, beta_g between hosts):
//   T = T_reduce(L, n; alpha_l, beta_l) + 2(H-1)(alpha_g + n/H beta_g) + T_bcast(L, n; alpha_l, beta_l)
// against the flat ring's 2(p-1)(alpha_g + n/p beta_host), where each host's link is shared by
// the edges leaving it (docs/algorithms.md, "Hierarchical collectives").
//
// Determinism: every phase accumulates in a fixed order and the result is copied out, so all
// ranks hold identical bits, run after run.
#include "collectives/context.h"

namespace shoal {
namespace collectives {

namespace {
// Phase step bases: frames of the three phases carry distinct step numbers.
constexpr uint16_t kWithinHost = 0x4000;
constexpr uint16_t kAcrossHosts = 0x8000;
constexpr uint16_t kBackWithinHost = 0xC000;
}  // namespace

void allReduceHierarchical(Context& c, void* buf, size_t count) {
  const Topology& t = *c.topology;
  const int me = c.rank();
  const int host = t.hostOf[static_cast<size_t>(me)];
  const std::vector<int>& local = t.ranks[static_cast<size_t>(host)];
  const std::vector<int> leaders = t.leaders(-1);
  if (local.size() > 1) {
    Context in = c.within(local, kWithinHost);
    reduceTo(in, buf, count, 0);
  }
  if (me == leaders[static_cast<size_t>(host)]) {
    Context across = c.within(leaders, kAcrossHosts);
    allReduce(across, buf, count);
  }
  if (local.size() > 1) {
    Context in = c.within(local, kBackWithinHost);
    bcast(in, buf, count, 0);
  }
}

}  // namespace collectives
}  // namespace shoal
