// Elementwise reduction kernels: dst[i] = op(a[i], b[i]) for every dtype and op.
//
// Written as plain loops over contiguous arrays so GCC -O3 vectorizes sum, prod and the
// integer min/max (bench/kernels.bench.ts measures GB/s). Semantics, shared with the JS
// reference in test/unit/reduce_kernels.test.ts:
// - floats follow IEEE for sum/prod; max/min return NaN if either input is NaN, and order
//   +0 above -0 (like Math.max/Math.min), so the result never depends on operand order
//   except for which NaN payload survives;
// - integers wrap on overflow (two's complement), computed in unsigned arithmetic to avoid UB.
// Callers pass operands in a fixed rank order so every rank computes identical bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "common/dtype.h"

namespace shoal {
namespace kernels {

template <typename T>
inline void sum(T* dst, const T* a, const T* b, size_t n) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<U>(a[i]) + static_cast<U>(b[i]));
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = a[i] + b[i];
  }
}

template <typename T>
inline void prod(T* dst, const T* a, const T* b, size_t n) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<U>(a[i]) * static_cast<U>(b[i]));
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = a[i] * b[i];
  }
}

// For floats the main loop is a branch-free select that vectorizes; NaN and signed-zero
// cases are rare, so a second pass fixes only the blocks where they occur. Inputs are
// copied block by block first because dst may alias a or b and the fix-up must see the
// original operands.
template <typename T, bool kMax>
inline void minmax(T* dst, const T* a, const T* b, size_t n) {
  if constexpr (std::is_integral_v<T>) {
    for (size_t i = 0; i < n; ++i) dst[i] = kMax ? (a[i] > b[i] ? a[i] : b[i]) : (a[i] < b[i] ? a[i] : b[i]);
  } else {
    constexpr size_t kBlock = 1024;
    T xs[kBlock], ys[kBlock];
    for (size_t base = 0; base < n; base += kBlock) {
      const size_t m = n - base < kBlock ? n - base : kBlock;
      std::memcpy(xs, a + base, m * sizeof(T));
      std::memcpy(ys, b + base, m * sizeof(T));
      T* out = dst + base;
      unsigned special = 0;
      for (size_t i = 0; i < m; ++i) {
        const T x = xs[i], y = ys[i];
        // x != x catches NaN; x == y catches the +0/-0 tie (and ordinary ties, harmlessly).
        special |= static_cast<unsigned>((x != x) | (y != y) | (x == y));
        out[i] = kMax ? (x > y ? x : y) : (x < y ? x : y);
      }
      if (!special) continue;
      for (size_t i = 0; i < m; ++i) {
        const T x = xs[i], y = ys[i];
        if (x != x) {
          out[i] = x;
        } else if (y != y) {
          out[i] = y;
        } else if (x == y && x == 0) {
          // +0 vs -0: max keeps +0 unless both are -0; min keeps -0 if either is.
          const bool xNeg = std::signbit(x), yNeg = std::signbit(y);
          out[i] = kMax ? ((xNeg && yNeg) ? x : (xNeg ? y : x)) : ((xNeg || !yNeg) ? x : y);
        }
      }
    }
  }
}

template <typename T>
inline void reduceTyped(ReduceOp op, T* dst, const T* a, const T* b, size_t n) {
  switch (op) {
    case ReduceOp::kSum: sum(dst, a, b, n); break;
    case ReduceOp::kProd: prod(dst, a, b, n); break;
    case ReduceOp::kMax: minmax<T, true>(dst, a, b, n); break;
    case ReduceOp::kMin: minmax<T, false>(dst, a, b, n); break;
  }
}

}  // namespace kernels

// dst = op(a, b) elementwise over `count` elements of `dtype`; dst may alias a or b.
// (No __restrict: GCC versions the loops with a runtime overlap check and still vectorizes.)
void reduce(DType dtype, ReduceOp op, void* dst, const void* a, const void* b, size_t count);

}  // namespace shoal
