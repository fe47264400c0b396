// AdaGrad's push is cloned for wider vectors (pushAdagrad); an FMA there would round
// acc += g * g once instead of twice and break bit-exact results.
#pragma GCC optimize("fp-contract=off")
#include "ps/shard_store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>  // for mmap, madvise(MADV_HUGEPAGE)
#endif

#include "common/error.h"
#include "ps/row_init.h"
#include "ps/updaters/adagrad.h"
#include "ps/updaters/ftrl.h"

// The row loops are inlined into each caller, so that pushAdagrad's clones (below) compile
// them, and the updater in them, for their own vector width.
#if defined(__GNUC__)
#define SHOAL_LOOP_INLINE inline __attribute__((always_inline))
#else
#define SHOAL_LOOP_INLINE inline
#endif

namespace shoal::ps {

namespace detail {

namespace {

// Arrays at least this big are mmap'ed and asked for transparent huge pages: lookups at
// 10^7 keys touch random slots across hundreds of MB, and with 4 KiB pages nearly every
// one is also a TLB miss. Smaller arrays come from calloc.
constexpr size_t kHugeBytes = 2u << 20;

// Zeroed memory: zero keys are empty slots, and fresh pages are zero already, so a new
// table costs no initialisation pass (and no stall) however big it is.
void* allocZeroed(size_t bytes) {
#if defined(__linux__)
  if (bytes >= kHugeBytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
#if defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure just means 4 KiB pages
#endif
    return p;
  }
#endif
  return std::calloc(bytes == 0 ? 1 : bytes, 1);
}

void freeZeroed(void* p, size_t bytes) {
  if (p == nullptr) return;
#if defined(__linux__)
  if (bytes >= kHugeBytes) {
    munmap(p, bytes);
    return;
  }
#endif
  std::free(p);
}

}  // namespace

SlotTable::SlotTable(size_t capacity, uint32_t stride) : capacity_(capacity), stride_(stride) {
  const size_t rowBytes = stride * sizeof(float);
  size_t rowsOffset;
  if (sizeof(uint64_t) + rowBytes <= ShardStore::kInterleaveBytes) {
    keyStride_ = rowStride_ = sizeof(uint64_t) + rowBytes;
    rowsOffset = sizeof(uint64_t);
    bytes_ = capacity * keyStride_;
  } else {
    keyStride_ = sizeof(uint64_t);
    rowStride_ = rowBytes;
    // Rows start on a cache line: a 128-byte row then spans 2 lines, not 3.
    rowsOffset = (capacity * sizeof(uint64_t) + 63) / 64 * 64;
    bytes_ = rowsOffset + capacity * rowBytes;
  }
  base_ = static_cast<uint8_t*>(allocZeroed(bytes_));
  if (base_ == nullptr) {
    throw Error(ErrorCode::kInternal, "ShardStore: out of memory allocating " + std::to_string(capacity) + " slots (" +
                                          std::to_string(bytes_) + " bytes)");
  }
  rows_ = base_ + rowsOffset;
}

SlotTable::~SlotTable() { freeZeroed(base_, bytes()); }

SlotTable::SlotTable(SlotTable&& other) noexcept { *this = std::move(other); }

SlotTable& SlotTable::operator=(SlotTable&& other) noexcept {
  std::swap(base_, other.base_);
  std::swap(rows_, other.rows_);
  std::swap(keyStride_, other.keyStride_);
  std::swap(rowStride_, other.rowStride_);
  std::swap(bytes_, other.bytes_);
  std::swap(capacity_, other.capacity_);
  std::swap(used_, other.used_);
  std::swap(stride_, other.stride_);
  return *this;
}

}  // namespace detail

namespace {

// Capacity that holds `keys` keys at the load limit.
size_t capacityFor(size_t keys) {
  return std::max(ShardStore::kMinCapacity, (keys * ShardStore::kMaxLoadDen + ShardStore::kMaxLoadNum - 1) / ShardStore::kMaxLoadNum);
}

size_t grownCapacity(size_t capacity) { return capacity + capacity / 4; }

// Keys ahead of the current one whose home slot is prefetched: at 10^7 keys nearly every
// lookup is a cache miss, and overlapping ~16 of them is what makes a batch fast.
constexpr size_t kPrefetchDistance = 16;

}  // namespace

ShardStore::ShardStore(const TableConfig& config, size_t expectedKeys)
    : config_((validate(config), config)),
      stride_(rowFloatsPerKey(config)),
      pushFloats_(pushFloatsPerKey(config)),
      apply_(applyFnFor(config.updater.kind)),
      cur_(capacityFor(expectedKeys), rowFloatsPerKey(config)),
      zeroRow_(new float[rowFloatsPerKey(config)]()) {}

size_t ShardStore::memoryBytes() const {
  return cur_.bytes() + old_.bytes() + stride_ * sizeof(float) + sizeof(*this);
}

// Where a key's probe run starts in the old table: its home, unless migration has already
// walked past the home, in which case the run now starts at the frontier (everything before
// it in the run has moved, and the walk began at an empty slot, so the run cannot have
// begun before the walk did).
size_t ShardStore::oldProbeStart(uint64_t key) const {
  const size_t cap = old_.capacity();
  const size_t h = old_.home(key);
  const size_t offset = h >= migrateStart_ ? h - migrateStart_ : h + cap - migrateStart_;
  if (offset >= migrateDone_) return h;
  const size_t frontier = migrateStart_ + migrateDone_;
  return frontier >= cap ? frontier - cap : frontier;
}

float* ShardStore::find(uint64_t key) const {
  if (key == 0) return zeroPresent_ ? zeroRow_.get() : nullptr;
  for (size_t s = cur_.home(key);; s = cur_.next(s)) {
    const uint64_t k = cur_.key(s);
    if (k == key) return cur_.row(s);
    if (k == 0) break;
  }
  if (!migrating()) return nullptr;
  for (size_t s = oldProbeStart(key);; s = old_.next(s)) {
    const uint64_t k = old_.key(s);
    if (k == key) return old_.row(s);
    if (k == 0) return nullptr;
  }
}

float* ShardStore::insertAbsent(uint64_t key) {
  if (key == 0) {
    zeroPresent_ = true;
    ++size_;
    return zeroRow_.get();
  }
  // Counting both tables keeps the current one under the limit even after it absorbs the old.
  if ((cur_.used_ + old_.used_ + 1) * kMaxLoadDen > cur_.capacity() * kMaxLoadNum) {
    if (migrating()) finishMigration();  // only if one call inserted > 0.2x the old table
    startGrow(grownCapacity(cur_.capacity()));
  }
  size_t s = cur_.home(key);
  while (cur_.key(s) != 0) s = cur_.next(s);
  cur_.setKey(s, key);
  ++cur_.used_;
  ++size_;
  return cur_.row(s);
}

float* ShardStore::findOrCreate(uint64_t key) {
  if (float* row = find(key)) return row;
  float* row = insertAbsent(key);
  initRow(config_, key, row);
  return row;
}

void ShardStore::startGrow(size_t capacity) {
  old_ = std::move(cur_);
  cur_ = detail::SlotTable(capacity, stride_);
  migrateDone_ = 0;
  if (old_.used_ == 0) {
    old_ = detail::SlotTable();
    return;
  }
  // Load <= 0.85, so an empty slot exists; starting there means no probe run straddles the
  // start of the walk.
  migrateStart_ = 0;
  while (old_.key(migrateStart_) != 0) ++migrateStart_;
}

void ShardStore::migrate(size_t slots) {
  if (!migrating()) return;
  const size_t cap = old_.capacity();
  const size_t bytes = stride_ * sizeof(float);
  while (slots > 0 && old_.used_ > 0 && migrateDone_ < cap) {
    size_t i = migrateStart_ + migrateDone_;
    if (i >= cap) i -= cap;
    const uint64_t k = old_.key(i);
    if (k != 0) {
      size_t s = cur_.home(k);
      while (cur_.key(s) != 0) s = cur_.next(s);
      cur_.setKey(s, k);
      std::memcpy(cur_.row(s), old_.row(i), bytes);
      ++cur_.used_;
      old_.setKey(i, 0);
      --old_.used_;
    }
    ++migrateDone_;
    --slots;
  }
  if (old_.used_ == 0) {
    old_ = detail::SlotTable();
    migrateDone_ = 0;
  }
}

// Visits the row of every key in order (creating missing ones), each key's home slot
// computed once: a few keys ahead, to prefetch it, and kept in a small ring for the lookup
// itself. A growth changes the homes, so the ones already computed are redone then. Rows
// here sit next to their keys; rows in their own arena go to forEachSeparateRowOf.
template <typename F>
SHOAL_LOOP_INLINE void ShardStore::forEachRowOf(const uint64_t* keys, size_t n, F&& f) {
  if (cur_.keyStride_ == sizeof(uint64_t)) {  // Layout: rows after the keys
    forEachSeparateRowOf(keys, n, std::forward<F>(f));
    return;
  }
  constexpr size_t kRing = kPrefetchDistance;
  size_t homes[kRing];
  size_t capacity = cur_.capacity();
  auto ahead = [&](size_t j, bool write) {
    const size_t s = cur_.home(keys[j]);
    homes[j % kRing] = s;
    // The home slot's line and the next (at load 0.7-0.85 probe runs often cross a line;
    // prefetching the next line only for homes near a line's end measured slower, and so
    // did finding the slot ahead as forEachSeparateRowOf does: 24-27 vs 27-33 ns per
    // pushed key at dim 1, node dist/bench/ps_store_cpu.js, 3 alternating pairs).
    const uint8_t* k = cur_.keyAt(s);
    if (write) {
      __builtin_prefetch(k, 1);
      __builtin_prefetch(k + 64, 1);
    } else {
      __builtin_prefetch(k);
      __builtin_prefetch(k + 64);
    }
  };
  for (size_t j = 0; j < n && j < kRing; ++j) ahead(j, std::decay_t<F>::kWrites);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = keys[i];
    const size_t home = homes[i % kRing];
    if (i + kRing < n) ahead(i + kRing, std::decay_t<F>::kWrites);
    float* row = nullptr;
    if (key != 0) {
      for (size_t s = home;; s = cur_.next(s)) {
        const uint64_t k = cur_.key(s);
        if (k == key) {
          row = cur_.row(s);
          break;
        }
        if (k == 0) break;
      }
    }
    if (row == nullptr) {
      row = findOrCreate(key);  // key 0, the old table, or a new row (which may grow the table)
      if (cur_.capacity() != capacity) {
        capacity = cur_.capacity();
        for (size_t j = i + 1; j < n && j < i + 1 + kRing; ++j) ahead(j, std::decay_t<F>::kWrites);
      }
    }
    f(i, row);
  }
}

