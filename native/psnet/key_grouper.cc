#include "psnet/key_grouper.h"

#include <algorithm>

#include "ps/mix64.h"

namespace shoal {
namespace psnet {

namespace {
// Keys per bucket aimed at: the bucket's dedup table (2 slots per key, 16 bytes each)
// stays within L1, and per-bucket overhead stays small next to the per-key work.
constexpr size_t kKeysPerBucket = 256;
constexpr int kMaxBucketBits = 16;  // bucketOf_ is uint16

// Store order needs only the top bits of the slot: keys sorted by the top 16 bits of their
// store hash walk a 2.5*10^6-slot table in runs of nearby lines (store alone, 2*10^6 random
// keys, AdaGrad push: 19.8 -> 11.7 CPU ns/key at dim 1, 56.7 -> 22.6 at dim 16; BENCHMARKS.md,
// "Keys in the servers' slot order"). About 4 keys per bucket keeps the counting sort's
// histogram small next to the share.
constexpr size_t kKeysPerStoreBucket = 4;

// Top-bit count for n keys in buckets of about keysPerBucket (at most kMaxBucketBits).
int bucketBitsFor(size_t n, size_t keysPerBucket) {
  int bits = 0;
  while (bits < kMaxBucketBits && (n >> (bits + 1)) >= keysPerBucket) ++bits;
  return bits;
}
}  // namespace

void KeyGrouper::group(const uint64_t* keys, size_t n, const ps::HashRing& ring, int numServers, KeyPlan* plan) {
  plan->repeats.clear();
  plan->byServer.resize(static_cast<size_t>(numServers));
  for (auto& list : plan->byServer) {
    list.clear();
    list.reserve(n / static_cast<size_t>(numServers) + n / 16 + 16);
  }
  plan->uniq.resize(n);
  plan->firstOf.resize(n);
  if (n == 0) {
    plan->uniq.clear();
    plan->firstOf.clear();
    return;
  }
  firstOf_.resize(n);
  serverOf_.resize(n);

  // Counting sort of the caller's positions by bucket (top bits of the ring hash): stable,
  // so within a bucket positions stay in caller order and a key's first occurrence comes first.
  const int bits = bucketBitsFor(n, kKeysPerBucket);
  const size_t buckets = size_t{1} << bits;
  const int shift = 64 - bits;
  bucketOf_.resize(n);
  start_.assign(buckets, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t b = bits == 0 ? 0 : static_cast<uint16_t>(ps::ringHash(keys[i]) >> shift);
    bucketOf_[i] = b;
    ++start_[b];
  }
  size_t largest = 0;
  for (size_t b = 0, sum = 0; b < buckets; ++b) {
    const size_t c = start_[b];
    largest = std::max(largest, c);
    start_[b] = static_cast<uint32_t>(sum);
    sum += c;
  }
  sorted_.resize(n);
  Entry* sorted = sorted_.data();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t p = start_[bucketOf_[i]]++;  // afterwards start_[b] is the end of bucket b
    sorted[p] = Entry{keys[i], i};
  }

