// `count` elements cut into p consecutive pieces of near-equal length (the first count % p
// are one longer): the chunks of the ring allReduce and the slices of the direct one.
#pragma once

#include <algorithm>
#include <cstddef>

namespace shoal {
namespace collectives {

struct EvenSplit {
  size_t base, extra;
  EvenSplit(size_t count, size_t pieces) : base(count / pieces), extra(count % pieces) {}
  size_t offset(size_t i) const { return i * base + std::min(i, extra); }
  size_t length(size_t i) const { return base + (i < extra ? 1 : 0); }
};

}  // namespace collectives
}  // namespace shoal
