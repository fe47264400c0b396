#include "ps/hash_ring.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "ps/mix64.h"

namespace shoal::ps {

namespace {

// Position of virtual node v of a server. Mixing the server id first means servers 1 and 2
// (or vnodes 1 and 2) share no structure, so consecutive ids interleave evenly.
uint64_t pointOf(uint32_t serverId, uint32_t vnode) {
  return mix64(mix64(static_cast<uint64_t>(serverId) + kRingSalt) + vnode * kGolden);
}

}  // namespace

HashRing::HashRing(int vnodesPerServer) : vnodes_(vnodesPerServer) {
  if (vnodesPerServer < 1 || vnodesPerServer > (1 << 16)) {
    throw Error(ErrorCode::kInvalidArgument,
                "HashRing: 'vnodesPerServer' must be in [1, 65536] (got " + std::to_string(vnodesPerServer) + ")");
  }
}

bool HashRing::hasServer(uint32_t serverId) const {
  return std::binary_search(servers_.begin(), servers_.end(), serverId);
}

void HashRing::addServer(uint32_t serverId) {
  if (hasServer(serverId)) {
    throw Error(ErrorCode::kInvalidArgument, "HashRing: server " + std::to_string(serverId) + " is already on the ring");
  }
  servers_.insert(std::upper_bound(servers_.begin(), servers_.end(), serverId), serverId);
  points_.reserve(points_.size() + vnodes_);
  for (int v = 0; v < vnodes_; ++v) points_.emplace_back(pointOf(serverId, static_cast<uint32_t>(v)), serverId);
  // Equal positions (vanishingly rare) are ordered by server id, so every ring built from
  // the same set of servers is identical whatever the order they were added in.
  std::sort(points_.begin(), points_.end());
  rebuildIndex();
}

void HashRing::rebuildIndex() {
  index_.assign(size_t{1} << kIndexBits, 0);
  size_t p = 0;
  for (size_t b = 0; b < index_.size(); ++b) {
    const uint64_t start = static_cast<uint64_t>(b) << (64 - kIndexBits);
    while (p < points_.size() && points_[p].first < start) ++p;
    index_[b] = static_cast<uint32_t>(p);
  }
}

void HashRing::removeServer(uint32_t serverId) {
  auto it = std::lower_bound(servers_.begin(), servers_.end(), serverId);
  if (it == servers_.end() || *it != serverId) {
    throw Error(ErrorCode::kInvalidArgument, "HashRing: server " + std::to_string(serverId) + " is not on the ring");
  }
  servers_.erase(it);
  points_.erase(std::remove_if(points_.begin(), points_.end(), [&](const auto& p) { return p.second == serverId; }),
                points_.end());
  rebuildIndex();
}

// First point at or after the key's position, wrapping past the top of the ring.
size_t HashRing::pointIndex(uint64_t key) const { return pointIndexOfHash(ringHash(key)); }

size_t HashRing::pointIndexOfHash(uint64_t h) const {
  const size_t i = lowerBound(h);
  return i == points_.size() ? 0 : i;
}

// First point at or after position h, or points_.size() if none (no wrap).
size_t HashRing::lowerBound(uint64_t h) const {
  if (points_.empty()) throw Error(ErrorCode::kInvalidUsage, "HashRing: no servers on the ring");
  size_t i = index_[h >> (64 - kIndexBits)];
  const size_t n = points_.size();
  while (i < n && points_[i].first < h) ++i;
  return i;
}

uint32_t HashRing::primary(uint64_t key) const { return points_[pointIndex(key)].second; }

// Position lo maps to point pointIndexOfHash(lo); each point p with lo <= p < hi hands the
// positions after it to the next point. So [lo, hi] is uniform when the first point and the
// ones after each such p name one server. Buckets of a request are narrower than most arcs,
// so there are few such points; more than a few means not uniform in practice.
bool HashRing::uniformPrimary(uint64_t lo, uint64_t hi, uint32_t* server) const {
  const size_t n = points_.size();
  const size_t first = lowerBound(lo);
  const size_t crossings = lowerBound(hi) - first;
  if (crossings > 8) return false;
  size_t i = first == n ? 0 : first;
  const uint32_t s = points_[i].second;
  for (size_t k = 0; k < crossings; ++k) {
    i = i + 1 == n ? 0 : i + 1;
    if (points_[i].second != s) return false;
  }
  *server = s;
  return true;
}

void HashRing::owners(uint64_t key, int replicas, uint32_t* out) const {
  checkReplicas(replicas);  // before the lookup: a bad count is reported even on an empty ring
  ownersAtPoint(pointIndex(key), replicas, out);
}

void HashRing::checkReplicas(int replicas) const {
  if (replicas < 1 || static_cast<size_t>(replicas) > servers_.size()) {
    throw Error(ErrorCode::kInvalidArgument, "HashRing: 'replicas' must be in [1, " + std::to_string(servers_.size()) +
                                                 "] (the number of servers) but got " + std::to_string(replicas));
  }
}

void HashRing::ownersAtPoint(size_t i, int replicas, uint32_t* out) const {
  int found = 0;
  // Each server appears vnodes times, so distinct servers turn up within a few steps; the
  // walk is bounded by one lap.
  for (size_t step = 0; step < points_.size() && found < replicas; ++step, i = (i + 1 == points_.size() ? 0 : i + 1)) {
    const uint32_t s = points_[i].second;
    if (std::find(out, out + found, s) == out + found) out[found++] = s;
  }
}

}  // namespace shoal::ps
