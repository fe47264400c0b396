// The data term of binary logistic regression over one rank's CSR rows (algorithms/common/
// logistic.ts, used by algorithms/lbfgs_lr): in one fused pass, each row's margin w.x_i
// (+ bias), the weighted log-loss C * sum_i v_i * log(1 + exp(-y_i z_i)) and its gradient.
// A pure function over caller-owned memory, no N-API (binding/linear_wrap.cc validates).
//
// Same arithmetic as the JS loop it replaced (test/unit/linear_kernel.test.ts keeps that loop
// as the reference): per row, z starts at the bias and adds w[id]*value in file order (no
// fused multiply-add); the loss and the row's gradient factor come from one e = exp(-|t|),
// t = -y*z; the gradient is scattered row by row in row order. Only exp and log1p differ (the
// C library's instead of V8's, which may round the last bit differently). Results depend only
// on the data, w and `threads`: threads > 1 splits the rows into fixed contiguous chunks whose
// partial losses and gradients are summed in chunk order, so a thread count always gives the
// same bits (another thread count gives other bits, exactly like another number of ranks).
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint32_t

namespace shoal {
namespace linear {

struct Csr {
  const uint32_t* rowPtr = nullptr;  // numRows + 1 ascending offsets
  size_t numRows = 0;
  const uint32_t* featureIds = nullptr;
  const float* values = nullptr;
};

// Where the parameters live in w: slots 0..numFeatures-1 by feature id, then the bias if any.
struct Layout {
  size_t numFeatures = 0;
  bool bias = false;
};

// Writes the gradient of C * sum_i v_i * loss_i into grad (numFeatures + bias doubles,
// overwritten; the bias slot gets sum_i r_i) and stores the loss sum in *loss. labels: y = +1
// when label > 0 else -1; weights may be null (all 1). Rows are split into `threads` (>= 1)
// fixed contiguous chunks, one thread each; `work` holds threads * 2 * (numFeatures + bias)
// doubles of scratch (per chunk, w and its gradient interleaved). Returns false (grad and
// *loss unspecified) when a feature id is >= numFeatures; `badRow` then names the row.
// curvature, when not null, receives each row's second derivative of its loss term,
// C * v_i * sigma(z_i) * (1 - sigma(z_i)) (numRows doubles): the D of the Hessian X'DX.
bool lossGrad(const Csr& x, const float* labels, const float* weights, const double* w, const Layout& layout, double c,
              double* grad, double* loss, int threads, double* work, size_t* badRow, double* curvature = nullptr);

}  // namespace linear
}  // namespace shoal
