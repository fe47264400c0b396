// See two_loop.h. Each dot product is a single accumulator summed in index order (no
// vectorised reassociation: GCC keeps the order without -ffast-math), so the result is the
// JS loop's to the bit; the gain is the loop overhead, not a different summation.
#pragma GCC optimize("fp-contract=off")

#include "linear/two_loop.h"

namespace shoal {
namespace linear {

namespace {

double dot(const double* a, const double* b, size_t dim) {
  double s = 0;
  for (size_t j = 0; j < dim; j++) s += a[j] * b[j];
  return s;
}

}  // namespace

void twoLoop(const double* const* s, const double* const* y, const double* rho, size_t n, const double* g, size_t dim,
             double* out, double* alpha) {
  if (n == 0) {
    for (size_t j = 0; j < dim; j++) out[j] = -g[j];
    return;
  }
  if (out != g) {
    for (size_t j = 0; j < dim; j++) out[j] = g[j];
  }
  // First loop, newest pair first: a_k = rho_k * s_k.out; out -= a_k * y_k (fused with the
  // next pair's dot).
  double next = dot(s[n - 1], out, dim);
  for (size_t k = n; k-- > 0;) {
    const double a = rho[k] * next;
    alpha[k] = a;
    const double* yk = y[k];
    if (k > 0) {
      const double* sNext = s[k - 1];
      double d = 0;
      for (size_t j = 0; j < dim; j++) {
        const double v = out[j] - a * yk[j];
        out[j] = v;
        d += sNext[j] * v;
      }
      next = d;
    } else {
      for (size_t j = 0; j < dim; j++) out[j] -= a * yk[j];
    }
  }
  // Scale by gamma from the newest pair, fused with the second loop's first dot (y_0.out).
  const double gamma = 1 / (rho[n - 1] * dot(y[n - 1], y[n - 1], dim));
  {
    const double* y0 = y[0];
    double d = 0;
    for (size_t j = 0; j < dim; j++) {
      const double v = out[j] * gamma;
      out[j] = v;
      d += y0[j] * v;
    }
    next = d;
  }
  // Second loop, oldest pair first: b = rho_k * y_k.out; out += (a_k - b) * s_k; finally out = -out.
  for (size_t k = 0; k < n; k++) {
    const double b = rho[k] * next;
    const double coef = alpha[k] - b;
    const double* sk = s[k];
    if (k + 1 < n) {
      const double* yNext = y[k + 1];
      double d = 0;
      for (size_t j = 0; j < dim; j++) {
        const double v = out[j] + coef * sk[j];
        out[j] = v;
        d += yNext[j] * v;
      }
      next = d;
    } else {
      for (size_t j = 0; j < dim; j++) out[j] = -(out[j] + coef * sk[j]);
    }
  }
}

}  // namespace linear
}  // namespace shoal
