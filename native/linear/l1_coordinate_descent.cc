// See l1_coordinate_descent.h.
#include "linear/l1_coordinate_descent.h"

#include <algorithm>  // for std::max, std::min, std::swap
#include <cmath>
#include <limits>
#include <vector>

namespace shoal {
namespace linear {

double rowsLoss(size_t numRows, const double* z, const double* dz, double t, const float* labels, const float* weights, double c,
                double* r, double* d) {
  double loss = 0;
  for (size_t i = 0; i < numRows; i++) {
    const double m = dz != nullptr ? z[i] + t * dz[i] : z[i];
    const double y = labels[i] > 0 ? 1.0 : -1.0;
    const double cv = weights != nullptr ? c * static_cast<double>(weights[i]) : c;
    // a = -y m; log(1 + exp(a)) and sigma(y m) = 1 / (1 + exp(a)) from one exp(-|a|).
    const double a = -y * m;
    const double e = std::exp(-std::fabs(a));
    const double sigma = a > 0 ? e / (1 + e) : 1 / (1 + e);
    loss += cv * (a > 0 ? a + std::log1p(e) : std::log1p(e));
    if (r != nullptr) {
      r[i] = cv * (sigma - 1) * y;
      d[i] = cv * sigma * (1 - sigma);
    }
  }
  return loss;
}

bool columnStats(const Csc& x, const double* r, const double* d, double nu, double* G, double* H) {
  for (size_t j = 0; j < x.numCols; j++) {
    double g = 0;
    double h = 0;
    for (size_t k = x.colPtr[j]; k < x.colPtr[j + 1]; k++) {
      const size_t i = x.rowIdx[k];
      if (i >= x.numRows) return false;
      const double v = static_cast<double>(x.values[k]);
      g += v * r[i];
      h += v * v * d[i];
    }
    G[j] = g;
    H[j] = nu + h;
  }
  return true;
}

namespace {

struct Step {
  double d;          // the new d_j
  double violation;  // |minimum-norm subgradient of the model| at the old d_j
  bool inside;       // penalized, w_j + d_j == 0 and g strictly inside (-l1, l1): may be shrunk
  double gp, gn;     // g + l1, g - l1
};

// The minimiser over d_j of the model along coordinate j: g z + h z^2 / 2 + l1 |w_j + d_j + z|
// (no L1 term when !penalized). When it is w_j + d_j = 0, d_j = -w_j exactly: w_j + d_j rounded
// to a tiny non-zero would count as a violation of |g +- l1| at the next look.
Step coordinateStep(double g, double h, double wj, double dj, double l1, bool penalized) {
  if (!penalized) return {dj + std::min(std::max(-g / h, -10.0), 10.0), std::fabs(g), false, g, g};
  const double wpd = wj + dj;
  const double gp = g + l1;
  const double gn = g - l1;
  double violation;
  if (wpd == 0) {
    violation = gp < 0 ? -gp : gn > 0 ? gn : 0;
  } else {
    violation = wpd > 0 ? std::fabs(gp) : std::fabs(gn);
  }
  if (gp >= h * wpd && gn <= h * wpd) return {-wj, violation, wpd == 0 && violation == 0, gp, gn};
  const double z = std::min(std::max(gp < h * wpd ? -gp / h : -gn / h, -10.0), 10.0);
  return {dj + z, violation, false, gp, gn};
}

uint64_t xorshift(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

}  // namespace

namespace {

// The inner solve's passes over active[0..activeCount) with shrinking, for a model whose
// gradient along j at the current d is gradient(j) (false: a bad row index) and where a step z
// on j is applied by apply(j, z) (which also moves d_j). H: the model's diagonal.
template <typename Gradient, typename Apply>
size_t descend(size_t numRows, const double* H, const double* w, const uint32_t* active, size_t activeCount, const CdOptions& o,
               double* d, Gradient&& gradient, Apply&& apply) {
  std::vector<uint32_t> order(active, active + activeCount);
  size_t count = activeCount;
  uint64_t rng = o.seed * 0x9E3779B97F4A7C15ull + 1;
  // Shrinking: a zero coordinate whose model gradient is inside (-l1, l1) by more than the
  // last pass's largest violation / numRows leaves the pass; all return before stopping.
  double gmaxOld = std::numeric_limits<double>::infinity();
  const double n = static_cast<double>(std::max<size_t>(numRows, 1));
  size_t pass = 0;
  while (pass < o.maxPasses) {
    pass++;
    for (size_t s = 0; s + 1 < count; s++) std::swap(order[s], order[s + static_cast<size_t>(xorshift(rng) % (count - s))]);
    double gmaxNew = 0;
    double gnorm1 = 0;
    size_t s = 0;
    while (s < count) {
      const size_t j = order[s];
      double g = 0;
      if (!gradient(j, &g)) return 0;
      const Step st = coordinateStep(g + o.nu * d[j], H[j], w[j], d[j], o.l1, j < o.penalized);
      if (st.inside && st.gp > gmaxOld / n && st.gn < -gmaxOld / n) {
        std::swap(order[s], order[count - 1]);
        count--;
        continue;
      }
      gmaxNew = std::max(gmaxNew, st.violation);
      gnorm1 += st.violation;
      s++;
      const double z = st.d - d[j];
      if (z == 0 || (!(std::fabs(z) >= 1e-12) && st.d != -w[j])) continue;
      d[j] = st.d;
      apply(j, z);
    }
    if (gnorm1 <= o.tol) {
      if (count == activeCount) break;
      // Converged on the shrunk set: check every active coordinate once more.
      order.assign(active, active + activeCount);
      count = activeCount;
      gmaxOld = std::numeric_limits<double>::infinity();
      continue;
    }
    gmaxOld = gmaxNew;
  }
  return pass;
}

}  // namespace

size_t coordinateDescent(const Csc& x, const double* D, const double* G, const double* H, const double* w, const uint32_t* active,
                         size_t activeCount, const CdOptions& o, double* d, double* xd) {
  // D_i and (X d)_i side by side: each non-zero of a column then touches one cache line of
  // row data instead of two (the rows are visited in random order).
  std::vector<double> rows(2 * x.numRows);
  for (size_t i = 0; i < x.numRows; i++) {
    rows[2 * i] = D[i];
    rows[2 * i + 1] = xd[i];
  }
  double* dx = rows.data();
  // Row indices checked once per call (a sequential pass), not in the passes' inner loops.
  for (size_t a = 0; a < activeCount; a++) {
    uint32_t top = 0;
    for (size_t k = x.colPtr[active[a]]; k < x.colPtr[active[a] + 1]; k++) top = std::max(top, x.rowIdx[k]);
    if (x.colPtr[active[a] + 1] > x.colPtr[active[a]] && top >= x.numRows) return 0;
  }
  auto gradient = [&](size_t j, double* g) {
    double s = G[j];
    for (size_t k = x.colPtr[j]; k < x.colPtr[j + 1]; k++) {
      const size_t i = x.rowIdx[k];
      s += static_cast<double>(x.values[k]) * dx[2 * i] * dx[2 * i + 1];
    }
    *g = s;
    return true;
  };
  auto apply = [&](size_t j, double z) {
    for (size_t k = x.colPtr[j]; k < x.colPtr[j + 1]; k++) dx[2 * x.rowIdx[k] + 1] += z * static_cast<double>(x.values[k]);
  };
  const size_t passes = descend(x.numRows, H, w, active, activeCount, o, d, gradient, apply);
  for (size_t i = 0; i < x.numRows; i++) xd[i] = dx[2 * i + 1];
  return passes;
}

bool denseHessian(const Csr& x, const double* D, const Layout& layout, double* Q) {
  const size_t nf = layout.numFeatures;
  const size_t dim = nf + (layout.bias ? 1 : 0);
  for (size_t k = 0; k < dim * dim; k++) Q[k] = 0;
  for (size_t i = 0; i < x.numRows; i++) {
    const size_t kb = x.rowPtr[i];
    const size_t ke = x.rowPtr[i + 1];
    const double di = D[i];
    for (size_t a = kb; a < ke; a++) {
      const size_t ja = x.featureIds[a];
      if (ja >= nf) return false;
      const double va = di * static_cast<double>(x.values[a]);
      double* row = Q + ja * dim;
      for (size_t b = kb; b < ke; b++) row[x.featureIds[b]] += va * static_cast<double>(x.values[b]);
      if (layout.bias) {
        row[nf] += va;
        Q[nf * dim + ja] += va;
      }
    }
    if (layout.bias) Q[nf * dim + nf] += di;
  }
  return true;
}

size_t denseCoordinateDescent(size_t dim, size_t numRows, const double* Q, const double* G, const double* H, const double* w,
                              const uint32_t* active, size_t activeCount, const CdOptions& o, double* d, double* qd) {
  auto gradient = [&](size_t j, double* g) {
    *g = G[j] + qd[j];
    return true;
  };
  // Q is symmetric: column j is row j.
  auto apply = [&](size_t j, double z) {
    const double* row = Q + j * dim;
    for (size_t k = 0; k < dim; k++) qd[k] += z * row[k];
  };
  return descend(numRows, H, w, active, activeCount, o, d, gradient, apply);
}

bool columnDots(const Csc& x, const double* D, const double* xd, const uint32_t* cols, size_t count, double* out) {
  for (size_t k = 0; k < count; k++) {
    const size_t j = cols[k];
    double s = 0;
    for (size_t q = x.colPtr[j]; q < x.colPtr[j + 1]; q++) {
      const size_t i = x.rowIdx[q];
      if (i >= x.numRows) return false;
      s += static_cast<double>(x.values[q]) * D[i] * xd[i];
    }
    out[k] = s;
  }
  return true;
}

bool addColumns(const Csc& x, const uint32_t* cols, size_t count, const double* amounts, double* out) {
  for (size_t k = 0; k < count; k++) {
    const size_t j = cols[k];
    const double a = amounts[j];
    if (a == 0) continue;
    for (size_t q = x.colPtr[j]; q < x.colPtr[j + 1]; q++) {
      const size_t i = x.rowIdx[q];
      if (i >= x.numRows) return false;
      out[i] += a * static_cast<double>(x.values[q]);
    }
  }
  return true;
}

BlockResult blockStep(const Csc& x, const double* G, const double* H, const double* w, uint32_t* cols, size_t count, const double* dots,
                      double shrinkBound, const CdOptions& o, double* d, double* xd) {
  BlockResult out;
  size_t kept = 0;
  for (size_t k = 0; k < count; k++) {
    const size_t j = cols[k];
    const Step st = coordinateStep(G[j] + dots[k] + o.nu * d[j], H[j], w[j], d[j], o.l1, j < o.penalized);
    // descend()'s shrinking, on the summed gradient: every rank drops the same columns.
    if (st.inside && st.gp > shrinkBound && st.gn < -shrinkBound) continue;
    cols[kept++] = static_cast<uint32_t>(j);
    out.norm1 += st.violation;
    out.gmax = std::max(out.gmax, st.violation);
    const double z = st.d - d[j];
    if (!(std::fabs(z) >= 1e-12) && st.d != -w[j]) continue;
    if (z == 0) continue;
    d[j] = st.d;
    for (size_t q = x.colPtr[j]; q < x.colPtr[j + 1]; q++) {
      const size_t i = x.rowIdx[q];
      if (i >= x.numRows) return {-1, 0, 0};
      xd[i] += z * static_cast<double>(x.values[q]);
    }
  }
  out.kept = kept;
  return out;
}

}  // namespace linear
}  // namespace shoal
