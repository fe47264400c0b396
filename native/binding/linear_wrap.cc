// The binding of the logistic-regression kernels as `exports.linear`: lossGrad
// (linear/logistic.h), hessianVector and hessianDiagonal (linear/hessian_vector.h) and twoLoop (linear/two_loop.h). Synchronous on the JS thread (one bounded pass over caller memory, no
// peers, no I/O) and copy-free: arguments are TypedArrays used in place. Every argument is
// checked here (types, lengths, ascending row offsets, no overlap between inputs and outputs);
// feature ids are checked by the kernel in the same pass (an id >= numFeatures is a RangeError
// naming the row), so a bad call throws a JS error and never reads or writes out of bounds.
#include <napi.h>

#include <cstdint>  // for uint32_t
#include <string>
#include <vector>

#include "binding/convert.h"
#include "linear/hessian_vector.h"
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

template <typename A, typename B>
bool overlap(const Span<A>& a, const Span<B>& b) {
  if (a.count == 0 || b.count == 0) return false;
  const auto* a0 = reinterpret_cast<const uint8_t*>(a.data);
  const auto* b0 = reinterpret_cast<const uint8_t*>(b.data);
  return a0 < b0 + b.count * sizeof(B) && b0 < a0 + a.count * sizeof(A);
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
  exports.Set("linear", linear);
}

}  // namespace binding
}  // namespace shoal
