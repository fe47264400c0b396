// The L-BFGS two-loop recursion (Nocedal & Wright, Algorithm 7.4) for algorithms/lbfgs_lr/
// two_loop.ts: out = -H g from the stored curvature pairs, in O(n * dim) without forming H.
// Pure arithmetic over caller-owned memory; binding/linear_wrap.cc validates the arguments.
//
// The exact operations and order of the JS version it replaced (test/unit/lbfgs_history.test.ts
// keeps that as the reference, compared bit for bit): every dot product is one sequential sum
// in index order, and each update of `out` is fused with the dot product that reads it next.
#pragma once

#include <cstddef>  // for size_t

namespace shoal {
namespace linear {

// s[k], y[k] (k = 0 oldest .. n-1 newest) are dim-vectors, rho[k] = 1 / (s[k].y[k]).
// out = -H g with H0 = (s.y / y.y) I from the newest pair (out = -g when n = 0). `alpha` is
// scratch of n doubles. out may be g itself but must not overlap any pair.
void twoLoop(const double* const* s, const double* const* y, const double* rho, size_t n, const double* g, size_t dim,
             double* out, double* alpha);

}  // namespace linear
}  // namespace shoal
