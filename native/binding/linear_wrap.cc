// The binding of the logistic-regression kernels as `exports.linear`: lossGrad
// (linear/logistic.h), hessianVector and hessianDiagonal (linear/hessian_vector.h), twoLoop
// (linear/two_loop.h), and rowsLoss, columnStats, coordinateDescent, denseHessian,
// denseCoordinateDescent, columnDots, blockStep (linear/l1_coordinate_descent.h). Synchronous on the JS thread (one bounded pass over caller memory, no
// peers, no I/O) and copy-free: arguments are TypedArrays used in place. Every argument is
// checked here (types, lengths, ascending row offsets, no overlap between inputs and outputs);
// feature ids are checked by the kernel in the same pass (an id >= numFeatures is a RangeError
// naming the row), so a bad call throws a JS error and never reads or writes out of bounds.
#include <napi.h>

#include <cmath>    // for std::isfinite
#include <cstdint>  // for uint32_t
#include <string>
#include <vector>

#include "binding/convert.h"
#include "linear/hessian_vector.h"
#include "linear/l1_coordinate_descent.h"
#include "linear/logistic.h"
#include "linear/two_loop.h"

namespace shoal {
namespace binding {

namespace {

constexpr int kMaxThreads = 64;


std::string prefix(const char* op) { return std::string("linear.") + op + ": "; }

template <typename T>
Span<T> arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* op, const char* name,
            bool nullable = false) {
  return typedSpan<T>(info[i], type, "linear.", op, name, nullable);
}

size_t count(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, double hi) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), prefix(op) + "'" + name + "' must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= hi) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    throw Napi::RangeError::New(info.Env(), prefix(op) + "'" + name + "' must be an integer in [0, " +
                                                std::to_string(static_cast<uint64_t>(hi)) + "]");
  }
  return static_cast<size_t>(d);
}

bool flag(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), prefix(op) + "'" + name + "' must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

void need(Napi::Env env, bool ok, const char* op, const std::string& what) {
  if (!ok) throw Napi::RangeError::New(env, prefix(op) + what);
}

// The CSR arguments 0..2, checked: offsets ascending and within featureIds/values.
linear::Csr csrArgs(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  auto rowPtr = arg<uint32_t>(info, 0, napi_uint32_array, op, "rowPtr");
  auto ids = arg<uint32_t>(info, 1, napi_uint32_array, op, "featureIds");
  auto values = arg<float>(info, 2, napi_float32_array, op, "values");
  need(env, rowPtr.count >= 1, op, "'rowPtr' is empty (it holds numRows + 1 offsets)");
  const size_t rows = rowPtr.count - 1;
  need(env, rowPtr.data[0] == 0, op, "'rowPtr' must start at 0");
  for (size_t r = 0; r < rows; r++) {
    if (rowPtr.data[r] > rowPtr.data[r + 1]) need(env, false, op, "'rowPtr' is not ascending at row " + std::to_string(r));
  }
  need(env, rowPtr.data[rows] <= ids.count, op, "'featureIds' is shorter than rowPtr[numRows]");
  need(env, rowPtr.data[rows] <= values.count, op, "'values' is shorter than rowPtr[numRows]");
  linear::Csr x;
  x.rowPtr = rowPtr.data;
  x.numRows = rows;
  x.featureIds = ids.data;
  x.values = values.data;
  return x;
}

std::string badIdMessage(const linear::Csr& x, size_t row, size_t numFeatures) {
  for (size_t k = x.rowPtr[row]; k < x.rowPtr[row + 1]; k++) {
    if (x.featureIds[k] >= numFeatures) {
      return "feature id " + std::to_string(x.featureIds[k]) + " in row " + std::to_string(row) + " of 'featureIds' is >= numFeatures (" +
             std::to_string(numFeatures) + ")";
    }
  }
  return "a feature id in row " + std::to_string(row) + " of 'featureIds' is >= numFeatures (" + std::to_string(numFeatures) + ")";
}

