// Sparse allReduce (and sparse reduceScatter) of (uint64 key, float32 row of dim d) pairs.
// Keys are partitioned over ranks by hash range (sparseOwner in context.h), so each rank
// owns about 1/p of the key space however the keys cluster.
//
//   1. Local: sort this rank's pairs by (owner, key, input position) and sum the rows of
//      repeated keys in input order; pack one block per owner: its keys, then its rows.
//   2. allToAllv: counts first, then each block goes straight to its owner.
//   3. Owner: k-way merge of the p sorted blocks, summing equal keys in rank order, so each
//      owned row is computed once, in a fixed order. sparseReduceScatter stops here: rank r
//      gets the keys it owns, sorted.
//   4. allGathervBytes (ring) of the owners' results, then a k-way merge of the p disjoint
//      sorted runs, so every rank holds the same bits with keys sorted.
//
// Cost, with b = 8 + 4d bytes per row, K_r = distinct keys on rank r, U = distinct keys of
// the whole job, U_r = those owned by rank r: steps 2 (exchange) + 1 (result sizes) + p-1
// (ring); rank r sends about K_r (p-1)/p rows and receives what the others hold of its
// range in step 2, then receives (U - U_r) b bytes in step 4. No padding to the largest
// rank. CPU: O(K_r log K_r) sort, O(rows received · log p) merges.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <queue>
#include <string>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

namespace {

struct Entry {
  uint64_t key;
  uint32_t owner;
  uint32_t index;  // input position: repeated keys are summed in input order
};

// One sorted run of packed rows: n keys (possibly unaligned) followed by n * dim floats.
struct Run {
  const uint8_t* keys;
  const uint8_t* values;
  size_t n;
  uint64_t key(size_t i) const {
    uint64_t k;
    std::memcpy(&k, keys + 8 * i, 8);
    return k;
  }
};

Run runAt(const uint8_t* block, size_t rows, size_t dim) { return Run{block, block + 8 * rows, rows}; }

// Merges sorted runs into out (keys sorted, unique), summing rows of equal keys in run order.
void mergeRuns(const std::vector<Run>& runs, size_t dim, SparseRows& out) {
  using Head = std::pair<uint64_t, size_t>;  // (key, run): equal keys pop in run order
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heap;
  std::vector<size_t> pos(runs.size(), 0);
  size_t total = 0;
  for (size_t j = 0; j < runs.size(); ++j) {
    total += runs[j].n;
    if (runs[j].n) heap.emplace(runs[j].key(0), j);
  }
  out.keys.clear();
  out.values.clear();
  out.keys.reserve(total);
  out.values.reserve(total * dim);
  std::vector<float> row(dim);
  while (!heap.empty()) {
    const auto [key, j] = heap.top();
    heap.pop();
    std::memcpy(row.data(), runs[j].values + 4 * dim * pos[j], 4 * dim);
    if (!out.keys.empty() && out.keys.back() == key) {
      float* acc = out.values.data() + out.values.size() - dim;
      for (size_t k = 0; k < dim; ++k) acc[k] += row[k];
    } else {
      out.keys.push_back(key);
      out.values.insert(out.values.end(), row.begin(), row.end());
    }
    if (++pos[j] < runs[j].n) heap.emplace(runs[j].key(pos[j]), j);
  }
}

// Step 1: one block per owner, [keys | rows], repeated keys summed; returns block bytes.
std::vector<size_t> packByOwner(const uint64_t* keys, const float* values, size_t n, size_t dim, int p,
                                std::vector<uint8_t>& packed) {
  std::vector<Entry> entries(n);
  for (size_t i = 0; i < n; ++i) entries[i] = Entry{keys[i], static_cast<uint32_t>(sparseOwner(keys[i], p)), static_cast<uint32_t>(i)};
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.owner != b.owner) return a.owner < b.owner;
    if (a.key != b.key) return a.key < b.key;
    return a.index < b.index;
  });
  std::vector<size_t> rows(static_cast<size_t>(p), 0);
  for (size_t i = 0; i < n; ++i) {
    if (i == 0 || entries[i].key != entries[i - 1].key) ++rows[entries[i].owner];
  }
  const size_t rowBytes = 8 + 4 * dim;
  std::vector<size_t> bytes(static_cast<size_t>(p));
  std::vector<size_t> start(static_cast<size_t>(p) + 1, 0);
  for (size_t j = 0; j < static_cast<size_t>(p); ++j) {
    bytes[j] = rows[j] * rowBytes;
    start[j + 1] = start[j] + bytes[j];
  }
  packed.assign(start[static_cast<size_t>(p)], 0);
  std::vector<size_t> filled(static_cast<size_t>(p), 0);  // rows written per owner
  float* acc = nullptr;
  for (size_t i = 0; i < n; ++i) {
    const Entry& e = entries[i];
    const float* row = values + static_cast<size_t>(e.index) * dim;
    if (i > 0 && e.key == entries[i - 1].key) {
      for (size_t k = 0; k < dim; ++k) acc[k] += row[k];
      continue;
    }
    uint8_t* block = packed.data() + start[e.owner];
    const size_t at = filled[e.owner]++;
    std::memcpy(block + 8 * at, &e.key, 8);
    acc = reinterpret_cast<float*>(block + 8 * rows[e.owner]) + at * dim;
    std::memcpy(acc, row, 4 * dim);
  }
  return bytes;
}

