// KeyGrouper: turns a caller's keys (any order, repeats allowed) into what the client
// sends: the distinct keys, each server's share of them, and the way back to the caller's
// positions. One radix pass does what a per-key hash table over the whole request did:
// keys are bucketed by the top bits of their ring hash (buckets of ~256 keys, in ring
// order), so deduplication runs bucket by bucket in a table that stays in L1, and a bucket
// that lies inside one arc of the ring gets its server from one lookup instead of one per
// key. Scratch and per-request buffers are reused across calls (no allocation per request
// once warm).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ps/hash_ring.h"

namespace shoal {
namespace psnet {

// One request's keys, grouped.
struct KeyPlan {
  std::vector<uint64_t> uniq;                           // distinct keys, in order of first occurrence
  std::vector<uint32_t> firstOf;                        // uniq u -> caller index of its first occurrence
  std::vector<std::pair<uint32_t, uint32_t>> repeats;   // (caller index, u) of every later occurrence, in caller order
  std::vector<std::vector<uint32_t>> byServer;          // uniq positions whose primary is that server
};

class KeyGrouper {
 public:
  // Fills *plan (its old contents are replaced, its capacity kept) for keys[0..n) over the
  // primaries of `ring` (server ids < numServers).
  void group(const uint64_t* keys, size_t n, const ps::HashRing& ring, int numServers, KeyPlan* plan);
  // *out: the same request with its distinct keys numbered server by server, each server's
  // in the order of its hash-table slots (the top bits of the store hash), so that the
  // server's lookups, and its replica's, walk its table front to back, and the client reads
  // the plan front to back too. Only for keys the servers already hold: a share in slot
  // order goes out in messages that each cover one arc of the hash range, and new keys
  // inserted that way pile into one arc of a table that is still small, where linear
  // probing is quadratic.
  void orderForStore(const KeyPlan& plan, KeyPlan* out);

 private:
  void numberInCallerOrder(const uint64_t* keys, size_t n, uint32_t distinct, KeyPlan* plan);
  struct Slot {
    uint64_t key;
    uint32_t gen;
    uint32_t uniq;
  };
  std::vector<uint16_t> bucketOf_;   // caller index -> bucket
  std::vector<uint32_t> start_;      // bucket -> first position in sorted order
  struct Entry {
    uint64_t key;
    uint64_t index;  // caller index (64 bits: one aligned 16-byte store per key)
  };
  std::vector<Entry> sorted_;        // the keys in bucket order, with their caller index
  std::vector<Slot> table_;          // dedup table of one bucket, generation-tagged
  std::vector<uint32_t> firstOf_;    // bucket-order id -> caller index of its first occurrence
  std::vector<uint32_t> serverOf_;   // bucket-order id -> primary server
  std::vector<uint32_t> found_;      // caller index -> bucket-order id first seen there, or none
  std::vector<uint32_t> renumber_;   // bucket-order id -> id in caller order
  std::vector<uint16_t> slotBucketOf_;  // orderForStore: share position -> top bits of its store hash
  std::vector<uint32_t> slotStart_;     // store bucket -> next position in store order
  std::vector<uint32_t> storeIdOf_;     // caller-order id -> store-order id
  uint32_t gen_ = 0;
};

}  // namespace psnet
}  // namespace shoal