// lossGrad(rowPtr, featureIds, values, labels, weights | null, w, numFeatures, bias, c, grad,
//          threads, work[, curvature | null]) -> loss
Napi::Value LossGrad(const Napi::CallbackInfo& info) {
  const char* op = "lossGrad";
  Napi::Env env = info.Env();
  if (info.Length() < 12) {
    throw Napi::TypeError::New(env, "linear.lossGrad: expected 12 arguments (rowPtr, featureIds, values, labels, weights, w, "
                                    "numFeatures, bias, c, grad, threads, work)");
  }
  const linear::Csr x = csrArgs(info, op);
  auto labels = arg<float>(info, 3, napi_float32_array, op, "labels");
  auto weights = arg<float>(info, 4, napi_float32_array, op, "weights", true);
  auto w = arg<double>(info, 5, napi_float64_array, op, "w");
  linear::Layout layout;
  layout.numFeatures = count(info, 6, op, "numFeatures", 4294967296.0);
  layout.bias = flag(info, 7, op, "bias");
  if (!info[8].IsNumber()) throw Napi::TypeError::New(env, "linear.lossGrad: 'c' must be a number");
  const double c = info[8].As<Napi::Number>().DoubleValue();
  auto grad = arg<double>(info, 9, napi_float64_array, op, "grad");
  const int threads = static_cast<int>(count(info, 10, op, "threads", kMaxThreads));
  auto work = arg<double>(info, 11, napi_float64_array, op, "work");
  const size_t dim = layout.numFeatures + (layout.bias ? 1 : 0);
  need(env, labels.count == x.numRows, op, "'labels' must hold one value per row (" + std::to_string(x.numRows) + ")");
  need(env, weights.data == nullptr || weights.count == x.numRows, op,
       "'weights' must be null or hold one value per row (" + std::to_string(x.numRows) + ")");
  need(env, w.count == dim, op, "'w' must hold numFeatures + (bias ? 1 : 0) = " + std::to_string(dim) + " values");
  need(env, grad.count == dim, op, "'grad' must hold numFeatures + (bias ? 1 : 0) = " + std::to_string(dim) + " values");
  need(env, threads >= 1, op, "'threads' must be >= 1");
  need(env, work.count >= static_cast<size_t>(threads) * 2 * dim, op,
       "'work' must hold threads * 2 * (numFeatures + (bias ? 1 : 0)) = " + std::to_string(static_cast<size_t>(threads) * 2 * dim) +
           " values");
  need(env, !overlap(grad, w), op, "'grad' overlaps 'w'");
  need(env, !overlap(work, w) && !overlap(work, grad), op, "'work' overlaps 'w' or 'grad'");
  Span<double> curvature;
  if (info.Length() > 12) curvature = arg<double>(info, 12, napi_float64_array, op, "curvature", true);
  if (curvature.data != nullptr) {
    need(env, curvature.count == x.numRows, op, "'curvature' must hold one value per row (" + std::to_string(x.numRows) + ")");
    need(env, !overlap(curvature, w) && !overlap(curvature, grad) && !overlap(curvature, work), op,
         "'curvature' overlaps 'w', 'grad' or 'work'");
  }
  double loss = 0;
  size_t badRow = 0;
  if (!linear::lossGrad(x, labels.data, weights.data, w.data, layout, c, grad.data, &loss, threads, work.data, &badRow,
                        curvature.data)) {
    throw Napi::RangeError::New(env, prefix(op) + badIdMessage(x, badRow, layout.numFeatures));
  }
  return Napi::Number::New(env, loss);
}