// With rows in their own arena the row's address is known only once the key is found, and
// with linear probing at load 0.68-0.85 only 58-66% of the keys sit in their home slot (a
// simulation): prefetching the home slot's row wasted two lines for the others and left
// their real row to two dependent misses. So two stages run ahead of the visit: 2D keys ahead the home slot's key lines are
// prefetched; D keys ahead (those lines have arrived) the key is probed for and the row of
// the slot it is in is prefetched (D = kPrefetchDistance). The visit then goes straight to
// that row. Slots found ahead stay right because nothing in the loop moves a key except a
// growth (inserts only fill empty slots), after which the stages are redone; a key not
// found ahead (new, key 0, in the old table, or inserted by an earlier repeat in the same
// call) takes the full lookup.
template <typename F>
SHOAL_LOOP_INLINE void ShardStore::forEachSeparateRowOf(const uint64_t* keys, size_t n, F&& f) {
  constexpr size_t kAhead = kPrefetchDistance;
  constexpr size_t kRing = 2 * kAhead;
  constexpr size_t kUnresolved = SIZE_MAX;
  constexpr bool kWrites = std::decay_t<F>::kWrites;
  size_t homes[kRing];
  size_t slots[kRing];
  size_t capacity = cur_.capacity();
  // A push writes weights and state (the whole row: 2 lines at dim 16 AdaGrad), a pull reads
  // the weights.
  const size_t rowBytes = kWrites ? cur_.rowStride_ : config_.dim * sizeof(float);
  auto keyLines = [&](size_t j) {
    const size_t s = cur_.home(keys[j]);
    homes[j % kRing] = s;
    const uint8_t* k = cur_.keyAt(s);
    __builtin_prefetch(k, kWrites);
    __builtin_prefetch(k + 64, kWrites);  // probe runs often cross a line at load 0.7-0.85
  };
  auto resolve = [&](size_t j) {
    size_t found = kUnresolved;
    const uint64_t key = keys[j];
    if (key != 0) {
      for (size_t s = homes[j % kRing];; s = cur_.next(s)) {
        const uint64_t k = cur_.key(s);
        if (k == key) {
          found = s;
          break;
        }
        if (k == 0) break;
      }
    }
    slots[j % kRing] = found;
    if (found == kUnresolved) return;
    const auto* row = reinterpret_cast<const uint8_t*>(cur_.row(found));
    for (size_t b = 0; b < rowBytes; b += 64) __builtin_prefetch(row + b, kWrites);
  };
  auto restart = [&](size_t from) {  // stages for keys from..from+kRing-1, as at the start
    for (size_t j = from; j < n && j < from + kRing; ++j) keyLines(j);
    for (size_t j = from; j < n && j < from + kAhead; ++j) resolve(j);
  };
  restart(0);
  for (size_t i = 0; i < n; ++i) {
    if (i + kRing < n) keyLines(i + kRing);
    if (i + kAhead < n) resolve(i + kAhead);
    const size_t slot = slots[i % kRing];
    float* row;
    if (slot != kUnresolved) {
      row = cur_.row(slot);
    } else {
      row = findOrCreate(keys[i]);  // may insert, and an insert may grow the table
      if (cur_.capacity() != capacity) {
        capacity = cur_.capacity();
        restart(i + 1);
      }
    }
    f(i, row);
  }
}