  size_t tableSize = 16;
  while (tableSize < 2 * largest) tableSize <<= 1;
  if (table_.size() < tableSize) {
    table_.assign(tableSize, Slot{0, 0, 0});
    gen_ = 0;
  }
  uint32_t u = 0;
  for (size_t b = 0; b < buckets; ++b) {
    const uint32_t from = b == 0 ? 0 : start_[b - 1];
    const uint32_t to = start_[b];
    if (from == to) continue;
    // Ring positions of this bucket: [lo, hi].
    const uint64_t lo = bits == 0 ? 0 : static_cast<uint64_t>(b) << shift;
    const uint64_t hi = bits == 0 ? ~uint64_t{0} : lo | (~uint64_t{0} >> bits);
    uint32_t owner = 0;
    const bool uniform = ring.uniformPrimary(lo, hi, &owner);
    size_t cap = 16;
    while (cap < 2 * static_cast<size_t>(to - from)) cap <<= 1;
    const size_t mask = cap - 1;
    if (++gen_ == 0) {  // generations wrapped: clear once
      std::fill(table_.begin(), table_.end(), Slot{0, 0, 0});
      gen_ = 1;
    }
    const uint32_t gen = gen_;
    Slot* table = table_.data();
    for (uint32_t p = from; p < to; ++p) {
      const uint64_t k = sorted[p].key;
      const uint32_t i = static_cast<uint32_t>(sorted[p].index);
      const uint64_t h = ps::ringHash(k);  // its low bits are independent of the bucket's top bits
      size_t s = h & mask;
      while (table[s].gen == gen && table[s].key != k) s = (s + 1) & mask;
      if (table[s].gen == gen) {
        plan->repeats.emplace_back(i, table[s].uniq);
        continue;
      }
      table[s] = Slot{k, gen, u};
      firstOf_[u] = i;
      serverOf_[u] = uniform ? owner : ring.primaryOfHash(h);
      ++u;
    }
  }
  numberInCallerOrder(keys, n, u, plan);
}

// Numbers the distinct keys by first occurrence in the caller's order (they were found in
// bucket order): each server's share then lists them in caller order, so building a push
// reads the caller's keys and values, and a pull answer is written, front to back rather
// than at random positions.
void KeyGrouper::numberInCallerOrder(const uint64_t* keys, size_t n, uint32_t distinct, KeyPlan* plan) {
  constexpr uint32_t kNone = ~uint32_t{0};
  found_.assign(n, kNone);  // caller index -> bucket-order id of the key first seen there
  for (uint32_t t = 0; t < distinct; ++t) found_[firstOf_[t]] = t;
  renumber_.resize(distinct);
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t t = found_[i];
    if (t == kNone) continue;
    renumber_[t] = v;
    plan->uniq[v] = keys[i];
    plan->firstOf[v] = static_cast<uint32_t>(i);
    plan->byServer[serverOf_[t]].push_back(v);
    ++v;
  }
  for (auto& r : plan->repeats) r.second = renumber_[r.second];
  plan->uniq.resize(distinct);
  plan->firstOf.resize(distinct);
}

// Each share is counting-sorted by the top bits of its keys' store hash (stably): the
// server's ShardStore puts a key's home slot at mulhi(storeHash(key), capacity), monotone in
// the hash whatever the capacity, so a share in that order reaches the table's slots in
// increasing order, and a ~1 MiB message covers one narrow arc of it. The hardware
// prefetcher and open pages then serve the server's lookups, where keys in caller order miss
// the cache one by one. The client pays with reads of the caller's values (and writes of
// pull answers) at random positions, over arrays far smaller than a server's table.
void KeyGrouper::orderForStore(const KeyPlan& plan, KeyPlan* out) {
  const size_t distinct = plan.uniq.size();
  out->uniq.resize(distinct);
  out->firstOf.resize(distinct);
  out->byServer.resize(plan.byServer.size());
  storeIdOf_.resize(distinct);
  uint32_t next = 0;  // store-order ids are given server by server
  for (size_t s = 0; s < plan.byServer.size(); ++s) {
    const std::vector<uint32_t>& share = plan.byServer[s];
    const size_t n = share.size();
    const int bits = bucketBitsFor(n, kKeysPerStoreBucket);
    const int shift = 64 - bits;
    slotBucketOf_.resize(n);
    slotStart_.assign(size_t{1} << bits, 0);
    for (size_t j = 0; j < n; ++j) {
      const uint16_t b = bits == 0 ? 0 : static_cast<uint16_t>(ps::storeHash(plan.uniq[share[j]]) >> shift);
      slotBucketOf_[j] = b;
      ++slotStart_[b];
    }
    uint32_t sum = next;
    for (uint32_t& c : slotStart_) {
      const uint32_t count = c;
      c = sum;
      sum += count;
    }
    for (size_t j = 0; j < n; ++j) {
      const uint32_t u = share[j];
      const uint32_t v = slotStart_[slotBucketOf_[j]]++;
      storeIdOf_[u] = v;
      out->uniq[v] = plan.uniq[u];
      out->firstOf[v] = plan.firstOf[u];
    }
    std::vector<uint32_t>& ids = out->byServer[s];
    ids.resize(n);
    for (size_t j = 0; j < n; ++j) ids[j] = next + static_cast<uint32_t>(j);
    next += static_cast<uint32_t>(n);
  }
  out->repeats.resize(plan.repeats.size());
  for (size_t r = 0; r < plan.repeats.size(); ++r) out->repeats[r] = {plan.repeats[r].first, storeIdOf_[plan.repeats[r].second]};
}

}  // namespace psnet
}  // namespace shoal