// hessianVector(rowPtr, featureIds, values, curvature, v, numFeatures, bias, out, threads, work)
// hessianDiagonal(rowPtr, featureIds, values, curvature, numFeatures, bias, out, threads, work)
// (the same arguments without v).
Napi::Value HessianProduct(const Napi::CallbackInfo& info, bool diagonal) {
  const char* op = diagonal ? "hessianDiagonal" : "hessianVector";
  Napi::Env env = info.Env();
  const size_t nargs = diagonal ? 9 : 10;
  if (info.Length() < nargs) {
    throw Napi::TypeError::New(env, prefix(op) + "expected " + std::to_string(nargs) + " arguments (rowPtr, featureIds, values, curvature, " +
                                        (diagonal ? "" : "v, ") + "numFeatures, bias, out, threads, work)");
  }
  const size_t a = diagonal ? 4 : 5;  // index of numFeatures
  const linear::Csr x = csrArgs(info, op);
  auto d = arg<double>(info, 3, napi_float64_array, op, "curvature");
  Span<double> v;
  if (!diagonal) v = arg<double>(info, 4, napi_float64_array, op, "v");
  linear::Layout layout;
  layout.numFeatures = count(info, a, op, "numFeatures", 4294967296.0);
  layout.bias = flag(info, a + 1, op, "bias");
  auto out = arg<double>(info, a + 2, napi_float64_array, op, "out");
  const int threads = static_cast<int>(count(info, a + 3, op, "threads", kMaxThreads));
  auto work = arg<double>(info, a + 4, napi_float64_array, op, "work");
  const size_t dim = layout.numFeatures + (layout.bias ? 1 : 0);
  need(env, d.count == x.numRows, op, "'curvature' must hold one value per row (" + std::to_string(x.numRows) + ")");
  need(env, diagonal || v.count == dim, op, "'v' must hold numFeatures + (bias ? 1 : 0) = " + std::to_string(dim) + " values");
  need(env, out.count == dim, op, "'out' must hold numFeatures + (bias ? 1 : 0) = " + std::to_string(dim) + " values");
  need(env, threads >= 1, op, "'threads' must be >= 1");
  need(env, work.count >= static_cast<size_t>(threads) * 2 * dim, op,
       "'work' must hold threads * 2 * (numFeatures + (bias ? 1 : 0)) = " + std::to_string(static_cast<size_t>(threads) * 2 * dim) +
           " values");
  need(env, !overlap(out, v) && !overlap(out, d), op, "'out' overlaps 'v' or 'curvature'");
  need(env, !overlap(work, v) && !overlap(work, out) && !overlap(work, d), op, "'work' overlaps 'v', 'out' or 'curvature'");
  size_t badRow = 0;
  const bool ok = diagonal ? linear::hessianDiagonal(x, d.data, layout, out.data, threads, work.data, &badRow)
                           : linear::hessianVector(x, d.data, v.data, layout, out.data, threads, work.data, &badRow);
  if (!ok) throw Napi::RangeError::New(env, prefix(op) + badIdMessage(x, badRow, layout.numFeatures));
  return env.Undefined();
}

Napi::Value HessianVector(const Napi::CallbackInfo& info) { return HessianProduct(info, false); }
Napi::Value HessianDiagonal(const Napi::CallbackInfo& info) { return HessianProduct(info, true); }

// The CSC arguments at i..i+2 over `numRows` rows, checked like csrArgs (row indices are
// checked by the kernels as they read them). With `only`, just those columns' offsets are
// checked (the block calls of newton-l1 touch a few columns of a large matrix each).
linear::Csc cscArgs(const Napi::CallbackInfo& info, size_t i, size_t numRows, const char* op, const Span<uint32_t>* only = nullptr) {
  Napi::Env env = info.Env();
  auto colPtr = arg<uint32_t>(info, i, napi_uint32_array, op, "colPtr");
  auto rows = arg<uint32_t>(info, i + 1, napi_uint32_array, op, "rowIdx");
  auto values = arg<float>(info, i + 2, napi_float32_array, op, "values");
  need(env, colPtr.count >= 1, op, "'colPtr' is empty (it holds numCols + 1 offsets)");
  const size_t cols = colPtr.count - 1;
  need(env, colPtr.data[0] == 0, op, "'colPtr' must start at 0");
  auto checkColumn = [&](size_t j) {
    if (colPtr.data[j] > colPtr.data[j + 1]) need(env, false, op, "'colPtr' is not ascending at column " + std::to_string(j));
  };
  if (only == nullptr) {
    for (size_t j = 0; j < cols; j++) checkColumn(j);
    need(env, colPtr.data[cols] <= rows.count, op, "'rowIdx' is shorter than colPtr[numCols]");
    need(env, colPtr.data[cols] <= values.count, op, "'values' is shorter than colPtr[numCols]");
  } else {
    for (size_t k = 0; k < only->count; k++) {
      const size_t j = only->data[k];
      // The messages are built only on failure (these run per column of every call).
      if (j >= cols) need(env, false, op, "cols[" + std::to_string(k) + "] = " + std::to_string(j) + " is not a column (" + std::to_string(cols) + ")");
      checkColumn(j);
      if (colPtr.data[j + 1] > rows.count || colPtr.data[j + 1] > values.count) {
        need(env, false, op, "'rowIdx' or 'values' is shorter than colPtr[" + std::to_string(j + 1) + "]");
      }
    }
  }
  linear::Csc x;
  x.colPtr = colPtr.data;
  x.numCols = cols;
  x.rowIdx = rows.data;
  x.values = values.data;
  x.numRows = numRows;
  return x;
}

double number(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), prefix(op) + "'" + name + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

void needRows(Napi::Env env, size_t count, size_t numRows, const char* op, const char* name) {
  need(env, count == numRows, op, std::string("'") + name + "' must hold one value per row (" + std::to_string(numRows) + ")");
}