namespace {
struct PullRow {
  static constexpr bool kWrites = false;
  const TableConfig& config;
  float* out;
  void operator()(size_t i, const float* row) const {
    const uint32_t dim = config.dim;
    if (config.updater.kind == UpdaterKind::kFtrl) {
      ftrlWeights(config.updater, dim, row, out + i * dim);
    } else if (dim == 1) {
      out[i] = row[0];
    } else {
      std::memcpy(out + i * dim, row, dim * sizeof(float));
    }
  }
};
struct PushRow {
  static constexpr bool kWrites = true;
  const TableConfig& config;
  ApplyFn apply;
  uint32_t pushFloats;
  const float* values;
  void operator()(size_t i, float* row) const { apply(config.updater, config.dim, row, values + i * pushFloats); }
};
// AdaGrad, the common updater, inlined into the loop (no call per key).
struct PushAdagradRow {
  static constexpr bool kWrites = true;
  float lr, eps;
  uint32_t dim;
  const float* values;
  void operator()(size_t i, float* row) const { adagradRow(lr, eps, dim, row, values + i * dim); }
};
}  // namespace

void ShardStore::pull(const uint64_t* keys, size_t n, float* out) {
  migrate(kMigrateChunk + kMigratePerKey * n);
  forEachRowOf(keys, n, PullRow{config_, out});
}

