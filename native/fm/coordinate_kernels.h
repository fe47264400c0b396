// The per-block passes of the FM coordinate solvers (algorithms/fm/coordinate_solver.ts): the
// sufficient statistics [sum h^2, sum h e] of a block of features over this rank's rows, and
// the update of the rows' cached residuals e_i and q_if after the block's new values are drawn.
// Pure functions over caller-owned memory, no N-API (binding/fm_wrap.cc validates shapes).
//
// Statistics are exact: each term is rounded to a multiple of 2^-32, the integers are summed
// in 128 bits, and the sum is written as the two float64 limbs of algorithms/fm/exact_sums.ts
// (high: units of 2^-6, low in [0, 2^26) units of 2^-32), so how rows are split over ranks
// never changes a bit of the combined sums.
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint32_t, int32_t

namespace shoal {
namespace fm {

// This rank's entries grouped by global feature: feature g's entries are
// [colStart[g], colStart[g+1]) of colRow (local row) and colVal (value).
struct Columns {
  const uint32_t* colStart = nullptr;
  size_t numFeatures = 0;
  const uint32_t* colRow = nullptr;
  const double* colVal = nullptr;
  size_t numRows = 0;
};

// Which parameter of a block: w (factor < 0) or v_.factor; params holds stride doubles per
// feature ([w, v_1..v_k]); q holds q_if factor-major (q[f * numRows + i]: one factor's column
// stays in cache while a block's rows are visited in any order).
struct Coordinate {
  const double* params = nullptr;
  size_t stride = 0;
  int factor = -1;
  const double* q = nullptr;
  size_t k = 0;
};

// Terms at or above this magnitude are refused (the limbs would not stay exact).
constexpr double kExactTermLimit = 1048576.0;  // 2^20

// Writes into limbs (2 * 2 * blockLen doubles: high limbs of the 2 * blockLen sums, then their
// low limbs) the exact [sum h^2, sum h e] of every block feature b at sums 2b and 2b + 1.
// Returns -1, or the block position of a feature with a term out of range (limbs unspecified),
// or -2 - row when a colRow entry is >= numRows.
long blockStats(const Columns& cols, const Coordinate& c, const int32_t* block, size_t blockLen, const double* resid,
                double* limbs);

// Applies delta[b] to block feature b: e_i -= delta * h_i (h from the parameter's value before
// the change, oldValue[b]) and, for a factor, q_if += delta * x_i. Returns -1, or -2 - row when
// a colRow entry is >= numRows (checked in the pass, before that row is touched; rows of
// earlier entries are then already updated).
long blockApply(const Columns& cols, const Coordinate& c, const int32_t* block, size_t blockLen, const double* delta,
                const double* oldValue, double* q, double* resid);

// Scores every row from the parameters (the O(k nnz) sum trick) into yhat, and q_if into q
// (factor-major, numRows per factor). entryFeature: each entry's global feature index (checked
// by the binding). Same arithmetic order as algorithms/fm/fm.ts fmScore.
void rowScores(const uint32_t* rowPtr, size_t numRows, const int32_t* entryFeature, const float* values, const double* params,
               size_t k, double w0, double* q, double* yhat);

// One block parameter's Gibbs draws (or ALS means): what a draw needs besides its sums.
// Coordinate g's stream is (seed, kind, iteration, featureIds[g] for w, featureIds[g] * k +
// factor for v_.factor), as algorithms/fm/coordinate_solver.ts keys it.
struct DrawSpec {
  uint32_t seed = 0;
  uint32_t kind = 0;
  uint32_t iteration = 0;
  int factor = -1;
  double alpha = 1;
  double lambda = 0;
  double mu = 0;
  bool sample = true;
};

// For every block feature b (global index block[b]): theta's conditional posterior from the
// exact sums in limbs (exact_sums.ts's normalized layout of 2 * blockLen sums: [sum h^2, sum h
// e] at 2b, 2b + 1): precision alpha sum h^2 + lambda, mean (alpha (sum h e + theta sum h^2) +
// lambda mu) / precision; theta becomes a draw (sample) or the mean, 0 when the precision is
// not positive. Writes the old value and the change per feature, and the new value into params.
void drawBlock(const DrawSpec& spec, const int32_t* block, size_t blockLen, const double* featureIds, double* params, size_t k,
               const double* limbs, double* delta, double* oldValue);

// The probit residuals: resid_i = z_i - yhat_i, z_i ~ N(yhat_i, 1) truncated to z > 0 when
// label_i != 0, else z < 0; row i's stream is (seed, kind, iteration, rowOffset + i).
void probitResiduals(uint32_t seed, uint32_t kind, uint32_t iteration, double rowOffset, const double* label, const double* yhat, size_t n,
                     double* resid);

// Exact sum e^2 and sum e of resid (n values) into limbs (4 doubles, exact_sums.ts's layout of
// two sums: high e^2, high e, low e^2, low e). Returns -1, or the first index whose terms are
// out of range.
long residualStats(const double* resid, size_t n, double* limbs);

}  // namespace fm
}  // namespace shoal