void needCols(Napi::Env env, size_t count, size_t numCols, const char* op, const char* name) {
  need(env, count == numCols, op, std::string("'") + name + "' must hold one value per column (" + std::to_string(numCols) + ")");
}

// rowsLoss(z, dz | null, t, labels, weights | null, c, r | null, d | null) -> loss
Napi::Value RowsLoss(const Napi::CallbackInfo& info) {
  const char* op = "rowsLoss";
  Napi::Env env = info.Env();
  if (info.Length() < 8) throw Napi::TypeError::New(env, "linear.rowsLoss: expected 8 arguments (z, dz, t, labels, weights, c, r, d)");
  auto z = arg<double>(info, 0, napi_float64_array, op, "z");
  auto dz = arg<double>(info, 1, napi_float64_array, op, "dz", true);
  const double t = number(info, 2, op, "t");
  auto labels = arg<float>(info, 3, napi_float32_array, op, "labels");
  auto weights = arg<float>(info, 4, napi_float32_array, op, "weights", true);
  const double c = number(info, 5, op, "c");
  auto r = arg<double>(info, 6, napi_float64_array, op, "r", true);
  auto d = arg<double>(info, 7, napi_float64_array, op, "d", true);
  const size_t n = z.count;
  if (dz.data != nullptr) needRows(env, dz.count, n, op, "dz");
  needRows(env, labels.count, n, op, "labels");
  if (weights.data != nullptr) needRows(env, weights.count, n, op, "weights");
  need(env, (r.data == nullptr) == (d.data == nullptr), op, "'r' and 'd' must both be given or both be null");
  if (r.data != nullptr) {
    needRows(env, r.count, n, op, "r");
    needRows(env, d.count, n, op, "d");
    need(env, !overlap(r, d) && !overlap(r, z) && !overlap(d, z) && !overlap(r, dz) && !overlap(d, dz), op,
         "'r' or 'd' overlaps another array");
  }
  return Napi::Number::New(env, linear::rowsLoss(n, z.data, dz.data, t, labels.data, weights.data, c, r.data, d.data));
}

// columnStats(colPtr, rowIdx, values, r, d, nu, G, H)
Napi::Value ColumnStats(const Napi::CallbackInfo& info) {
  const char* op = "columnStats";
  Napi::Env env = info.Env();
  if (info.Length() < 8) throw Napi::TypeError::New(env, "linear.columnStats: expected 8 arguments (colPtr, rowIdx, values, r, d, nu, G, H)");
  auto r = arg<double>(info, 3, napi_float64_array, op, "r");
  auto d = arg<double>(info, 4, napi_float64_array, op, "d");
  const linear::Csc x = cscArgs(info, 0, r.count, op);
  const double nu = number(info, 5, op, "nu");
  auto G = arg<double>(info, 6, napi_float64_array, op, "G");
  auto H = arg<double>(info, 7, napi_float64_array, op, "H");
  needRows(env, d.count, r.count, op, "d");
  needCols(env, G.count, x.numCols, op, "G");
  needCols(env, H.count, x.numCols, op, "H");
  need(env, !overlap(G, H) && !overlap(G, r) && !overlap(G, d) && !overlap(H, r) && !overlap(H, d), op, "'G' or 'H' overlaps another array");
  if (!linear::columnStats(x, r.data, d.data, nu, G.data, H.data)) {
    throw Napi::RangeError::New(env, prefix(op) + "a row index in 'rowIdx' is >= the number of rows (" + std::to_string(r.count) + ")");
  }
  return env.Undefined();
}

