// HashRing: which server owns a key. Consistent hashing with virtual nodes: every server
// puts `vnodesPerServer` points on a 64-bit ring at mix64-derived positions, and a key
// belongs to the first point clockwise from ringHash(key). Adding a server takes keys only
// from the arcs its new points split (about 1/S of all keys, each moving onto the new
// server); removing one hands only its own keys to the next points clockwise.
//
// Vnodes: a server's share is a sum of `vnodes` random arcs, so its relative spread is
// about 1/sqrt(vnodes). Over 10^6 keys the largest server exceeded the mean by 6.7% (8
// servers) and 18% (16 servers) with 128 vnodes, by at most 5.1% (4..16 servers) with 1024,
// hence the default. A ring of S servers holds S * vnodes points (16 bytes each).
// Lookup: a 2^16-entry index by the top 16 bits of the key's position gives the first
// candidate point, then a short forward scan (about S * vnodes / 65536 points): O(1) on
// average, ~5x faster than a binary search over all points (measured with bench/ps.ts).
// Not thread-safe for mutation; const lookups may run concurrently.
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint32_t, uint64_t
#include <utility>
#include <vector>

namespace shoal::ps {

class HashRing {
 public:
  static constexpr int kDefaultVnodes = 1024;

  explicit HashRing(int vnodesPerServer = kDefaultVnodes);

  // Throws shoal::Error(kInvalidArgument) if the server is already on the ring.
  void addServer(uint32_t serverId);
  // Throws shoal::Error(kInvalidArgument) if the server is not on the ring.
  void removeServer(uint32_t serverId);

  // Throws shoal::Error(kInvalidUsage) on an empty ring.
  uint32_t primary(uint64_t key) const;
  // The same for a key whose ringHash is h (callers that already hashed it).
  uint32_t primaryOfHash(uint64_t h) const { return points_[pointIndexOfHash(h)].second; }
  // True, with the server in *server, if every ring position in [lo, hi] has the same
  // primary: a batch of keys bucketed by ringHash then needs one lookup per bucket.
  bool uniformPrimary(uint64_t lo, uint64_t hi, uint32_t* server) const;
  // out[0] = primary(key), then the next distinct servers clockwise: the replica set.
  // replicas must be in [1, servers()], else shoal::Error(kInvalidArgument).
  void owners(uint64_t key, int replicas, uint32_t* out) const;

  // Calls fn(start, end, owners) for every arc of the ring: the keys whose ringHash lies in
  // (start, end] (wrapping when start >= end) and their `replicas` owners, primary first.
  // Used to name the key ranges a recovering server cannot get from a live replica.
  template <typename F>
  void forEachArc(int replicas, F&& fn) const;

  size_t servers() const { return servers_.size(); }
  const std::vector<uint32_t>& serverIds() const { return servers_; }  // sorted
  bool hasServer(uint32_t serverId) const;
  int vnodesPerServer() const { return vnodes_; }

 private:
  size_t pointIndex(uint64_t key) const;
  size_t pointIndexOfHash(uint64_t h) const;
  size_t lowerBound(uint64_t h) const;
  void checkReplicas(int replicas) const;
  void ownersAtPoint(size_t point, int replicas, uint32_t* out) const;  // replicas checked
  void rebuildIndex();

  static constexpr int kIndexBits = 16;

  int vnodes_;
  std::vector<uint32_t> servers_;                       // sorted
  std::vector<std::pair<uint64_t, uint32_t>> points_;   // (position, server), sorted
  std::vector<uint32_t> index_;   // [b]: first point with position >= b << (64 - kIndexBits)
};

template <typename F>
void HashRing::forEachArc(int replicas, F&& fn) const {
  checkReplicas(replicas);
  std::vector<uint32_t> out(static_cast<size_t>(replicas));
  for (size_t p = 0; p < points_.size(); ++p) {
    const uint64_t end = points_[p].first;
    const uint64_t start = points_[p == 0 ? points_.size() - 1 : p - 1].first;
    ownersAtPoint(p, replicas, out.data());
    fn(start, end, static_cast<const uint32_t*>(out.data()));
  }
}

}  // namespace shoal::ps
