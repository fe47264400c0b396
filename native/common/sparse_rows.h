// Sparse rows: sorted, unique uint64 keys and one float32 row of `dim` values per key.
// The result of the native sparse collectives, filled on the comm thread and handed to JS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shoal {

struct SparseRows {
  std::vector<uint64_t> keys;
  std::vector<float> values;  // keys.size() * dim
};

}  // namespace shoal
