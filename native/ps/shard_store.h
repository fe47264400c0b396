// ShardStore: one table's rows on one server. An open-addressing hash table (linear
// probing) from any uint64 key to a fixed-width float row, plus the updater that applies
// pushes. It owns memory layout, growth and the pull/push semantics; it knows nothing about
// threads, the wire, replication or which keys this server should own (HashRing does).
// Not thread-safe: the server engine calls it from one thread.
//
// Layout. One zeroed block per table, 8 + 4 * rowFloats bytes per slot, no per-key
// allocation. Small rows (slot of at most kInterleaveBytes, e.g. dim 1 AdaGrad: 16 bytes)
// sit right after their key, so a lookup costs one cache miss instead of two; larger rows
// go to a separate arena indexed by the same slot, after a dense key array, so probing
// past other keys does not drag their rows through the cache; a batch finds those keys'
// slots a few keys ahead and prefetches the rows actually found (forEachSeparateRowOf). Key 0 marks an empty slot, which lets a fresh
// table come straight from zeroed pages (no initialisation pass); the real key 0 lives
// in a side slot. A key's home slot is mulhi(storeHash(key), capacity) ("fastrange"), so
// the capacity need not be a power of two (reserve() can size a table exactly, growth can
// be by 1.25) and growing the table sends old slot i to about new slot 1.25i, which makes
// migration a streaming copy.
//
// Growth. When an insert would push the load factor (keys in both tables / capacity) past
// 0.85, the table grows by 1.25x, incrementally: the old table stays, and every call first
// moves kMigrateChunk + kMigratePerKey * n of its slots (n = keys in the call) into the new
// one. The small factor keeps memory per key between 16/0.85 and 16*1.25/0.85 bytes (dim 1
// AdaGrad: 18.8 to 23.5) instead of 20 to 40 with doubling at 0.8; the price is moving
// each row about 4 times over the table's life instead of once. At 8 slots per key the old
// table (capacity C) drains within C/8 inserted keys, before the new one (1.25C) reaches
// its own limit 0.85 * 0.25C inserts later. Migration walks the old
// table circularly from an empty slot and clears each slot it moves; a lookup whose home
// lies in the already-walked arc starts probing at the migration frontier instead, which is
// exactly where the rest of its probe run now begins. Each key lives in exactly one table;
// new keys always go to the new one. No call does more than O(kMigrateChunk + 8n)
// migration work, except one that alone inserts more than 0.21C keys: it finishes the
// migration before growing again (O(C), under 5 times its own n).
//
// Large arrays are mmap'ed with MADV_HUGEPAGE (Linux): random slots across hundreds of MB
// otherwise cost a TLB miss per lookup on top of the cache miss.
//
// Page faults. The kernel zeroes a fresh page on first touch, and new keys hit random slots,
// so the first calls after a growth also pay for faulting in the new table (about 170 ms
// per 268 MB on the benchmark VM). Pre-faulting the next table early would hold 3x the
// memory from load 0.7 on; callers that know their key count should use expectedKeys or
// reserve() instead (also saves every migration).
//
// Deletion uses backward-shift (no tombstones), so probe runs stay as short as if the
// erased key had never been inserted.
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint64_t, uint32_t
#include <cstring>  // for memcpy
#include <memory>

#include "ps/mix64.h"
#include "ps/table_config.h"
#include "ps/updaters/updater.h"

namespace shoal::ps {

namespace detail {

// One probing array of `capacity` slots, each a key (0 = empty) and a row of `stride`
// floats, zero-filled: interleaved (key, row, key, row...) or keys[capacity] then rows.
class SlotTable {
 public:
  SlotTable() = default;
  SlotTable(size_t capacity, uint32_t stride);
  ~SlotTable();
  SlotTable(SlotTable&& other) noexcept;
  SlotTable& operator=(SlotTable&& other) noexcept;
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;

  size_t home(uint64_t key) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(storeHash(key)) * capacity_) >> 64);
  }
  size_t next(size_t slot) const { return slot + 1 == capacity_ ? 0 : slot + 1; }
  // Interleaved keys are only 4-byte aligned when the row has an odd number of floats.
  uint64_t key(size_t slot) const {
    uint64_t k;
    std::memcpy(&k, keyAt(slot), sizeof(k));
    return k;
  }
  void setKey(size_t slot, uint64_t k) { std::memcpy(keyAt(slot), &k, sizeof(k)); }
  const uint8_t* keyAt(size_t slot) const { return base_ + slot * keyStride_; }
  uint8_t* keyAt(size_t slot) { return base_ + slot * keyStride_; }
  float* row(size_t slot) const { return reinterpret_cast<float*>(rows_ + slot * rowStride_); }
  size_t capacity() const { return capacity_; }
  size_t bytes() const { return bytes_; }

  uint8_t* base_ = nullptr;  // the block; keys start here
  uint8_t* rows_ = nullptr;  // first row
  size_t keyStride_ = 0;
  size_t rowStride_ = 0;
  size_t bytes_ = 0;
  size_t capacity_ = 0;
  size_t used_ = 0;
  uint32_t stride_ = 0;
};

}  // namespace detail