// Narrower rows gain nothing from wider vectors (dim 1, store alone: the AVX-512 clone was
// 3-12% slower than SSE in 3 alternating pairs), so they keep the SSE loop.
constexpr uint32_t kWideAdagradDim = 8;

// AdaGrad's sqrt and division per column are a large part of a row's apply, and they do not
// overlap well with the row's cache misses: this loop is compiled once per vector width and
// the loader picks the widest the CPU has (GCC/Clang ifunc; store alone at dim 16: about
// 0.82x the CPU per key, BENCHMARKS.md). Every width computes the same IEEE operations column
// by column, so results are bit-identical.
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("default", "avx2", "avx512f")))
#endif
void ShardStore::pushAdagrad(const uint64_t* keys, size_t n, const float* values) {
  forEachRowOf(keys, n, PushAdagradRow{config_.updater.lr, config_.updater.eps, config_.dim, values});
}

void ShardStore::push(const uint64_t* keys, size_t n, const float* values) {
  migrate(kMigrateChunk + kMigratePerKey * n);
  if (config_.updater.kind == UpdaterKind::kAdagrad && config_.dim >= kWideAdagradDim) {
    pushAdagrad(keys, n, values);
  } else if (config_.updater.kind == UpdaterKind::kAdagrad) {
    forEachRowOf(keys, n, PushAdagradRow{config_.updater.lr, config_.updater.eps, config_.dim, values});
  } else {
    forEachRowOf(keys, n, PushRow{config_, apply_, pushFloats_, values});
  }
}

