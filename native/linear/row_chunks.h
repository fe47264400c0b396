// Runs chunk(0..threads-1) on `threads` threads (the caller's included) for the row-parallel
// linear kernels (logistic.cc, hessian_vector.cc). Each chunk owns a fixed contiguous range of
// rows and its own scratch; the caller sums the partial results in chunk order afterwards, so
// the bits depend on the thread count, never on timing. A thread that cannot be started
// (resource limits) has its chunk run on the calling thread instead: same chunks, same bits.
#pragma once

#include <cstddef>  // for size_t
#include <thread>
#include <vector>

namespace shoal {
namespace linear {

// First row of chunk t out of `threads` over n rows (chunk t is [chunkBegin(t), chunkBegin(t+1))).
inline size_t chunkBegin(size_t n, int t, int threads) { return n * static_cast<size_t>(t) / static_cast<size_t>(threads); }

template <typename Chunk>
void runChunks(int threads, Chunk&& chunk) {
  if (threads <= 1) {
    chunk(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  int started = 1;
  for (; started < threads; started++) {
    try {
      pool.emplace_back(chunk, started);
    } catch (...) {
      break;
    }
  }
  chunk(0);
  for (int t = started; t < threads; t++) chunk(t);
  for (auto& th : pool) th.join();
}

}  // namespace linear
}  // namespace shoal
