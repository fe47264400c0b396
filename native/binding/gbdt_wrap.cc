// The binding of the gradient-boosting kernels (gbdt/hist.h) as `exports.gbdt`: binRows,
// buildHist, partitionRows, addTreeBins. All synchronous on the JS thread (each call is one
// bounded pass over caller memory, no peers, no I/O) and copy-free: arguments are TypedArrays
// used in place. Lengths and indices are checked here; the bins themselves are trusted to come
// from binRows with the same cuts (algorithms/mart builds both).
#include <napi.h>

#include <cstdint>  // for uint32_t
#include <string>

#include "binding/convert.h"
#include "gbdt/hist.h"

namespace shoal {
namespace binding {

namespace {

template <typename T>
struct Span {
  T* data = nullptr;
  size_t count = 0;
};

template <typename T>
Span<T> arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* op, const char* name) {
  Napi::Env env = info.Env();
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    const char* want = type == napi_uint8_array     ? "Uint8Array"
                       : type == napi_uint32_array  ? "Uint32Array"
                       : type == napi_int32_array   ? "Int32Array"
                       : type == napi_float32_array ? "Float32Array"
                                                    : "Float64Array";
    std::string got = v.IsTypedArray() ? typedArrayName(v.As<Napi::TypedArray>().TypedArrayType()) : "a non-TypedArray";
    throw Napi::TypeError::New(env, std::string("gbdt.") + op + ": expected a " + want + " for '" + name + "' but received " + got);
  }
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  if (ab.IsDetached()) throw Napi::TypeError::New(env, std::string("gbdt.") + op + ": '" + name + "' is detached");
  Span<T> s;
  s.data = reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
  s.count = ta.ElementLength();
  return s;
}

size_t count(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("gbdt.") + op + ": '" + name + "' must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    throw Napi::RangeError::New(info.Env(), std::string("gbdt.") + op + ": '" + name + "' must be an integer in [0, 2^32)");
  }
  return static_cast<size_t>(d);
}

void need(Napi::Env env, bool ok, const char* op, const std::string& what) {
  if (!ok) throw Napi::RangeError::New(env, std::string("gbdt.") + op + ": " + what);
}

// binRows(rowPtr, featureIds, values, cutPtr, cuts, numFeatures, out)
Napi::Value BinRows(const Napi::CallbackInfo& info) {
  const char* op = "binRows";
  Napi::Env env = info.Env();
  if (info.Length() < 7) throw Napi::TypeError::New(env, "gbdt.binRows: expected 7 arguments");
  auto rowPtr = arg<uint32_t>(info, 0, napi_uint32_array, op, "rowPtr");
  auto ids = arg<uint32_t>(info, 1, napi_uint32_array, op, "featureIds");
  auto values = arg<float>(info, 2, napi_float32_array, op, "values");
  auto cutPtr = arg<uint32_t>(info, 3, napi_uint32_array, op, "cutPtr");
  auto cuts = arg<float>(info, 4, napi_float32_array, op, "cuts");
  const size_t nf = count(info, 5, op, "numFeatures");
  auto out = arg<uint8_t>(info, 6, napi_uint8_array, op, "out");
  need(env, rowPtr.count >= 1, op, "'rowPtr' is empty");
  const size_t rows = rowPtr.count - 1;
  need(env, rowPtr.data[rows] <= ids.count && ids.count == values.count, op, "'featureIds'/'values' do not match 'rowPtr'");
  for (size_t r = 0; r < rows; r++) need(env, rowPtr.data[r] <= rowPtr.data[r + 1], op, "'rowPtr' is not ascending");
  need(env, cutPtr.count == nf + 1 && cutPtr.data[nf] <= cuts.count, op, "'cutPtr' must hold numFeatures + 1 offsets into 'cuts'");
  for (size_t f = 0; f < nf; f++) {
    need(env, cutPtr.data[f] <= cutPtr.data[f + 1] && cutPtr.data[f + 1] - cutPtr.data[f] <= 255, op, "a feature has more than 255 cuts");
  }
  need(env, out.count == rows * nf, op, "'out' must hold numRows * numFeatures bytes");
  gbdt::binRows(rowPtr.data, rows, ids.data, values.data, cutPtr.data, cuts.data, nf, out.data);
  return env.Undefined();
}

// buildHist(bins, numFeatures, rows, grad, hess, binOffsets, hist, threads)
Napi::Value BuildHist(const Napi::CallbackInfo& info) {
  const char* op = "buildHist";
  Napi::Env env = info.Env();
  if (info.Length() < 8) throw Napi::TypeError::New(env, "gbdt.buildHist: expected 8 arguments");
  auto bins = arg<uint8_t>(info, 0, napi_uint8_array, op, "bins");
  const size_t nf = count(info, 1, op, "numFeatures");
  auto rows = arg<uint32_t>(info, 2, napi_uint32_array, op, "rows");
  auto grad = arg<double>(info, 3, napi_float64_array, op, "grad");
  auto hess = arg<double>(info, 4, napi_float64_array, op, "hess");
  auto off = arg<uint32_t>(info, 5, napi_uint32_array, op, "binOffsets");
  auto hist = arg<double>(info, 6, napi_float64_array, op, "hist");
  const size_t threads = count(info, 7, op, "threads");
  need(env, nf > 0 && bins.count % nf == 0, op, "'bins' must hold numRows * numFeatures bytes");
  const size_t numRows = bins.count / nf;
  need(env, grad.count == numRows && hess.count == numRows, op, "'grad' and 'hess' must hold one value per row");
  need(env, off.count == nf + 1, op, "'binOffsets' must hold numFeatures + 1 offsets");
  const size_t slots = off.data[nf];
  need(env, hist.count == 2 * slots, op, "'hist' must hold 2 * binOffsets[numFeatures] doubles");
  for (size_t f = 0; f < nf; f++) need(env, off.data[f] < off.data[f + 1], op, "'binOffsets' must be strictly ascending");
  for (size_t i = 0; i < rows.count; i++) need(env, rows.data[i] < numRows, op, "a row index is out of range");
  gbdt::buildHist(bins.data, nf, rows.data, rows.count, grad.data, hess.data, off.data, slots, hist.data,
                  static_cast<int>(threads));
  return env.Undefined();
}