// Splits a buffer of p blocks (block j: bytes[j]) into runs of rows, checking sizes.
std::vector<Run> runsOf(const Context& c, const uint8_t* buf, const std::vector<size_t>& bytes, size_t dim) {
  const size_t rowBytes = 8 + 4 * dim;
  std::vector<Run> runs;
  size_t off = 0;
  for (size_t j = 0; j < bytes.size(); ++j) {
    if (bytes[j] % rowBytes) {
      throw Error(ErrorCode::kMismatch,
                  "sparse collective: rank " + std::to_string(j) + " sent " + std::to_string(bytes[j]) +
                      " bytes, not a whole number of rows of dim " + std::to_string(dim) + " on rank " + std::to_string(c.rank()),
                  static_cast<int>(j));
    }
    runs.push_back(runAt(buf + off, bytes[j] / rowBytes, dim));
    off += bytes[j];
  }
  return runs;
}

}  // namespace

void sparseAllReduce(Context& c, const uint64_t* keys, const float* values, size_t n, size_t dim, bool scatterOnly,
                     SparseRows& out) {
  const int p = c.size();
  std::vector<uint8_t> packed;
  const std::vector<size_t> sendBytes = packByOwner(keys, values, n, dim, p, packed);
  std::vector<uint8_t> received;
  std::vector<size_t> recvBytes;
  allToAllv(c, 0, packed.data(), sendBytes, received, recvBytes);
  packed = std::vector<uint8_t>();
  SparseRows owned;
  mergeRuns(runsOf(c, received.data(), recvBytes, dim), dim, owned);
  received = std::vector<uint8_t>();
  if (scatterOnly || p == 1) {
    out = std::move(owned);
    return;
  }
  const size_t ownedRows = owned.keys.size();
  std::vector<uint8_t> block(ownedRows * (8 + 4 * dim));
  std::memcpy(block.data(), owned.keys.data(), 8 * ownedRows);
  std::memcpy(block.data() + 8 * ownedRows, owned.values.data(), 4 * dim * ownedRows);
  owned = SparseRows();
  std::vector<uint64_t> mine(static_cast<size_t>(p), block.size());
  std::vector<uint64_t> sizes(static_cast<size_t>(p), 0);
  exchangeWords(c, 2, mine.data(), sizes.data());
  const std::vector<size_t> gatherBytes(sizes.begin(), sizes.end());
  std::vector<uint8_t> all(std::accumulate(gatherBytes.begin(), gatherBytes.end(), size_t{0}));
  allGathervBytes(c, 3, block.data(), all.data(), gatherBytes);
  mergeRuns(runsOf(c, all.data(), gatherBytes, dim), dim, out);
}

}  // namespace collectives
}  // namespace shoal
