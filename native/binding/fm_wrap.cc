// The binding of the FM coordinate-solver kernels (fm/coordinate_kernels.h) as `exports.fm`:
// blockStats, blockApply, rowScores, drawBlock, probitResiduals and residualStats. Synchronous on the JS thread (one bounded pass over caller
// memory, no peers, no I/O) and copy-free. Every argument is checked here (types, lengths,
// ascending column offsets, block features in range, outputs not overlapping inputs); row
// numbers are checked by blockStats and blockApply in their passes, so a bad call throws a JS error naming the
// argument and never reads or writes out of bounds.
#include <napi.h>

#include <cmath>    // for std::isfinite, std::floor
#include <cstdint>  // for uint32_t, int32_t
#include <string>

#include "binding/convert.h"
#include "fm/coordinate_kernels.h"

namespace shoal {
namespace binding {

namespace {

std::string prefix(const char* op) { return std::string("fm.") + op + ": "; }

template <typename T>
Span<T> arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* op, const char* name) {
  return typedSpan<T>(info[i], type, "fm.", op, name);
}

void need(Napi::Env env, bool ok, const char* op, const std::string& what) {
  if (!ok) throw Napi::RangeError::New(env, prefix(op) + what);
}

// Arguments shared by both calls, in this order:
// (colStart, colRow, colVal, block, params, stride, factor, q, k, resid, ...)
struct Common {
  fm::Columns cols;
  fm::Coordinate coord;
  Span<int32_t> block;
  Span<double> q;
  Span<double> resid;
  Span<double> params;
  Span<double> colVal;
};

Common common(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  Common c;
  auto colStart = arg<uint32_t>(info, 0, napi_uint32_array, op, "colStart");
  auto colRow = arg<uint32_t>(info, 1, napi_uint32_array, op, "colRow");
  c.colVal = arg<double>(info, 2, napi_float64_array, op, "colVal");
  c.block = arg<int32_t>(info, 3, napi_int32_array, op, "block");
  c.params = arg<double>(info, 4, napi_float64_array, op, "params");
  for (size_t i : {5, 6, 8}) {
    if (!info[i].IsNumber()) throw Napi::TypeError::New(env, prefix(op) + "arguments 6, 7 and 9 (stride, factor, k) must be numbers");
  }
  const double stride = info[5].As<Napi::Number>().DoubleValue();
  const double factor = info[6].As<Napi::Number>().DoubleValue();
  const double k = info[8].As<Napi::Number>().DoubleValue();
  c.q = arg<double>(info, 7, napi_float64_array, op, "q");
  c.resid = arg<double>(info, 9, napi_float64_array, op, "resid");
  need(env, colStart.count >= 1, op, "'colStart' is empty (it holds numFeatures + 1 offsets)");
  const size_t G = colStart.count - 1;
  need(env, colStart.data[0] == 0, op, "'colStart' must start at 0");
  // Messages are built only on failure: these checks run once per entry of the call.
  for (size_t g = 0; g < G; g++) {
    if (colStart.data[g] > colStart.data[g + 1]) need(env, false, op, "'colStart' is not ascending at feature " + std::to_string(g));
  }
  need(env, colStart.data[G] <= colRow.count && colStart.data[G] <= c.colVal.count, op, "'colRow' or 'colVal' is shorter than colStart[numFeatures]");
  need(env, k >= 0 && k <= 4096 && k == static_cast<double>(static_cast<size_t>(k)), op, "'k' must be an integer in [0, 4096]");
  need(env, stride == k + 1, op, "'stride' must be k + 1");
  need(env, factor >= -1 && factor < k && factor == static_cast<double>(static_cast<long>(factor)), op, "'factor' must be -1 (w) or an integer in [0, k)");
  need(env, c.params.count >= G * static_cast<size_t>(stride), op, "'params' holds fewer than numFeatures * stride values");
  const size_t rows = c.resid.count;
  need(env, c.q.count >= rows * static_cast<size_t>(k), op, "'q' holds fewer than rows * k values (rows = resid.length)");
  for (size_t b = 0; b < c.block.count; b++) {
    if (c.block.data[b] < 0 || static_cast<size_t>(c.block.data[b]) >= G) {
      need(env, false, op, "'block' entry " + std::to_string(b) + " (" + std::to_string(c.block.data[b]) + ") is not a feature index in [0, " + std::to_string(G) + ")");
    }
  }
  c.cols.colStart = colStart.data;
  c.cols.numFeatures = G;
  c.cols.colRow = colRow.data;
  c.cols.colVal = c.colVal.data;
  c.cols.numRows = rows;
  c.coord.params = c.params.data;
  c.coord.stride = static_cast<size_t>(stride);
  c.coord.factor = static_cast<int>(factor);
  c.coord.q = c.q.data;
  c.coord.k = static_cast<size_t>(k);
  return c;
}

// blockStats(colStart, colRow, colVal, block, params, stride, factor, q, k, resid, limbs) -> -1 | block position | -2 - row
Napi::Value BlockStats(const Napi::CallbackInfo& info) {
  const char* op = "blockStats";
  Napi::Env env = info.Env();
  if (info.Length() < 11) throw Napi::TypeError::New(env, "fm.blockStats: expected 11 arguments (colStart, colRow, colVal, block, params, stride, factor, q, k, resid, limbs)");
  Common c = common(info, op);
  auto limbs = arg<double>(info, 10, napi_float64_array, op, "limbs");
  need(env, limbs.count == 4 * c.block.count, op, "'limbs' must hold 4 * block.length values");
  need(env, !overlap(limbs, c.resid) && !overlap(limbs, c.q) && !overlap(limbs, c.params) && !overlap(limbs, c.colVal), op, "'limbs' overlaps an input");
  const long r = fm::blockStats(c.cols, c.coord, c.block.data, c.block.count, c.resid.data, limbs.data);
  if (r <= -2) throw Napi::RangeError::New(env, prefix(op) + "'colRow' holds row " + std::to_string(-2 - r) + " >= resid.length (" + std::to_string(c.cols.numRows) + ")");
  return Napi::Number::New(env, static_cast<double>(r));
}

// blockApply(colStart, colRow, colVal, block, params, stride, factor, q, k, resid, delta, oldValue)
Napi::Value BlockApply(const Napi::CallbackInfo& info) {
  const char* op = "blockApply";
  Napi::Env env = info.Env();
  if (info.Length() < 12) throw Napi::TypeError::New(env, "fm.blockApply: expected 12 arguments (colStart, colRow, colVal, block, params, stride, factor, q, k, resid, delta, oldValue)");
  Common c = common(info, op);
  auto delta = arg<double>(info, 10, napi_float64_array, op, "delta");
  auto oldValue = arg<double>(info, 11, napi_float64_array, op, "oldValue");
  need(env, delta.count >= c.block.count && oldValue.count >= c.block.count, op, "'delta' and 'oldValue' must hold block.length values");
  need(env, !overlap(c.q, c.resid) && !overlap(c.q, c.colVal) && !overlap(c.resid, c.colVal), op, "'q', 'resid' and 'colVal' must not overlap");
  // Row numbers are checked in the pass (blockApply may be called without blockStats).
  const long r = fm::blockApply(c.cols, c.coord, c.block.data, c.block.count, delta.data, oldValue.data, c.q.data, c.resid.data);
  if (r <= -2) throw Napi::RangeError::New(env, prefix(op) + "'colRow' holds row " + std::to_string(-2 - r) + " >= resid.length (" + std::to_string(c.cols.numRows) + ")");
  return env.Undefined();
}

double number(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), prefix(op) + "'" + name + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// rowScores(rowPtr, entryFeature, values, params, k, w0, q, yhat)
Napi::Value RowScores(const Napi::CallbackInfo& info) {
  const char* op = "rowScores";
  Napi::Env env = info.Env();
  if (info.Length() < 8) throw Napi::TypeError::New(env, "fm.rowScores: expected 8 arguments (rowPtr, entryFeature, values, params, k, w0, q, yhat)");
  auto rowPtr = arg<uint32_t>(info, 0, napi_uint32_array, op, "rowPtr");
  auto entryFeature = arg<int32_t>(info, 1, napi_int32_array, op, "entryFeature");
  auto values = arg<float>(info, 2, napi_float32_array, op, "values");
  auto params = arg<double>(info, 3, napi_float64_array, op, "params");
  const double k = number(info, 4, op, "k");
  const double w0 = number(info, 5, op, "w0");
  auto q = arg<double>(info, 6, napi_float64_array, op, "q");
  auto yhat = arg<double>(info, 7, napi_float64_array, op, "yhat");
  need(env, k >= 0 && k <= 4096 && k == static_cast<double>(static_cast<size_t>(k)), op, "'k' must be an integer in [0, 4096]");
  need(env, rowPtr.count >= 1 && rowPtr.data[0] == 0, op, "'rowPtr' must hold numRows + 1 offsets starting at 0");
  const size_t rows = rowPtr.count - 1;
  for (size_t i = 0; i < rows; i++) {
    if (rowPtr.data[i] > rowPtr.data[i + 1]) need(env, false, op, "'rowPtr' is not ascending at row " + std::to_string(i));
  }
  const size_t nnz = rowPtr.data[rows];
  need(env, entryFeature.count >= nnz && values.count >= nnz, op, "'entryFeature' or 'values' is shorter than rowPtr[numRows]");
  const size_t stride = static_cast<size_t>(k) + 1;
  const size_t features = params.count / stride;
  for (size_t e = 0; e < nnz; e++) {
    if (entryFeature.data[e] < 0 || static_cast<size_t>(entryFeature.data[e]) >= features) {
      need(env, false, op, "'entryFeature' entry " + std::to_string(e) + " is not a feature index in [0, " + std::to_string(features) + ")");
    }
  }
  need(env, q.count >= rows * static_cast<size_t>(k) && yhat.count >= rows, op, "'q' must hold rows * k values and 'yhat' rows values");
  need(env, !overlap(q, yhat) && !overlap(q, params) && !overlap(yhat, params), op, "'q', 'yhat' and 'params' must not overlap");
  fm::rowScores(rowPtr.data, rows, entryFeature.data, values.data, params.data, static_cast<size_t>(k), w0, q.data, yhat.data);
  return env.Undefined();
}

uint32_t u32(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  const double v = number(info, i, op, name);
  need(info.Env(), v >= 0 && v <= 4294967295.0 && v == static_cast<double>(static_cast<uint32_t>(v)), op, "'" + std::string(name) + "' must be an integer in [0, 2^32)");
  return static_cast<uint32_t>(v);
}

double finite(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  const double v = number(info, i, op, name);
  need(info.Env(), std::isfinite(v), op, "'" + std::string(name) + "' must be finite");
  return v;
}

// drawBlock(block, featureIds, params, k, factor, limbs, seed, kind, iteration, alpha, lambda, mu, sample, delta, oldValue)
Napi::Value DrawBlock(const Napi::CallbackInfo& info) {
  const char* op = "drawBlock";
  Napi::Env env = info.Env();
  if (info.Length() < 15) {
    throw Napi::TypeError::New(env, "fm.drawBlock: expected 15 arguments (block, featureIds, params, k, factor, limbs, seed, kind, iteration, alpha, lambda, mu, sample, delta, oldValue)");
  }
  auto block = arg<int32_t>(info, 0, napi_int32_array, op, "block");
  auto featureIds = arg<double>(info, 1, napi_float64_array, op, "featureIds");
  auto params = arg<double>(info, 2, napi_float64_array, op, "params");
  const double k = number(info, 3, op, "k");
  need(env, k >= 0 && k <= 4096 && k == static_cast<double>(static_cast<size_t>(k)), op, "'k' must be an integer in [0, 4096]");
  const double factor = number(info, 4, op, "factor");
  need(env, factor >= -1 && factor < k && factor == static_cast<double>(static_cast<long>(factor)), op, "'factor' must be -1 (w) or an integer in [0, k)");
  auto limbs = arg<double>(info, 5, napi_float64_array, op, "limbs");
  fm::DrawSpec spec;
  spec.seed = u32(info, 6, op, "seed");
  spec.kind = u32(info, 7, op, "kind");
  spec.iteration = u32(info, 8, op, "iteration");
  spec.factor = static_cast<int>(factor);
  spec.alpha = finite(info, 9, op, "alpha");
  spec.lambda = finite(info, 10, op, "lambda");
  spec.mu = finite(info, 11, op, "mu");
  if (!info[12].IsBoolean()) throw Napi::TypeError::New(env, prefix(op) + "'sample' must be a boolean");
  spec.sample = info[12].As<Napi::Boolean>().Value();
  auto delta = arg<double>(info, 13, napi_float64_array, op, "delta");
  auto oldValue = arg<double>(info, 14, napi_float64_array, op, "oldValue");
  const size_t stride = static_cast<size_t>(k) + 1;
  need(env, params.count % stride == 0, op, "'params' must hold numFeatures * (k + 1) values");
  const size_t G = params.count / stride;
  need(env, featureIds.count >= G, op, "'featureIds' must hold one id per feature (params.length / (k + 1))");
  need(env, limbs.count == 4 * block.count, op, "'limbs' must hold 4 * block.length values");
  need(env, delta.count >= block.count && oldValue.count >= block.count, op, "'delta' and 'oldValue' must hold block.length values");
  need(env, !overlap(params, delta) && !overlap(params, oldValue) && !overlap(delta, oldValue) && !overlap(params, limbs) && !overlap(delta, limbs) &&
                !overlap(oldValue, limbs) && !overlap(params, featureIds) && !overlap(delta, featureIds) && !overlap(oldValue, featureIds),
       op, "the outputs 'params', 'delta' and 'oldValue' overlap each other or an input");
  for (size_t b = 0; b < block.count; b++) {
    if (block.data[b] < 0 || static_cast<size_t>(block.data[b]) >= G) {
      need(env, false, op, "'block' entry " + std::to_string(b) + " (" + std::to_string(block.data[b]) + ") is not a feature index in [0, " + std::to_string(G) + ")");
    }
  }
  fm::drawBlock(spec, block.data, block.count, featureIds.data, params.data, static_cast<size_t>(k), limbs.data, delta.data, oldValue.data);
  return env.Undefined();
}

// probitResiduals(labels, yhat, seed, kind, iteration, rowOffset, resid)
Napi::Value ProbitResiduals(const Napi::CallbackInfo& info) {
  const char* op = "probitResiduals";
  Napi::Env env = info.Env();
  if (info.Length() < 7) throw Napi::TypeError::New(env, "fm.probitResiduals: expected 7 arguments (labels, yhat, seed, kind, iteration, rowOffset, resid)");
  auto labels = arg<double>(info, 0, napi_float64_array, op, "labels");
  auto yhat = arg<double>(info, 1, napi_float64_array, op, "yhat");
  const uint32_t seed = u32(info, 2, op, "seed");
  const uint32_t kind = u32(info, 3, op, "kind");
  const uint32_t iteration = u32(info, 4, op, "iteration");
  const double rowOffset = number(info, 5, op, "rowOffset");
  need(env, rowOffset >= 0 && rowOffset <= 9007199254740991.0 && rowOffset == std::floor(rowOffset), op, "'rowOffset' must be an integer in [0, 2^53)");
  auto resid = arg<double>(info, 6, napi_float64_array, op, "resid");
  need(env, labels.count == resid.count && yhat.count == resid.count, op, "'labels', 'yhat' and 'resid' must have the same length");
  need(env, !overlap(resid, labels) && !overlap(resid, yhat), op, "'resid' overlaps an input");
  for (size_t i = 0; i < yhat.count; i++) {
    if (!std::isfinite(yhat.data[i])) need(env, false, op, "'yhat' entry " + std::to_string(i) + " is not finite: the model diverged");
  }
  fm::probitResiduals(seed, kind, iteration, rowOffset, labels.data, yhat.data, yhat.count, resid.data);
  return env.Undefined();
}

// residualStats(resid, limbs) -> -1 | index of an out-of-range residual
Napi::Value ResidualStats(const Napi::CallbackInfo& info) {
  const char* op = "residualStats";
  Napi::Env env = info.Env();
  if (info.Length() < 2) throw Napi::TypeError::New(env, "fm.residualStats: expected 2 arguments (resid, limbs)");
  auto resid = arg<double>(info, 0, napi_float64_array, op, "resid");
  auto limbs = arg<double>(info, 1, napi_float64_array, op, "limbs");
  need(env, limbs.count == 4, op, "'limbs' must hold 4 values");
  need(env, !overlap(resid, limbs), op, "'limbs' overlaps 'resid'");
  return Napi::Number::New(env, static_cast<double>(fm::residualStats(resid.data, resid.count, limbs.data)));
}

}  // namespace

void registerFm(Napi::Env env, Napi::Object exports) {
  Napi::Object fm = Napi::Object::New(env);
  fm.Set("blockStats", Napi::Function::New(env, BlockStats, "blockStats"));
  fm.Set("blockApply", Napi::Function::New(env, BlockApply, "blockApply"));
  fm.Set("rowScores", Napi::Function::New(env, RowScores, "rowScores"));
  fm.Set("drawBlock", Napi::Function::New(env, DrawBlock, "drawBlock"));
  fm.Set("probitResiduals", Napi::Function::New(env, ProbitResiduals, "probitResiduals"));
  fm.Set("residualStats", Napi::Function::New(env, ResidualStats, "residualStats"));
  exports.Set("fm", fm);
}

}  // namespace binding
}  // namespace shoal
