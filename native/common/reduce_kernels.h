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
// cases are rare, so a second pass fixes only the elements where they occur.
template <typename T, bool kMax>
inline void minmax(T* dst, const T* a, const T* b, size_t n) {
  if constexpr (std::is_integral_v<T>) {
    for (size_t i = 0; i < n; ++i) dst[i] = kMax ? (a[i] > b[i] ? a[i] : b[i]) : (a[i] < b[i] ? a[i] : b[i]);
  } else {
    unsigned special = 0;
    for (size_t i = 0; i < n; ++i) {
      const T x = a[i], y = b[i];
      // x != x catches NaN; x == y catches the +0/-0 tie (and ordinary ties, harmlessly).
      special |= static_cast<unsigned>((x != x) | (y != y) | (x == y));
      dst[i] = kMax ? (x > y ? x : y) : (x < y ? x : y);
    }
    if (!special) return;
    for (size_t i = 0; i < n; ++i) {
      const T x = a[i], y = b[i];
      if (x != x) {
        dst[i] = x;
      } else if (y != y) {
        dst[i] = y;
      } else if (x == y && x == 0) {
        // +0 vs -0: max keeps +0 unless both are -0; min keeps -0 if either is.
        const bool xNeg = std::signbit(x), yNeg = std::signbit(y);
        dst[i] = kMax ? ((xNeg && yNeg) ? x : (xNeg ? y : x)) : ((xNeg || !yNeg) ? x : y);
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