// The options object { l1, penalized, nu, tol, maxPasses, seed } at i (numCols: the bound of penalized).
linear::CdOptions cdOptions(const Napi::CallbackInfo& info, size_t i, const char* op, size_t numCols) {
  Napi::Env env = info.Env();
  if (!info[i].IsObject()) throw Napi::TypeError::New(env, prefix(op) + "expected an options object { l1, penalized, nu, tol, maxPasses, seed }");
  Napi::Object o = info[i].As<Napi::Object>();
  auto field = [&](const char* name) -> double {
    Napi::Value v = o.Get(name);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, prefix(op) + "options." + name + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  };
  auto whole = [&](const char* name, double hi) -> size_t {
    const double v = field(name);
    if (!(v >= 0 && v <= hi) || v != static_cast<double>(static_cast<uint64_t>(v))) {
      throw Napi::RangeError::New(env, prefix(op) + "options." + name + " must be an integer in [0, " + std::to_string(static_cast<uint64_t>(hi)) + "]");
    }
    return static_cast<size_t>(v);
  };
  linear::CdOptions options;
  options.l1 = field("l1");
  options.penalized = whole("penalized", static_cast<double>(numCols));
  options.nu = field("nu");
  options.tol = field("tol");
  options.maxPasses = whole("maxPasses", 1e9);
  options.seed = whole("seed", 4294967295.0);
  need(env, options.l1 >= 0 && std::isfinite(options.l1), op, "options.l1 must be a finite number >= 0");
  need(env, options.nu > 0 && std::isfinite(options.nu), op, "options.nu must be a finite number > 0");
  need(env, options.tol >= 0, op, "options.tol must be >= 0");
  return options;
}

// The columns argument of the block calls: ids < numCols, no repeats (a block steps each once).
void checkColumns(Napi::Env env, const Span<uint32_t>& cols, size_t numCols, const char* op) {
  std::vector<uint8_t> seen(numCols, 0);
  for (size_t s = 0; s < cols.count; s++) {
    const uint32_t j = cols.data[s];
    // The messages are built only on failure (this runs per column of every call).
    if (j >= numCols) need(env, false, op, "column " + std::to_string(j) + " at " + std::to_string(s) + " is not a column (" + std::to_string(numCols) + ")");
    if (seen[j]) need(env, false, op, "column " + std::to_string(j) + " appears twice");
    seen[j] = 1;
  }
}

// coordinateDescent(colPtr, rowIdx, values, D, G, H, w, active, d, xd,
//                   { l1, penalized, nu, tol, maxPasses, seed }) -> passes
Napi::Value CoordinateDescent(const Napi::CallbackInfo& info) {
  const char* op = "coordinateDescent";
  Napi::Env env = info.Env();
  if (info.Length() < 11 || !info[10].IsObject()) {
    throw Napi::TypeError::New(env, "linear.coordinateDescent: expected 11 arguments (colPtr, rowIdx, values, D, G, H, w, active, d, xd, "
                                    "{ l1, penalized, nu, tol, maxPasses, seed })");
  }
  auto D = arg<double>(info, 3, napi_float64_array, op, "D");
  const linear::Csc x = cscArgs(info, 0, D.count, op);
  auto G = arg<double>(info, 4, napi_float64_array, op, "G");
  auto H = arg<double>(info, 5, napi_float64_array, op, "H");
  auto w = arg<double>(info, 6, napi_float64_array, op, "w");
  auto active = arg<uint32_t>(info, 7, napi_uint32_array, op, "active");
  auto d = arg<double>(info, 8, napi_float64_array, op, "d");
  auto xd = arg<double>(info, 9, napi_float64_array, op, "xd");
  linear::CdOptions options = cdOptions(info, 10, op, x.numCols);
  needCols(env, G.count, x.numCols, op, "G");
  needCols(env, H.count, x.numCols, op, "H");
  needCols(env, w.count, x.numCols, op, "w");
  needCols(env, d.count, x.numCols, op, "d");
  needRows(env, xd.count, D.count, op, "xd");
  need(env, active.count <= x.numCols, op, "'active' holds more entries than there are columns");
  checkColumns(env, active, x.numCols, op);
  need(env, !overlap(d, xd) && !overlap(d, G) && !overlap(d, H) && !overlap(d, w) && !overlap(d, D), op, "'d' overlaps another array");
  need(env, !overlap(xd, G) && !overlap(xd, H) && !overlap(xd, w) && !overlap(xd, D), op, "'xd' overlaps another array");
  const size_t passes = linear::coordinateDescent(x, D.data, G.data, H.data, w.data, active.data, active.count, options, d.data, xd.data);
  if (passes == 0 && options.maxPasses > 0) {
    throw Napi::RangeError::New(env, prefix(op) + "a row index in 'rowIdx' is >= the number of rows (" + std::to_string(D.count) + ")");
  }
  return Napi::Number::New(env, static_cast<double>(passes));
}

