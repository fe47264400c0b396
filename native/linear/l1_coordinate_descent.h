// Kernels of the newGLMNET L1 logistic-regression solver (Yuan, Ho & Lin 2012; algorithms/tron/
// glmnet_l1.ts, `--solver newton-l1`) over one rank's rows held by columns (CSC):
//   - rowsLoss: the data term C sum_i v_i log(1 + exp(-y_i m_i)) at margins m = z + t*dz, and
//     optionally each row's first and second derivative factors r_i, D_i (line search, and the
//     quadratic model at an accepted point);
//   - columnStats: per column the gradient G_j = sum_i x_ij r_i and Hessian diagonal
//     H_jj = nu + sum_i D_i x_ij^2;
//   - coordinateDescent: the inner solver on one process, coordinate descent (random order)
//     with shrinking over the active columns on the quadratic model
//       G.d + 0.5 d'(X'DX + nu I)d + l1 |w + d|_1,
//     keeping X d per row up to date so each coordinate costs two passes over its column;
//   - denseHessian and denseCoordinateDescent: for small dim, the same solve on X'DX formed
//     explicitly (one allReduce of dim^2 doubles, then no pass over rows at all);
//   - columnDots and blockStep: the same inner solver over rows split between ranks, a block of
//     coordinates at a time: each rank's sums x_j' D X d over its rows (columnDots), summed by
//     the caller (allReduce), then every rank takes the same steps for the block (blockStep).
// Pure arithmetic over caller-owned memory; binding/linear_wrap.cc validates the arguments.
// Row indices are checked here as they are read: a bad one makes the call fail.
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint32_t, uint64_t

#include "linear/logistic.h"  // for Csr, Layout

namespace shoal {
namespace linear {

// colPtr: numCols + 1 ascending offsets into rowIdx/values; rows are < numRows.
struct Csc {
  const uint32_t* colPtr = nullptr;
  size_t numCols = 0;
  const uint32_t* rowIdx = nullptr;
  const float* values = nullptr;
  size_t numRows = 0;
};

// Labels: y = +1 when label > 0 else -1; weights may be null (all 1). dz may be null (t unused).
// r, d may be null; when given (numRows doubles each) they receive C v_i (sigma_i - 1) y_i and
// C v_i sigma_i (1 - sigma_i), sigma_i = 1 / (1 + exp(-y_i m_i)).
double rowsLoss(size_t numRows, const double* z, const double* dz, double t, const float* labels, const float* weights, double c,
                double* r, double* d);

// G, H: numCols doubles each (overwritten). Returns false when a row index is >= numRows.
bool columnStats(const Csc& x, const double* r, const double* d, double nu, double* G, double* H);

struct CdOptions {
  double l1 = 1;          // weight of |w|_1 on columns < penalized
  size_t penalized = 0;   // columns >= penalized (the bias) carry no L1 term
  double nu = 1e-12;      // added to the model's Hessian (as in H above)
  double tol = 0;         // stop when the model's minimum-norm subgradient 1-norm <= tol
  size_t maxPasses = 1000;
  uint64_t seed = 1;      // the order of coordinates in each pass (xorshift; deterministic)
};

// From d (numCols doubles) and xd = X d (numRows doubles) as given (zero to start; a call that
// stopped at maxPasses can be continued), minimises the model over the columns
// active[0..activeCount) (the others keep their d). G, H from columnStats at w; D the rows'
// second derivatives. Returns the passes made (< maxPasses: converged to tol), or 0 when a row
// index is >= numRows (d and xd unspecified).
size_t coordinateDescent(const Csc& x, const double* D, const double* G, const double* H, const double* w, const uint32_t* active,
                         size_t activeCount, const CdOptions& options, double* d, double* xd);

// Small dim, several ranks: the model's Hessian as a dense dim x dim matrix, so the inner solve
// needs no rows at all. denseHessian: Q = X'DX over CSR rows (row-major, overwritten; the bias
// is a column of ones when layout.bias); false when a feature id is >= numFeatures.
// denseCoordinateDescent: coordinateDescent on G.d + d'(Q + nu I)d/2 + l1 |w + d|_1 (H: the
// diagonal of Q + nu; numRows: the shrinking margin's divisor), from d and qd = Q d as given.
bool denseHessian(const Csr& x, const double* D, const Layout& layout, double* Q);
size_t denseCoordinateDescent(size_t dim, size_t numRows, const double* Q, const double* G, const double* H, const double* w,
                              const uint32_t* active, size_t activeCount, const CdOptions& options, double* d, double* qd);

// out[k] = sum_i x_i,cols[k] * D_i * xd_i over the rows. Returns false on a bad row index.
bool columnDots(const Csc& x, const double* D, const double* xd, const uint32_t* cols, size_t count, double* out);

// out_i += sum_k amounts[cols[k]] * x_i,cols[k] over the rows (amounts: one value per column;
// zero amounts are skipped): X e for a combined step e. Returns false on a bad row index.
bool addColumns(const Csc& x, const uint32_t* cols, size_t count, const double* amounts, double* out);

// One step on each of the columns cols[0..count) at once (block Jacobi): the model's gradient
// at d is G_j + dots[k] + nu d_j (dots: columnDots summed over every rank's rows); updates d
// and this rank's xd. Shrinking as in coordinateDescent: a column with w_j + d_j = 0 whose
// model gradient lies inside (-l1 + shrinkBound, l1 - shrinkBound) takes no step and leaves
// cols (infinity: none leaves); the kept columns move to cols[0..kept) in their order.
struct BlockResult {
  double norm1 = 0;  // the kept columns' model minimum-norm subgradient 1-norm before the steps; -1: a row index >= numRows
  double gmax = 0;   // its largest term
  size_t kept = 0;
};
BlockResult blockStep(const Csc& x, const double* G, const double* H, const double* w, uint32_t* cols, size_t count, const double* dots,
                      double shrinkBound, const CdOptions& options, double* d, double* xd);

}  // namespace linear
}  // namespace shoal
