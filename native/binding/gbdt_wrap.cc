// The binding of the gradient-boosting kernels (gbdt/hist.h) as `exports.gbdt`: binRows,
// buildHist, buildHistPairs, partitionRows, addTreeBins, and the per-round absMax,
// quantizePairs, addLeafValues, logisticGradients and logisticLoss; sortFloat32 and featureDistinct (sketch) and sortFloat64 (test AUC). All synchronous on the JS thread (each call is one
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
Span<T> arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* op, const char* name) {
  return typedSpan<T>(info[i], type, "gbdt.", op, name);
}

size_t count(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("gbdt.") + op + ": '" + name + "' must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    throw Napi::RangeError::New(info.Env(), std::string("gbdt.") + op + ": '" + name + "' must be an integer in [0, 2^32)");
  }
  return static_cast<size_t>(d);
}

// The message is built only on failure: these checks run once per row in some loops.
void need(Napi::Env env, bool ok, const char* op, const char* what) {
  if (!ok) throw Napi::RangeError::New(env, std::string("gbdt.") + op + ": " + what);
}

// True when every rows[i] < limit (one vectorisable pass, no branch per row).
bool allBelow(const uint32_t* rows, size_t n, size_t limit) {
  uint32_t mx = 0;
  for (size_t i = 0; i < n; i++) mx = rows[i] > mx ? rows[i] : mx;
  return n == 0 || mx < limit;
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
  need(env, allBelow(rows.data, rows.count, numRows), op, "a row index is out of range");
  gbdt::buildHist(bins.data, nf, rows.data, rows.count, grad.data, hess.data, off.data, slots, hist.data,
                  static_cast<int>(threads));
  return env.Undefined();
}

double number(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("gbdt.") + op + ": '" + name + "' must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d > 0 && d < 1.7976931348623157e308)) {
    throw Napi::RangeError::New(info.Env(), std::string("gbdt.") + op + ": '" + name + "' must be a finite number > 0");
  }
  return d;
}

// absMax(grad, hess, out): out[0] = max |grad|, out[1] = max hess (at least 0)
Napi::Value AbsMax(const Napi::CallbackInfo& info) {
  const char* op = "absMax";
  Napi::Env env = info.Env();
  if (info.Length() < 3) throw Napi::TypeError::New(env, "gbdt.absMax: expected 3 arguments");
  auto grad = arg<double>(info, 0, napi_float64_array, op, "grad");
  auto hess = arg<double>(info, 1, napi_float64_array, op, "hess");
  auto out = arg<double>(info, 2, napi_float64_array, op, "out");
  need(env, hess.count == grad.count, op, "'grad' and 'hess' must have the same length");
  need(env, out.count == 2, op, "'out' must hold 2 doubles");
  gbdt::absMax(grad.data, hess.data, grad.count, out.data);
  return env.Undefined();
}

// quantizePairs(grad, hess, sg, sh, gh)
Napi::Value QuantizePairs(const Napi::CallbackInfo& info) {
  const char* op = "quantizePairs";
  Napi::Env env = info.Env();
  if (info.Length() < 5) throw Napi::TypeError::New(env, "gbdt.quantizePairs: expected 5 arguments");
  auto grad = arg<double>(info, 0, napi_float64_array, op, "grad");
  auto hess = arg<double>(info, 1, napi_float64_array, op, "hess");
  const double sg = number(info, 2, op, "sg");
  const double sh = number(info, 3, op, "sh");
  auto gh = arg<double>(info, 4, napi_float64_array, op, "gh");
  need(env, hess.count == grad.count, op, "'grad' and 'hess' must have the same length");
  need(env, gh.count == 2 * grad.count, op, "'gh' must hold 2 doubles per row");
  gbdt::quantizePairs(grad.data, hess.data, grad.count, sg, sh, gh.data);
  return env.Undefined();
}