// denseHessian(rowPtr, featureIds, values, D, numFeatures, bias, Q): Q = X'DX, dim x dim row-major.
Napi::Value DenseHessian(const Napi::CallbackInfo& info) {
  const char* op = "denseHessian";
  Napi::Env env = info.Env();
  if (info.Length() < 7) throw Napi::TypeError::New(env, "linear.denseHessian: expected 7 arguments (rowPtr, featureIds, values, D, numFeatures, bias, Q)");
  const linear::Csr x = csrArgs(info, op);
  auto D = arg<double>(info, 3, napi_float64_array, op, "D");
  linear::Layout layout;
  layout.numFeatures = count(info, 4, op, "numFeatures", 65535.0);
  layout.bias = flag(info, 5, op, "bias");
  auto Q = arg<double>(info, 6, napi_float64_array, op, "Q");
  const size_t dim = layout.numFeatures + (layout.bias ? 1 : 0);
  needRows(env, D.count, x.numRows, op, "D");
  need(env, Q.count == dim * dim, op, "'Q' must hold dim * dim = " + std::to_string(dim * dim) + " values");
  need(env, !overlap(Q, D), op, "'Q' overlaps 'D'");
  if (!linear::denseHessian(x, D.data, layout, Q.data)) {
    throw Napi::RangeError::New(env, prefix(op) + "a feature id in 'featureIds' is >= numFeatures (" + std::to_string(layout.numFeatures) + ")");
  }
  return env.Undefined();
}

// denseCoordinateDescent(Q, G, H, w, active, numRows, d, qd, options) -> passes
Napi::Value DenseCoordinateDescent(const Napi::CallbackInfo& info) {
  const char* op = "denseCoordinateDescent";
  Napi::Env env = info.Env();
  if (info.Length() < 9) {
    throw Napi::TypeError::New(env, "linear.denseCoordinateDescent: expected 9 arguments (Q, G, H, w, active, numRows, d, qd, options)");
  }
  auto Q = arg<double>(info, 0, napi_float64_array, op, "Q");
  auto G = arg<double>(info, 1, napi_float64_array, op, "G");
  auto H = arg<double>(info, 2, napi_float64_array, op, "H");
  auto w = arg<double>(info, 3, napi_float64_array, op, "w");
  auto active = arg<uint32_t>(info, 4, napi_uint32_array, op, "active");
  const size_t numRows = count(info, 5, op, "numRows", 9007199254740991.0);
  auto d = arg<double>(info, 6, napi_float64_array, op, "d");
  auto qd = arg<double>(info, 7, napi_float64_array, op, "qd");
  const size_t dim = G.count;
  const linear::CdOptions options = cdOptions(info, 8, op, dim);
  need(env, Q.count == dim * dim, op, "'Q' must hold G.length^2 = " + std::to_string(dim * dim) + " values");
  needCols(env, H.count, dim, op, "H");
  needCols(env, w.count, dim, op, "w");
  needCols(env, d.count, dim, op, "d");
  needCols(env, qd.count, dim, op, "qd");
  checkColumns(env, active, dim, op);
  need(env, !overlap(d, qd) && !overlap(d, Q) && !overlap(d, G) && !overlap(d, H) && !overlap(d, w), op, "'d' overlaps another array");
  need(env, !overlap(qd, Q) && !overlap(qd, G) && !overlap(qd, H) && !overlap(qd, w), op, "'qd' overlaps another array");
  const size_t passes = linear::denseCoordinateDescent(dim, numRows, Q.data, G.data, H.data, w.data, active.data, active.count, options, d.data, qd.data);
  return Napi::Number::New(env, static_cast<double>(passes));
}

// columnDots(colPtr, rowIdx, values, D, xd, cols, out): out[k] = sum_i x_i,cols[k] D_i xd_i.
Napi::Value ColumnDots(const Napi::CallbackInfo& info) {
  const char* op = "columnDots";
  Napi::Env env = info.Env();
  if (info.Length() < 7) throw Napi::TypeError::New(env, "linear.columnDots: expected 7 arguments (colPtr, rowIdx, values, D, xd, cols, out)");
  auto D = arg<double>(info, 3, napi_float64_array, op, "D");
  auto xd = arg<double>(info, 4, napi_float64_array, op, "xd");
  auto cols = arg<uint32_t>(info, 5, napi_uint32_array, op, "cols");
  auto out = arg<double>(info, 6, napi_float64_array, op, "out");
  const linear::Csc x = cscArgs(info, 0, D.count, op, &cols);
  needRows(env, xd.count, D.count, op, "xd");
  need(env, out.count >= cols.count, op, "'out' must hold at least one value per entry of 'cols' (" + std::to_string(cols.count) + ")");
  need(env, !overlap(out, D) && !overlap(out, xd), op, "'out' overlaps 'D' or 'xd'");
  if (!linear::columnDots(x, D.data, xd.data, cols.data, cols.count, out.data)) {
    throw Napi::RangeError::New(env, prefix(op) + "a row index in 'rowIdx' is >= the number of rows (" + std::to_string(D.count) + ")");
  }
  return env.Undefined();
}

