// Which host each rank of a communicator runs on, as every rank of it sees it (the table is
// exchanged at connect, runtime/host_topology.h, so all ranks hold the same one and pick the
// same algorithm). Hosts are numbered by their lowest rank; the lowest rank of each host is
// its leader.
#pragma once

#include <cstddef>
#include <vector>

namespace shoal {
namespace collectives {

struct Topology {
  std::vector<int> hostOf;              // host index of each rank
  std::vector<std::vector<int>> ranks;  // ranks of each host, ascending

  int hosts() const { return static_cast<int>(ranks.size()); }
  // Hierarchical algorithms pay off when traffic between hosts is what they cut: at least two
  // hosts, and at least one of them with two or more ranks.
  bool multiRankHosts() const {
    if (ranks.size() < 2) return false;
    for (const auto& h : ranks)
      if (h.size() > 1) return true;
    return false;
  }
  // The rank of each host that talks to other hosts: `root` on the root's host (root < 0: none),
  // the host's lowest rank elsewhere. Indexed by host.
  std::vector<int> leaders(int root) const {
    std::vector<int> out;
    for (const auto& h : ranks) out.push_back(h.front());
    if (root >= 0) out[static_cast<size_t>(hostOf[static_cast<size_t>(root)])] = root;
    return out;
  }
  // Position of `rank` among its host's ranks.
  int localIndex(int rank) const {
    const auto& h = ranks[static_cast<size_t>(hostOf[static_cast<size_t>(rank)])];
    for (size_t i = 0; i < h.size(); ++i)
      if (h[i] == rank) return static_cast<int>(i);
    return -1;
  }
  // Builds the table from each rank's host key (equal keys: same host).
  template <typename Key>
  static Topology fromKeys(const std::vector<Key>& keys) {
    Topology t;
    t.hostOf.assign(keys.size(), -1);
    for (size_t r = 0; r < keys.size(); ++r) {
      if (t.hostOf[r] >= 0) continue;
      const int h = static_cast<int>(t.ranks.size());
      t.ranks.emplace_back();
      for (size_t q = r; q < keys.size(); ++q) {
        if (t.hostOf[q] < 0 && keys[q] == keys[r]) {
          t.hostOf[q] = h;
          t.ranks.back().push_back(static_cast<int>(q));
        }
      }
    }
    return t;
  }
};

}  // namespace collectives
}  // namespace shoal