// buildHistPairs(bins, numFeatures, rows, gh, binOffsets, hist, threads)
Napi::Value BuildHistPairs(const Napi::CallbackInfo& info) {
  const char* op = "buildHistPairs";
  Napi::Env env = info.Env();
  if (info.Length() < 7) throw Napi::TypeError::New(env, "gbdt.buildHistPairs: expected 7 arguments");
  auto bins = arg<uint8_t>(info, 0, napi_uint8_array, op, "bins");
  const size_t nf = count(info, 1, op, "numFeatures");
  auto rows = arg<uint32_t>(info, 2, napi_uint32_array, op, "rows");
  auto gh = arg<double>(info, 3, napi_float64_array, op, "gh");
  auto off = arg<uint32_t>(info, 4, napi_uint32_array, op, "binOffsets");
  auto hist = arg<double>(info, 5, napi_float64_array, op, "hist");
  const size_t threads = count(info, 6, op, "threads");
  need(env, nf > 0 && bins.count % nf == 0, op, "'bins' must hold numRows * numFeatures bytes");
  const size_t numRows = bins.count / nf;
  need(env, gh.count == 2 * numRows, op, "'gh' must hold 2 doubles per row");
  need(env, off.count == nf + 1, op, "'binOffsets' must hold numFeatures + 1 offsets");
  const size_t slots = off.data[nf];
  need(env, hist.count == 2 * slots, op, "'hist' must hold 2 * binOffsets[numFeatures] doubles");
  for (size_t f = 0; f < nf; f++) need(env, off.data[f] < off.data[f + 1], op, "'binOffsets' must be strictly ascending");
  need(env, allBelow(rows.data, rows.count, numRows), op, "a row index is out of range");
  gbdt::buildHistPairs(bins.data, nf, rows.data, rows.count, gh.data, off.data, slots, hist.data, static_cast<int>(threads));
  return env.Undefined();
}

// addLeafValues(rows, ranges, values, margins)
Napi::Value AddLeafValues(const Napi::CallbackInfo& info) {
  const char* op = "addLeafValues";
  Napi::Env env = info.Env();
  if (info.Length() < 4) throw Napi::TypeError::New(env, "gbdt.addLeafValues: expected 4 arguments");
  auto rows = arg<uint32_t>(info, 0, napi_uint32_array, op, "rows");
  auto ranges = arg<uint32_t>(info, 1, napi_uint32_array, op, "ranges");
  auto values = arg<double>(info, 2, napi_float64_array, op, "values");
  auto margins = arg<double>(info, 3, napi_float64_array, op, "margins");
  need(env, ranges.count == 2 * values.count, op, "'ranges' must hold a [begin, end) pair per value");
  for (size_t j = 0; j < values.count; j++) {
    need(env, ranges.data[2 * j] <= ranges.data[2 * j + 1] && ranges.data[2 * j + 1] <= rows.count, op,
         "a range is not inside 'rows'");
    need(env, allBelow(rows.data + ranges.data[2 * j], ranges.data[2 * j + 1] - ranges.data[2 * j], margins.count), op,
         "a row index is out of range of 'margins'");
  }
  gbdt::addLeafValues(rows.data, ranges.data, values.data, values.count, margins.data);
  return env.Undefined();
}

// The optional per-row weights: a Float32Array, or null/undefined for weight 1.
Span<float> weightsArg(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (info[i].IsNull() || info[i].IsUndefined()) return Span<float>();
  return arg<float>(info, i, napi_float32_array, op, "weights");
}

// logisticGradients(margins, labels, weights | null, grad, hess)
Napi::Value LogisticGradients(const Napi::CallbackInfo& info) {
  const char* op = "logisticGradients";
  Napi::Env env = info.Env();
  if (info.Length() < 5) throw Napi::TypeError::New(env, "gbdt.logisticGradients: expected 5 arguments");
  auto margins = arg<double>(info, 0, napi_float64_array, op, "margins");
  auto labels = arg<float>(info, 1, napi_float32_array, op, "labels");
  auto weights = weightsArg(info, 2, op);
  auto grad = arg<double>(info, 3, napi_float64_array, op, "grad");
  auto hess = arg<double>(info, 4, napi_float64_array, op, "hess");
  const size_t n = margins.count;
  need(env, labels.count == n, op, "'labels' must hold one value per margin");
  need(env, weights.data == nullptr || weights.count == n, op, "'weights' must hold one value per margin");
  need(env, grad.count == n && hess.count == n, op, "'grad' and 'hess' must hold one value per margin");
  gbdt::logisticGradients(margins.data, labels.data, weights.data, n, grad.data, hess.data);
  return env.Undefined();
}

// sortFloat32(values, scratch) / sortFloat64(values, scratch): in place, ascending
template <typename T>
Napi::Value SortValues(const Napi::CallbackInfo& info, const char* op, napi_typedarray_type type, void (*sort)(T*, size_t, T*)) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throw Napi::TypeError::New(env, std::string("gbdt.") + op + ": expected 2 arguments");
  auto values = arg<T>(info, 0, type, op, "values");
  auto scratch = arg<T>(info, 1, type, op, "scratch");
  need(env, scratch.count >= values.count, op, "'scratch' is shorter than 'values'");
  bool ok = true;
  for (size_t i = 0; i < values.count; i++) ok &= values.data[i] == values.data[i];
  need(env, ok, op, "'values' holds NaN");
  sort(values.data, values.count, scratch.data);
  return env.Undefined();
}