// addColumns(colPtr, rowIdx, values, cols, amounts, out): out += sum over cols of amounts[j] * column j.
Napi::Value AddColumns(const Napi::CallbackInfo& info) {
  const char* op = "addColumns";
  Napi::Env env = info.Env();
  if (info.Length() < 6) throw Napi::TypeError::New(env, "linear.addColumns: expected 6 arguments (colPtr, rowIdx, values, cols, amounts, out)");
  auto cols = arg<uint32_t>(info, 3, napi_uint32_array, op, "cols");
  auto amounts = arg<double>(info, 4, napi_float64_array, op, "amounts");
  auto out = arg<double>(info, 5, napi_float64_array, op, "out");
  const linear::Csc x = cscArgs(info, 0, out.count, op, &cols);
  needCols(env, amounts.count, x.numCols, op, "amounts");
  need(env, !overlap(out, amounts), op, "'out' overlaps 'amounts'");
  if (!linear::addColumns(x, cols.data, cols.count, amounts.data, out.data)) {
    throw Napi::RangeError::New(env, prefix(op) + "a row index in 'rowIdx' is >= the number of rows (" + std::to_string(out.count) + ")");
  }
  return env.Undefined();
}

// blockStep(colPtr, rowIdx, values, G, H, w, cols, dots, d, xd, options, shrinkBound) -> { norm1, gmax, kept }
// (cols reordered in place: the kept columns first)
Napi::Value BlockStep(const Napi::CallbackInfo& info) {
  const char* op = "blockStep";
  Napi::Env env = info.Env();
  if (info.Length() < 12) {
    throw Napi::TypeError::New(env, "linear.blockStep: expected 12 arguments (colPtr, rowIdx, values, G, H, w, cols, dots, d, xd, options, shrinkBound)");
  }
  if (!info[11].IsNumber()) throw Napi::TypeError::New(env, prefix(op) + "shrinkBound must be a number");
  const double shrinkBound = info[11].As<Napi::Number>().DoubleValue();
  need(env, shrinkBound >= 0, op, "shrinkBound must be >= 0 (Infinity: no shrinking)");
  auto G = arg<double>(info, 3, napi_float64_array, op, "G");
  auto H = arg<double>(info, 4, napi_float64_array, op, "H");
  auto w = arg<double>(info, 5, napi_float64_array, op, "w");
  auto cols = arg<uint32_t>(info, 6, napi_uint32_array, op, "cols");
  auto dots = arg<double>(info, 7, napi_float64_array, op, "dots");
  auto d = arg<double>(info, 8, napi_float64_array, op, "d");
  auto xd = arg<double>(info, 9, napi_float64_array, op, "xd");
  const linear::Csc x = cscArgs(info, 0, xd.count, op, &cols);
  const linear::CdOptions options = cdOptions(info, 10, op, x.numCols);
  needCols(env, G.count, x.numCols, op, "G");
  needCols(env, H.count, x.numCols, op, "H");
  needCols(env, w.count, x.numCols, op, "w");
  needCols(env, d.count, x.numCols, op, "d");
  need(env, dots.count >= cols.count, op, "'dots' must hold at least one value per entry of 'cols' (" + std::to_string(cols.count) + ")");
  checkColumns(env, cols, x.numCols, op);
  need(env, !overlap(d, xd) && !overlap(d, G) && !overlap(d, H) && !overlap(d, w) && !overlap(d, dots), op, "'d' overlaps another array");
  need(env, !overlap(xd, G) && !overlap(xd, H) && !overlap(xd, w) && !overlap(xd, dots), op, "'xd' overlaps another array");
  need(env, !overlap(cols, d) && !overlap(cols, xd) && !overlap(cols, dots), op, "'cols' overlaps another array");
  const linear::BlockResult r = linear::blockStep(x, G.data, H.data, w.data, cols.data, cols.count, dots.data, shrinkBound, options, d.data, xd.data);
  if (r.norm1 < 0) throw Napi::RangeError::New(env, prefix(op) + "a row index in 'rowIdx' is >= the number of rows (" + std::to_string(xd.count) + ")");
  Napi::Object out = Napi::Object::New(env);
  out.Set("norm1", Napi::Number::New(env, r.norm1));
  out.Set("gmax", Napi::Number::New(env, r.gmax));
  out.Set("kept", Napi::Number::New(env, static_cast<double>(r.kept)));
  return out;
}