bool ShardStore::get(uint64_t key, float* rowOut) const {
  const float* row = find(key);
  if (row == nullptr) return false;
  std::memcpy(rowOut, row, stride_ * sizeof(float));
  return true;
}

bool ShardStore::contains(uint64_t key) const { return find(key) != nullptr; }

void ShardStore::putRaw(uint64_t key, const float* row) {
  migrate(kMigrateChunk + kMigratePerKey);
  float* dst = find(key);
  if (dst == nullptr) dst = insertAbsent(key);
  std::memcpy(dst, row, stride_ * sizeof(float));
}

bool ShardStore::erase(uint64_t key) {
  migrate(kMigrateChunk + kMigratePerKey);
  if (key == 0) {
    if (!zeroPresent_) return false;
    zeroPresent_ = false;
    --size_;
    return true;
  }
  return eraseFrom(cur_, key, false) || (migrating() && eraseFrom(old_, key, true));
}

// Backward-shift deletion: walk the run after the hole and pull back every key whose probe
// run covers the hole, so lookups never need tombstones. In the old table the "home" is
// oldProbeStart(), the run start lookups actually use.
bool ShardStore::eraseFrom(detail::SlotTable& t, uint64_t key, bool isOld) {
  size_t hole = isOld ? oldProbeStart(key) : t.home(key);
  for (;; hole = t.next(hole)) {
    const uint64_t k = t.key(hole);
    if (k == key) break;
    if (k == 0) return false;
  }
  const size_t bytes = stride_ * sizeof(float);
  for (size_t j = t.next(hole);; j = t.next(j)) {
    const uint64_t k = t.key(j);
    if (k == 0) break;
    const size_t h = isOld ? oldProbeStart(k) : t.home(k);
    // The key at j may move into the hole iff the hole lies in its run [h, j) (cyclic).
    const bool covers = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
    if (!covers) continue;
    t.setKey(hole, k);
    std::memcpy(t.row(hole), t.row(j), bytes);
    hole = j;
  }
  t.setKey(hole, 0);
  --t.used_;
  --size_;
  return true;
}

void ShardStore::reserve(size_t keys) {
  const size_t capacity = capacityFor(keys);
  if (capacity <= cur_.capacity()) return;
  finishMigration();
  startGrow(capacity);
}

}  // namespace shoal::ps