class ShardStore {
 public:
  // Throws shoal::Error(kInvalidArgument) if validate(config) does. expectedKeys > 0 sizes
  // the first table to hold that many keys without growing.
  explicit ShardStore(const TableConfig& config, size_t expectedKeys = 0);
  ShardStore(const ShardStore&) = delete;
  ShardStore& operator=(const ShardStore&) = delete;

  // out: n * dim floats, in key order. Missing rows are created with their initial value;
  // for ftrl, w is computed from z and n.
  void pull(const uint64_t* keys, size_t n, float* out);
  // values: n * pushFloatsPerKey floats. Keys may repeat; pushes apply in order. Missing rows
  // are created with their initial value first.
  void push(const uint64_t* keys, size_t n, const float* values);

  // The raw row (rowFloats() floats: dim values, then state), for replication and
  // snapshots. False, and rowOut untouched, if the key is absent. Never creates a row.
  bool get(uint64_t key, float* rowOut) const;
  bool contains(uint64_t key) const;
  // Inserts or overwrites a raw row (restore from a snapshot or a replica).
  void putRaw(uint64_t key, const float* row);
  // Removes the key (key-range migration). Returns whether it was present.
  bool erase(uint64_t key);
  // Grows (incrementally) so that `keys` keys fit without further growth.
  void reserve(size_t keys);

  // f(uint64_t key, const float* row) for every row, in no particular order. f must not
  // modify the store.
  template <typename F>
  void forEach(F&& f) const;
  // f(uint64_t key, float* row) for every row: f may change the row, not the key set
  // (vector programs, ps/vector_program.h).
  template <typename F>
  void forEachMutable(F&& f);

  size_t size() const { return size_; }
  // Bytes allocated for the tables (old and new while migrating) and the side slot.
  size_t memoryBytes() const;
  uint32_t rowFloats() const { return stride_; }
  uint32_t dim() const { return config_.dim; }
  const TableConfig& config() const { return config_; }
  // Slots in the current table, and whether an old table is still being drained.
  size_t capacity() const { return cur_.capacity(); }
  bool migrating() const { return old_.capacity() != 0; }

  static constexpr size_t kMinCapacity = 16;
  // Slots up to this size hold key and row together (see Layout).
  static constexpr size_t kInterleaveBytes = 32;
  // Old-table slots moved per call, plus kMigratePerKey per key in the call.
  static constexpr size_t kMigrateChunk = 1024;
  static constexpr size_t kMigratePerKey = 8;
  // Load limit kMaxLoadNum / kMaxLoadDen (0.85) and growth factor 5/4.
  static constexpr size_t kMaxLoadNum = 17;
  static constexpr size_t kMaxLoadDen = 20;

 private:
  float* find(uint64_t key) const;
  float* insertAbsent(uint64_t key);  // key must be in neither table; row left uninitialised
  float* findOrCreate(uint64_t key);
  void pushAdagrad(const uint64_t* keys, size_t n, const float* values);  // push()'s AdaGrad loop
  template <typename F>
  void forEachRowOf(const uint64_t* keys, size_t n, F&& f);  // shard_store.cc: pull and push
  template <typename F>
  void forEachSeparateRowOf(const uint64_t* keys, size_t n, F&& f);  // the same, rows after the keys
  void startGrow(size_t capacity);
  void migrate(size_t slots);
  void finishMigration() { migrate(old_.capacity()); }
  size_t oldProbeStart(uint64_t key) const;
  bool eraseFrom(detail::SlotTable& t, uint64_t key, bool isOld);

  TableConfig config_;
  uint32_t stride_;
  uint32_t pushFloats_;
  ApplyFn apply_;
  detail::SlotTable cur_;
  detail::SlotTable old_;         // capacity 0 unless migrating
  size_t migrateStart_ = 0;       // an empty slot of old_ where the walk began
  size_t migrateDone_ = 0;        // slots of old_ walked so far
  bool zeroPresent_ = false;      // key 0 lives here, not in a table
  std::unique_ptr<float[]> zeroRow_;
  size_t size_ = 0;
};

template <typename F>
void ShardStore::forEach(F&& f) const {
  if (zeroPresent_) f(uint64_t{0}, static_cast<const float*>(zeroRow_.get()));
  for (const detail::SlotTable* t : {&old_, &cur_}) {
    for (size_t i = 0; i < t->capacity(); ++i) {
      const uint64_t k = t->key(i);
      if (k != 0) f(k, static_cast<const float*>(t->row(i)));
    }
  }
}

template <typename F>
void ShardStore::forEachMutable(F&& f) {
  if (zeroPresent_) f(uint64_t{0}, zeroRow_.get());
  for (detail::SlotTable* t : {&old_, &cur_}) {
    for (size_t i = 0; i < t->capacity(); ++i) {
      const uint64_t k = t->key(i);
      if (k != 0) f(k, t->row(i));
    }
  }
}

}  // namespace shoal::ps
