// 64-bit mixing shared by the parameter-server core: slot choice in ShardStore, placement
// on the HashRing and deterministic row initialisation. Pure functions, no state.
#pragma once

#include <cstdint>  // for uint64_t

namespace shoal::ps {

// splitmix64's finalizer (Stafford's variant 13): a bijection on uint64 with full
// avalanche, so sequential or strided keys come out as unrelated 64-bit values.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Each use hashes with its own salt. If the store and the ring used the same hash, every key
// a server owns would sit in a few narrow hash ranges and crowd into a fraction of its slots.
inline constexpr uint64_t kStoreSalt = 0x243f6a8885a308d3ULL;  // digits of pi
inline constexpr uint64_t kRingSalt = 0x13198a2e03707344ULL;
inline constexpr uint64_t kInitSalt = 0xa4093822299f31d0ULL;
inline constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;      // splitmix64's stream increment

inline uint64_t storeHash(uint64_t key) { return mix64(key + kStoreSalt); }
inline uint64_t ringHash(uint64_t key) { return mix64(key + kRingSalt); }

}  // namespace shoal::ps
