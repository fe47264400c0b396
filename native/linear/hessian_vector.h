// The Hessian-vector product of the logistic data term over one rank's CSR rows, for the
// trust-region Newton solver (algorithms/tron): out = X' (D .* (X v)), D_i the per-row second
// derivatives that lossGrad wrote at the current w (logistic.h, `curvature`). The bias, when
// present, is a column of ones (the last slot of v and out). The full Hessian of liblinear's
// objective is l2*I (feature slots) + the sum of this over all ranks; the caller adds l2*v
// after the allReduce. Cost: one pass over the rows, one gather and one scatter per non-zero,
// no transcendental functions (cheaper than a lossGrad pass).
//
// Pure arithmetic over caller-owned memory; binding/linear_wrap.cc validates the arguments.
// Deterministic like lossGrad: `threads` fixed contiguous chunks of rows summed in chunk order.
#pragma once

#include <cstddef>  // for size_t

#include "linear/logistic.h"

namespace shoal {
namespace linear {

// d: numRows doubles; v, out: numFeatures + bias doubles (out overwritten); work: threads * 2 *
// (numFeatures + bias) doubles of scratch. Returns false (out unspecified) when a feature id is
// >= numFeatures; `badRow` then names the row.
bool hessianVector(const Csr& x, const double* d, const double* v, const Layout& layout, double* out, int threads, double* work,
                   size_t* badRow);

// The diagonal of the same matrix, out_j = sum_i D_i x_ij^2 (bias: sum_i D_i), for the CG
// preconditioner: one scatter per non-zero. Same arguments, chunks and scratch as hessianVector.
bool hessianDiagonal(const Csr& x, const double* d, const Layout& layout, double* out, int threads, double* work, size_t* badRow);

}  // namespace linear
}  // namespace shoal