// The Float64Arrays of a JS array argument (the history's s or y vectors), each of `dim` values.
std::vector<Span<double>> vectors(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, size_t dim) {
  Napi::Env env = info.Env();
  if (!info[i].IsArray()) throw Napi::TypeError::New(env, prefix(op) + "'" + name + "' must be an array of Float64Array");
  Napi::Array list = info[i].As<Napi::Array>();
  std::vector<Span<double>> out;
  out.reserve(list.Length());
  for (uint32_t k = 0; k < list.Length(); k++) {
    Napi::Value v = list.Get(k);
    const std::string what = std::string(name) + "[" + std::to_string(k) + "]";
    const Span<double> sp = typedSpan<double>(v, napi_float64_array, "linear.", op, what.c_str());
    need(env, sp.count == dim, op, "'" + what + "' must hold " + std::to_string(dim) + " values (the length of 'g')");
    out.push_back(sp);
  }
  return out;
}

// twoLoop(s: Float64Array[], y: Float64Array[], rho: Float64Array, g, out): out = -H g, pairs oldest first.
Napi::Value TwoLoop(const Napi::CallbackInfo& info) {
  const char* op = "twoLoop";
  Napi::Env env = info.Env();
  if (info.Length() < 5) throw Napi::TypeError::New(env, "linear.twoLoop: expected 5 arguments (s, y, rho, g, out)");
  auto g = arg<double>(info, 3, napi_float64_array, op, "g");
  auto out = arg<double>(info, 4, napi_float64_array, op, "out");
  const size_t dim = g.count;
  auto s = vectors(info, 0, op, "s", dim);
  auto y = vectors(info, 1, op, "y", dim);
  auto rho = arg<double>(info, 2, napi_float64_array, op, "rho");
  const size_t n = s.size();
  need(env, y.size() == n && rho.count == n, op, "'s', 'y' and 'rho' must have the same length");
  need(env, out.count == dim, op, "'out' must hold as many values as 'g'");
  need(env, out.data == g.data || !overlap(out, g), op, "'out' overlaps 'g' (it may be 'g' itself)");
  std::vector<const double*> sp(n);
  std::vector<const double*> yp(n);
  for (size_t k = 0; k < n; k++) {
    need(env, !overlap(out, s[k]) && !overlap(out, y[k]), op, "'out' overlaps a pair (s or y)");
    sp[k] = s[k].data;
    yp[k] = y[k].data;
  }
  std::vector<double> alpha(n);
  linear::twoLoop(sp.data(), yp.data(), rho.data, n, g.data, dim, out.data, alpha.data());
  return env.Undefined();
}

}  // namespace

void registerLinear(Napi::Env env, Napi::Object exports) {
  Napi::Object linear = Napi::Object::New(env);
  linear.Set("lossGrad", Napi::Function::New(env, LossGrad, "lossGrad"));
  linear.Set("hessianVector", Napi::Function::New(env, HessianVector, "hessianVector"));
  linear.Set("hessianDiagonal", Napi::Function::New(env, HessianDiagonal, "hessianDiagonal"));
  linear.Set("twoLoop", Napi::Function::New(env, TwoLoop, "twoLoop"));
  linear.Set("rowsLoss", Napi::Function::New(env, RowsLoss, "rowsLoss"));
  linear.Set("columnStats", Napi::Function::New(env, ColumnStats, "columnStats"));
  linear.Set("coordinateDescent", Napi::Function::New(env, CoordinateDescent, "coordinateDescent"));
  linear.Set("denseHessian", Napi::Function::New(env, DenseHessian, "denseHessian"));
  linear.Set("denseCoordinateDescent", Napi::Function::New(env, DenseCoordinateDescent, "denseCoordinateDescent"));
  linear.Set("columnDots", Napi::Function::New(env, ColumnDots, "columnDots"));
  linear.Set("blockStep", Napi::Function::New(env, BlockStep, "blockStep"));
  linear.Set("addColumns", Napi::Function::New(env, AddColumns, "addColumns"));
  exports.Set("linear", linear);
}

}  // namespace binding
}  // namespace shoal