// partitionRows(bins, numFeatures, rows, feature, threshold, defaultLeft, scratch) -> count left
Napi::Value PartitionRows(const Napi::CallbackInfo& info) {
  const char* op = "partitionRows";
  Napi::Env env = info.Env();
  if (info.Length() < 7) throw Napi::TypeError::New(env, "gbdt.partitionRows: expected 7 arguments");
  auto bins = arg<uint8_t>(info, 0, napi_uint8_array, op, "bins");
  const size_t nf = count(info, 1, op, "numFeatures");
  auto rows = arg<uint32_t>(info, 2, napi_uint32_array, op, "rows");
  const size_t feature = count(info, 3, op, "feature");
  const size_t threshold = count(info, 4, op, "threshold");
  const bool defaultLeft = info[5].ToBoolean().Value();
  auto scratch = arg<uint32_t>(info, 6, napi_uint32_array, op, "scratch");
  need(env, nf > 0 && bins.count % nf == 0, op, "'bins' must hold numRows * numFeatures bytes");
  need(env, feature < nf, op, "'feature' is out of range");
  need(env, scratch.count >= rows.count, op, "'scratch' is shorter than 'rows'");
  const size_t numRows = bins.count / nf;
  for (size_t i = 0; i < rows.count; i++) need(env, rows.data[i] < numRows, op, "a row index is out of range");
  const size_t nl = gbdt::partitionRows(bins.data, nf, rows.data, rows.count, static_cast<uint32_t>(feature),
                                        static_cast<uint32_t>(threshold), defaultLeft, scratch.data);
  return Napi::Number::New(env, static_cast<double>(nl));
}

// addTreeBins(bins, numFeatures, left, right, feature, threshold, defaultLeft, leafValue, margins)
Napi::Value AddTreeBins(const Napi::CallbackInfo& info) {
  const char* op = "addTreeBins";
  Napi::Env env = info.Env();
  if (info.Length() < 9) throw Napi::TypeError::New(env, "gbdt.addTreeBins: expected 9 arguments");
  auto bins = arg<uint8_t>(info, 0, napi_uint8_array, op, "bins");
  const size_t nf = count(info, 1, op, "numFeatures");
  auto left = arg<int32_t>(info, 2, napi_int32_array, op, "left");
  auto right = arg<int32_t>(info, 3, napi_int32_array, op, "right");
  auto feature = arg<int32_t>(info, 4, napi_int32_array, op, "feature");
  auto threshold = arg<int32_t>(info, 5, napi_int32_array, op, "threshold");
  auto defaultLeft = arg<uint8_t>(info, 6, napi_uint8_array, op, "defaultLeft");
  auto leaf = arg<double>(info, 7, napi_float64_array, op, "leafValue");
  auto margins = arg<double>(info, 8, napi_float64_array, op, "margins");
  need(env, nf > 0 && bins.count % nf == 0, op, "'bins' must hold numRows * numFeatures bytes");
  const size_t numRows = bins.count / nf;
  need(env, margins.count == numRows, op, "'margins' must hold one value per row");
  const size_t n = left.count;
  need(env, n > 0 && right.count == n && feature.count == n && threshold.count == n && defaultLeft.count == n && leaf.count == n, op,
       "tree arrays must have the same non-zero length");
  // Children must point forward so every walk ends at a leaf.
  for (size_t i = 0; i < n; i++) {
    if (left.data[i] < 0) continue;
    need(env, static_cast<size_t>(left.data[i]) > i && static_cast<size_t>(left.data[i]) < n && right.data[i] > 0 &&
                  static_cast<size_t>(right.data[i]) > i && static_cast<size_t>(right.data[i]) < n,
         op, "a child index is out of range");
    need(env, feature.data[i] >= 0 && static_cast<size_t>(feature.data[i]) < nf, op, "a split feature is out of range");
  }
  gbdt::addTreeBins(bins.data, nf, numRows, left.data, right.data, feature.data, threshold.data, defaultLeft.data, leaf.data,
                    margins.data);
  return env.Undefined();
}

}  // namespace

void registerGbdt(Napi::Env env, Napi::Object exports) {
  Napi::Object gbdt = Napi::Object::New(env);
  gbdt.Set("binRows", Napi::Function::New(env, BinRows, "binRows"));
  gbdt.Set("buildHist", Napi::Function::New(env, BuildHist, "buildHist"));
  gbdt.Set("partitionRows", Napi::Function::New(env, PartitionRows, "partitionRows"));
  gbdt.Set("addTreeBins", Napi::Function::New(env, AddTreeBins, "addTreeBins"));
  exports.Set("gbdt", gbdt);
}

}  // namespace binding
}  // namespace shoal
