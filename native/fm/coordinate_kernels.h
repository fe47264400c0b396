// The per-step passes of the FM coordinate solvers (algorithms/fm/coordinate_solver.ts). A step
// is one block of features (no two share a row) and a range [lo, hi) of each feature's
// coordinates (0: w_j, 1 + f: v_jf). Per step: the exact sufficient statistics of every block
// feature over this rank's rows (blockStats), their sum over ranks (one allReduce, in JS), the
// same sequential draws on every rank (drawBlock), and the update of the rows' cached residuals
// e_i and q_if (blockApply). Pure functions over caller-owned memory, no N-API
// (binding/fm_wrap.cc validates shapes).
//
// Why one exchange serves all coordinates of a step: the model is linear in every coordinate,
// y_i = g_i + theta_a h_ia, and h_ia (x_ij for w_j, x_ij (q_if - v_jf x_ij) for v_jf) does not
// depend on any coordinate of feature j itself. Drawing coordinate a changes the residuals by
// -delta_a h_a, so the statistic sum h_b e of a later coordinate b becomes sum h_b e - delta_a
// sum h_a h_b. With the Gram sums sum h_a h_b of the step's coordinates and sum h_a e, every
// coordinate is drawn in turn from its exact full conditional given the current values of all
// others, as libFM's coordinate-wise sampler does; only the scan order differs (a feature's
// w, v_1..v_k in turn instead of all w, then all v_.1, ...), which any Gibbs sampler may choose.
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

// This rank's entries of one block's features, in row order (a row holds at most one feature
// of a block): entry e is row row[e], block position pos[e] (checked by the binding), value
// val[e]. In row order the rows' cached q and residuals are read as a stream.
struct BlockEntries {
  const uint32_t* row = nullptr;
  const int32_t* pos = nullptr;
  const double* val = nullptr;
  size_t count = 0;
  size_t numRows = 0;
};

// The coordinates [lo, hi) of the block features (0: w, 1 + f: v_.f; hi <= k + 1). params holds
// k + 1 doubles per feature ([w, v_1..v_k]); q holds q_if row-major (q[i * k + f]: one row's
// factors share a cache line).
struct Step {
  const int32_t* block = nullptr;
  size_t blockLen = 0;
  size_t k = 0;
  size_t lo = 0;
  size_t hi = 0;
  // Whether the statistics include sum h_a per coordinate (the first step of an iteration:
  // its sums are taken before w0's draw shifts every residual).
  bool withOnes = false;
};

// The widest step the binding accepts: its sums per feature grow with the width's square.
constexpr size_t kMaxStepWidth = 32;

// Sums per block feature of a step of width c = hi - lo: the Gram lower triangle (a, b <= a) at
// a (a + 1) / 2 + b, then sum h_a e (c), then with withOnes sum h_a (c).
size_t stepSums(size_t width, bool withOnes);

// Where a step's sums go: sum s of block feature b is s' = first + b * stepSums + s, its high
// limb at limbs[s'] and its low limb at limbs[count + s'] (exact_sums.ts: count sums, all high
// limbs first).
struct SumsView {
  double* limbs = nullptr;
  size_t count = 0;
  size_t first = 0;
};

// Terms at or above this magnitude are refused (2^19: a term times 2^32 must stay below 2^51,
// where adding 1.5 * 2^52 rounds it to an integer exactly).
constexpr double kExactTermLimit = 524288.0;

// Returned by blockStats and blockApply for entry e whose block position is not below blockLen:
// kBadPosition - e (below every -2 - row: rows are 32-bit). Checked in the pass, which spares
// the binding a pass over pos per call.
constexpr long kBadPosition = -(1L << 40);

// Writes the exact sums of every block feature. Returns -1, or the block position of a feature
// with a term out of range (limbs unspecified), or -2 - row when a row entry is >= numRows, or
// kBadPosition - e for a bad block position.
long blockStats(const BlockEntries& be, const Step& s, const double* params, const double* q, const double* resid, SumsView out);

// Applies the step's changes (delta and the values before them, blockLen * width each, feature
// b's coordinate lo + a at b * width + a): e_i -= sum_a delta_a h_ia (h with the old values)
// and q_if += delta_(1+f) x_i. Returns -1, or -2 - row when a row entry is >= numRows, or
// kBadPosition - e for a bad block position (checked in the pass, before that entry is
// applied; rows of earlier entries are then updated).
long blockApply(const BlockEntries& be, const Step& s, const double* delta, const double* oldValue, double* q, double* resid);

// Scores every row from the parameters (the O(k nnz) sum trick) into yhat, and q_if into q
// (row-major, k per row). entryFeature: each entry's global feature index; entries: how many
// entryFeature and values hold. Same arithmetic order as algorithms/fm/fm.ts fmScore. Checked
// in the pass, before a row is scored (earlier rows are then written): returns -1, or -2 - i
// when rowPtr[i + 1] is below rowPtr[i] or above entries, or entry e (>= 0) whose feature is
// not in [0, features).
long rowScores(const uint32_t* rowPtr, size_t numRows, const int32_t* entryFeature, const float* values, size_t entries, const double* params,
               size_t features, size_t k, double w0, double* q, double* yhat);

// Counter values (uniforms times 2) of one coordinate's sub-stream: a ziggurat normal takes
// one uniform 99% of the time, so 2^15 never run out in practice.
constexpr uint32_t kDrawSubStream = 1u << 16;

// What the draws of a step need besides its sums. Coordinate a of feature g draws one ziggurat
// normal from the stream (seed, kindW, iteration, featureIds[g]) for w, and from the stream
// (seed, kindV, iteration, featureIds[g]) at counter f * kDrawSubStream for v_.f (so a split of
// the coordinates into steps draws the same numbers). lambda and mu hold k + 1 values (per
// coordinate).
struct DrawSpec {
  uint32_t seed = 0;
  uint32_t kindW = 0;
  uint32_t kindV = 0;
  uint32_t iteration = 0;
  double alpha = 1;
  const double* lambda = nullptr;
  const double* mu = nullptr;
  bool sample = true;
  // With withOnes: how much every residual moved since the sums were taken (w0's change); the
  // statistic sum h_a e becomes sum h_a e - shift * sum h_a.
  double shift = 0;
};

// For every block feature, coordinates lo..hi-1 in turn: theta's conditional posterior from the
// step's sums (precision alpha sum h^2 + lambda, mean (alpha (sum h e + theta sum h^2) + lambda
// mu) / precision, sum h e corrected for the coordinates already drawn); theta becomes a draw
// (sample) or the mean, 0 when the precision is not positive. Writes the new values into params
// and the old values and changes into oldValue and delta (blockApply's layout).
void drawBlock(const DrawSpec& spec, const Step& s, const double* featureIds, double* params, const double* limbs, size_t count,
               size_t first, double* delta, double* oldValue);

// The probit residuals: resid_i = z_i - yhat_i, z_i ~ N(yhat_i, 1) truncated to z > 0 when
// label_i != 0, else z < 0; row i's stream is (seed, kind, iteration, rowOffset + i).
void probitResiduals(uint32_t seed, uint32_t kind, uint32_t iteration, double rowOffset, const double* label, const double* yhat, size_t n,
                     double* resid);

// Exact sum e^2 and sum e of resid (n values) into sums 0 and 1 of out. Returns -1, or the first
// index whose terms are out of range.
long residualStats(const double* resid, size_t n, SumsView out);

}  // namespace fm
}  // namespace shoal