Napi::Value SortFloat32(const Napi::CallbackInfo& info) { return SortValues<float>(info, "sortFloat32", napi_float32_array, gbdt::sortFloat32); }
Napi::Value SortFloat64(const Napi::CallbackInfo& info) { return SortValues<double>(info, "sortFloat64", napi_float64_array, gbdt::sortFloat64); }

// featureDistinct(rowPtr, featureIds, values, numFeatures, offsets, distinct, vals, mult)
Napi::Value FeatureDistinct(const Napi::CallbackInfo& info) {
  const char* op = "featureDistinct";
  Napi::Env env = info.Env();
  if (info.Length() < 8) throw Napi::TypeError::New(env, "gbdt.featureDistinct: expected 8 arguments");
  auto rowPtr = arg<uint32_t>(info, 0, napi_uint32_array, op, "rowPtr");
  auto ids = arg<uint32_t>(info, 1, napi_uint32_array, op, "featureIds");
  auto values = arg<float>(info, 2, napi_float32_array, op, "values");
  const size_t nf = count(info, 3, op, "numFeatures");
  auto offsets = arg<uint32_t>(info, 4, napi_uint32_array, op, "offsets");
  auto distinct = arg<uint32_t>(info, 5, napi_uint32_array, op, "distinct");
  auto vals = arg<float>(info, 6, napi_float32_array, op, "vals");
  auto mult = arg<uint32_t>(info, 7, napi_uint32_array, op, "mult");
  need(env, rowPtr.count >= 1, op, "'rowPtr' is empty");
  const size_t rows = rowPtr.count - 1;
  need(env, rowPtr.data[rows] <= ids.count && ids.count == values.count, op, "'featureIds'/'values' do not match 'rowPtr'");
  bool ascending = true;
  for (size_t r = 0; r < rows; r++) ascending &= rowPtr.data[r] <= rowPtr.data[r + 1];
  need(env, ascending, op, "'rowPtr' is not ascending");
  need(env, offsets.count == nf + 1, op, "'offsets' must hold numFeatures + 1 entries");
  need(env, distinct.count == nf, op, "'distinct' must hold numFeatures entries");
  const size_t stored = rowPtr.data[rows] - rowPtr.data[0];
  need(env, vals.count >= stored && mult.count >= stored, op, "'vals' and 'mult' must hold one entry per stored value");
  gbdt::featureDistinct(rowPtr.data, rows, ids.data, values.data, nf, offsets.data, distinct.data, vals.data, mult.data);
  return env.Undefined();
}

// logisticLoss(margins, labels, weights | null, out)
Napi::Value LogisticLoss(const Napi::CallbackInfo& info) {
  const char* op = "logisticLoss";
  Napi::Env env = info.Env();
  if (info.Length() < 4) throw Napi::TypeError::New(env, "gbdt.logisticLoss: expected 4 arguments");
  auto margins = arg<double>(info, 0, napi_float64_array, op, "margins");
  auto labels = arg<float>(info, 1, napi_float32_array, op, "labels");
  auto weights = weightsArg(info, 2, op);
  auto out = arg<double>(info, 3, napi_float64_array, op, "out");
  const size_t n = margins.count;
  need(env, labels.count == n, op, "'labels' must hold one value per margin");
  need(env, weights.data == nullptr || weights.count == n, op, "'weights' must hold one value per margin");
  need(env, out.count == 2, op, "'out' must hold 2 doubles");
  gbdt::logisticLoss(margins.data, labels.data, weights.data, n, out.data);
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
  need(env, allBelow(rows.data, rows.count, numRows), op, "a row index is out of range");
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
  gbdt.Set("absMax", Napi::Function::New(env, AbsMax, "absMax"));
  gbdt.Set("quantizePairs", Napi::Function::New(env, QuantizePairs, "quantizePairs"));
  gbdt.Set("buildHistPairs", Napi::Function::New(env, BuildHistPairs, "buildHistPairs"));
  gbdt.Set("addLeafValues", Napi::Function::New(env, AddLeafValues, "addLeafValues"));
  gbdt.Set("logisticGradients", Napi::Function::New(env, LogisticGradients, "logisticGradients"));
  gbdt.Set("sortFloat32", Napi::Function::New(env, SortFloat32, "sortFloat32"));
  gbdt.Set("featureDistinct", Napi::Function::New(env, FeatureDistinct, "featureDistinct"));
  gbdt.Set("sortFloat64", Napi::Function::New(env, SortFloat64, "sortFloat64"));
  gbdt.Set("logisticLoss", Napi::Function::New(env, LogisticLoss, "logisticLoss"));
  exports.Set("gbdt", gbdt);
}

}  // namespace binding
}  // namespace shoal
