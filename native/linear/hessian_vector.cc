// See hessian_vector.h. Per row: u = x_i . v (+ v_bias), then out += D_i * u * x_i. As in
// logistic.cc, v_j and the accumulator of out_j sit side by side in `work`, so the scatter
// hits the cache line the gather just loaded.
#pragma GCC optimize("fp-contract=off")

#include "linear/hessian_vector.h"

#include <cstdint>  // for SIZE_MAX
#include <vector>

#include "linear/row_chunks.h"

namespace shoal {
namespace linear {

namespace {

// Rows [begin, end) into vh (2*dim doubles: vh[2j] = v_j, vh[2j+1] = the product, zeroed here).
// The bias column's sum goes to *biasOut. Returns the first bad row or SIZE_MAX.
size_t hessianVectorRange(const Csr& x, const double* d, const double* v, const Layout& layout, size_t begin, size_t end, double* vh,
                          double* biasOut) {
  const size_t nf = layout.numFeatures;
  const size_t dim = nf + (layout.bias ? 1 : 0);
  for (size_t j = 0; j < dim; j++) {
    vh[2 * j] = v[j];
    vh[2 * j + 1] = 0;
  }
  const double vb = layout.bias ? v[nf] : 0.0;
  double biasSum = 0;
  *biasOut = 0;
  for (size_t i = begin; i < end; i++) {
    const size_t kb = x.rowPtr[i];
    const size_t ke = x.rowPtr[i + 1];
    double u = vb;
    for (size_t k = kb; k < ke; k++) {
      const size_t id = x.featureIds[k];
      if (id >= nf) return i;
      u += vh[2 * id] * static_cast<double>(x.values[k]);
    }
    const double r = d[i] * u;
    biasSum += r;
    for (size_t k = kb; k < ke; k++) vh[2 * static_cast<size_t>(x.featureIds[k]) + 1] += r * static_cast<double>(x.values[k]);
  }
  *biasOut = biasSum;
  return SIZE_MAX;
}

// Rows [begin, end) into acc (dim doubles, zeroed here); the bias column's sum to *biasOut.
size_t hessianDiagonalRange(const Csr& x, const double* d, const Layout& layout, size_t begin, size_t end, double* acc, double* biasOut) {
  const size_t nf = layout.numFeatures;
  for (size_t j = 0; j < nf; j++) acc[j] = 0;
  double biasSum = 0;
  *biasOut = 0;
  for (size_t i = begin; i < end; i++) {
    const double di = d[i];
    biasSum += di;
    for (size_t k = x.rowPtr[i]; k < x.rowPtr[i + 1]; k++) {
      const size_t id = x.featureIds[k];
      if (id >= nf) return i;
      const double v = static_cast<double>(x.values[k]);
      acc[id] += di * v * v;
    }
  }
  *biasOut = biasSum;
  return SIZE_MAX;
}

// Runs range(t, begin, end, scratch, &biasPartial) over the chunks and sums the partial
// vectors (at stride `stride`, offset `offset` in each chunk's 2*dim scratch) in chunk order.
template <typename Range>
bool sumChunks(const Csr& x, const Layout& layout, double* out, int threads, double* work, size_t* badRow, size_t stride, size_t offset,
               Range&& range) {
  const size_t nf = layout.numFeatures;
  const size_t dim = nf + (layout.bias ? 1 : 0);
  const size_t n = x.numRows;
  if (threads < 1) threads = 1;
  std::vector<double> biasSums(threads, 0.0);
  std::vector<size_t> bads(threads, SIZE_MAX);
  runChunks(threads, [&](int t) {
    bads[t] = range(chunkBegin(n, t, threads), chunkBegin(n, t + 1, threads), work + 2 * dim * static_cast<size_t>(t), &biasSums[t]);
  });
  for (int t = 0; t < threads; t++) {
    if (bads[t] != SIZE_MAX) {
      *badRow = bads[t];
      return false;
    }
  }
  double biasSum = biasSums[0];
  for (size_t j = 0; j < nf; j++) out[j] = work[stride * j + offset];
  for (int t = 1; t < threads; t++) {
    biasSum += biasSums[t];
    const double* part = work + 2 * dim * static_cast<size_t>(t);
    for (size_t j = 0; j < nf; j++) out[j] += part[stride * j + offset];
  }
  if (layout.bias) out[nf] = biasSum;
  return true;
}

}  // namespace

bool hessianDiagonal(const Csr& x, const double* d, const Layout& layout, double* out, int threads, double* work, size_t* badRow) {
  return sumChunks(x, layout, out, threads, work, badRow, 1, 0, [&](size_t begin, size_t end, double* acc, double* bias) {
    return hessianDiagonalRange(x, d, layout, begin, end, acc, bias);
  });
}

bool hessianVector(const Csr& x, const double* d, const double* v, const Layout& layout, double* out, int threads, double* work,
                   size_t* badRow) {
  return sumChunks(x, layout, out, threads, work, badRow, 2, 1, [&](size_t begin, size_t end, double* vh, double* bias) {
    return hessianVectorRange(x, d, v, layout, begin, end, vh, bias);
  });
}

}  // namespace linear
}  // namespace shoal
