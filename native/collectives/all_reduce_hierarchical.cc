// Hierarchical allReduce for ranks spread over hosts, several per host (Context::useHierarchy).
//
// Every host runs the same number of ranks L (the usual layout): (1) the ranks of each host
// reduceScatter the buffer into L chunks, local rank l ending with chunk l summed over its
// host; (2) for each l, the local-rank-l ranks of all hosts allReduce chunk l among
// themselves (L independent allReduces, side by side, each of n/L bytes); (3) the ranks of
// each host allGatherv the chunks back into place. Otherwise: (1) each host reduces onto its
// leader (lowest rank), (2) the leaders allReduce, (3) each leader bcasts to its host.
// Each phase runs the flat algorithm its size calls for, in a sub-group (Context::within).
//
// Why: the flat ring sends 2(p-1)/p * n bytes per rank and a host's link carries every ring
// edge that leaves it (24 MiB per host for 16 MiB on 2 hosts x 2 ranks); here 2(H-1)/H * n
// bytes leave each host (16 MiB), and the rest moves over shared memory within hosts.
// Cost (alpha-beta; alpha_l, beta_l within a host; alpha_g between hosts, beta_g per byte of
// one host's link, which the L chunks' rings share):
//   equal hosts: 2(L-1)(alpha_l + n/L beta_l) + 2(H-1) alpha_g + 2(H-1)/H n beta_g
//   otherwise:   T_reduce(L, n) + 2(H-1) alpha_g + 2(H-1)/H n beta_g + T_bcast(L, n)
// against the flat ring's 2(p-1) alpha_g + 2(p-1)/p n * (edges leaving the host) beta_g
// (docs/algorithms.md, "Hierarchical collectives").
//
// Determinism: every phase accumulates in a fixed order and copies the result out, so all
// ranks hold identical bits, run after run.
#include <algorithm>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

namespace {
// Phase step bases: frames of the three phases carry distinct step numbers.
constexpr uint16_t kWithinHost = 0x4000;
constexpr uint16_t kAcrossHosts = 0x8000;
constexpr uint16_t kBackWithinHost = 0xC000;

bool equalHosts(const Topology& t) {
  for (const auto& h : t.ranks)
    if (h.size() != t.ranks.front().size()) return false;
  return true;
}

void viaLeaders(Context& c, void* buf, size_t count) {
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
}  // namespace

void allReduceHierarchical(Context& c, void* buf, size_t count) {
  const Topology& t = *c.topology;
  // Two hosts, large message: the phases streamed as one step (all_reduce_two_hosts.cc).
  if (c.tuning.streamTwoHosts && count * c.elementBytes() > c.tuning.smallMessageBytes && twoHostsStreamable(t, count)) {
    return allReduceTwoHosts(c, buf, count);
  }
  if (!equalHosts(t)) return viaLeaders(c, buf, count);
  const int me = c.rank();
  const int host = t.hostOf[static_cast<size_t>(me)];
  const std::vector<int>& local = t.ranks[static_cast<size_t>(host)];
  const size_t L = local.size();
  const size_t l = static_cast<size_t>(t.localIndex(me));
  const size_t esz = c.elementBytes();
  std::vector<size_t> counts(L, count / L);
  for (size_t i = 0; i < count % L; ++i) ++counts[i];
  size_t offset = 0;
  for (size_t i = 0; i < l; ++i) offset += counts[i];
  uint8_t* chunk = static_cast<uint8_t*>(buf) + offset * esz;
  {
    Context in = c.within(local, kWithinHost);
    reduceScatter(in, buf, chunk, counts);  // in place: block l is written last, from itself
  }
  std::vector<int> peers;  // local rank l of every host
  for (const auto& h : t.ranks) peers.push_back(h[l]);
  {
    Context across = c.within(peers, kAcrossHosts);
    allReduce(across, chunk, counts[l]);
  }
  {
    Context in = c.within(local, kBackWithinHost);
    allGatherv(in, chunk, buf, counts);
  }
}

}  // namespace collectives
}  // namespace shoal
