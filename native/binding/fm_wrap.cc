// The binding of the FM coordinate-solver kernels (fm/coordinate_kernels.h) as `exports.fm`:
// blockStats, blockApply, rowScores, drawBlock, probitResiduals and residualStats. Synchronous
// on the JS thread (one bounded pass over caller memory, no peers, no I/O) and copy-free. Every
// argument is checked here (types, lengths, block features in range, sums that fit, outputs not
// overlapping inputs); the per-entry indices (rows and block positions of blockStats and
// blockApply, rowPtr and feature indices of rowScores) are checked by the kernels in their
// passes rather than in a pass of their own, so a bad call throws a JS error naming the
// argument and never reads or writes out of bounds.
#include <napi.h>

#include <cmath>    // for std::isfinite, std::floor
#include <cstdint>  // for uint32_t, int32_t, INT32_MAX
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

double number(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), prefix(op) + "'" + name + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool boolean(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (!info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), prefix(op) + "'" + name + "' must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

size_t checkedK(const Napi::CallbackInfo& info, size_t i, const char* op) {
  const double k = number(info, i, op, "k");
  need(info.Env(), k >= 0 && k <= 4096 && k == static_cast<double>(static_cast<size_t>(k)), op, "'k' must be an integer in [0, 4096]");
  return static_cast<size_t>(k);
}

// The step's block and coordinate range, arguments (block, .., k, lo, hi) at the given
// positions; every block entry must be a feature index below numFeatures.
fm::Step step(const Napi::CallbackInfo& info, size_t blockAt, size_t kAt, const char* op, size_t numFeatures) {
  Napi::Env env = info.Env();
  auto block = arg<int32_t>(info, blockAt, napi_int32_array, op, "block");
  fm::Step s;
  s.block = block.data;
  s.blockLen = block.count;
  s.k = checkedK(info, kAt, op);
  const double lo = number(info, kAt + 1, op, "lo");
  const double hi = number(info, kAt + 2, op, "hi");
  // At most fm::kMaxStepWidth coordinates: the Gram sums grow with its square.
  need(env, lo >= 0 && lo == static_cast<double>(static_cast<size_t>(lo)) && hi == static_cast<double>(static_cast<size_t>(hi)) && lo < hi && hi <= static_cast<double>(s.k + 1) && hi - lo <= fm::kMaxStepWidth, op,
       "'lo' and 'hi' must be integers with 0 <= lo < hi <= k + 1 and hi - lo <= " + std::to_string(fm::kMaxStepWidth));
  s.lo = static_cast<size_t>(lo);
  s.hi = static_cast<size_t>(hi);
  for (size_t b = 0; b < s.blockLen; b++) {
    if (s.block[b] < 0 || static_cast<size_t>(s.block[b]) >= numFeatures) {
      need(env, false, op, "'block' entry " + std::to_string(b) + " (" + std::to_string(s.block[b]) + ") is not a feature index in [0, " + std::to_string(numFeatures) + ")");
    }
  }
  return s;
}

// The sums a step writes or reads: limbs (2 * count doubles) and the first sum; the step's sums
// must fit.
fm::SumsView sums(const Napi::CallbackInfo& info, size_t at, const char* op, size_t needed, Span<double>* span) {
  *span = arg<double>(info, at, napi_float64_array, op, "limbs");
  const double first = number(info, at + 1, op, "first");
  need(info.Env(), span->count % 2 == 0, op, "'limbs' must hold 2 * count values (high limbs, then low limbs)");
  fm::SumsView v;
  v.limbs = span->data;
  v.count = span->count / 2;
  need(info.Env(), first >= 0 && first == static_cast<double>(static_cast<size_t>(first)) && static_cast<size_t>(first) + needed <= v.count, op,
       "'first' + the step's " + std::to_string(needed) + " sums must fit in limbs.length / 2 (" + std::to_string(v.count) + ")");
  v.first = static_cast<size_t>(first);
  return v;
}

// Arguments shared by blockStats and blockApply, in this order:
// (row, pos, val, block, k, lo, hi, q, resid, ...)
struct Common {
  fm::BlockEntries entries;
  fm::Step step;
  Span<double> q;
  Span<double> resid;
  Span<double> val;
};

Common common(const Napi::CallbackInfo& info, const char* op, size_t numFeatures) {
  Napi::Env env = info.Env();
  Common c;
  auto row = arg<uint32_t>(info, 0, napi_uint32_array, op, "row");
  auto pos = arg<int32_t>(info, 1, napi_int32_array, op, "pos");
  c.val = arg<double>(info, 2, napi_float64_array, op, "val");
  c.step = step(info, 3, 4, op, numFeatures);
  c.q = arg<double>(info, 7, napi_float64_array, op, "q");
  c.resid = arg<double>(info, 8, napi_float64_array, op, "resid");
  need(env, row.count == pos.count && row.count == c.val.count, op, "'row', 'pos' and 'val' must have the same length");
  // Block positions are checked by the kernels in their passes (entryError).
  const size_t rows = c.resid.count;
  need(env, c.q.count >= rows * c.step.k, op, "'q' holds fewer than rows * k values (rows = resid.length)");
  c.entries.row = row.data;
  c.entries.pos = pos.data;
  c.entries.val = c.val.data;
  c.entries.count = row.count;
  c.entries.numRows = rows;
  return c;
}

// A pass's row or block-position error (fm::blockStats / blockApply codes) as a JS error; r
// when it is not one.
long entryError(Napi::Env env, const char* op, const Common& c, long r) {
  if (r <= fm::kBadPosition) {
    const size_t e = static_cast<size_t>(fm::kBadPosition - r);
    throw Napi::RangeError::New(env, prefix(op) + "'pos' entry " + std::to_string(e) + " (" + std::to_string(c.entries.pos[e]) + ") is not a block position in [0, " + std::to_string(c.step.blockLen) + ")");
  }
  if (r <= -2) throw Napi::RangeError::New(env, prefix(op) + "'row' holds row " + std::to_string(-2 - r) + " >= resid.length (" + std::to_string(c.entries.numRows) + ")");
  return r;
}

// blockStats(row, pos, val, block, k, lo, hi, q, resid, params, withOnes, limbs, first) -> -1 | block position | -2 - row
Napi::Value BlockStats(const Napi::CallbackInfo& info) {
  const char* op = "blockStats";
  Napi::Env env = info.Env();
  if (info.Length() < 13) throw Napi::TypeError::New(env, "fm.blockStats: expected 13 arguments (row, pos, val, block, k, lo, hi, q, resid, params, withOnes, limbs, first)");
  auto params = arg<double>(info, 9, napi_float64_array, op, "params");
  const size_t stride = checkedK(info, 4, op) + 1;
  need(env, params.count % stride == 0, op, "'params' must hold numFeatures * (k + 1) values");
  Common c = common(info, op, params.count / stride);
  c.step.withOnes = boolean(info, 10, op, "withOnes");
  Span<double> limbs;
  const fm::SumsView out = sums(info, 11, op, c.step.blockLen * fm::stepSums(c.step.hi - c.step.lo, c.step.withOnes), &limbs);
  need(env, !overlap(limbs, c.resid) && !overlap(limbs, c.q) && !overlap(limbs, params) && !overlap(limbs, c.val), op, "'limbs' overlaps an input");
  const long r = entryError(env, op, c, fm::blockStats(c.entries, c.step, params.data, c.q.data, c.resid.data, out));
  return Napi::Number::New(env, static_cast<double>(r));
}

// blockApply(row, pos, val, block, k, lo, hi, q, resid, delta, oldValue)
Napi::Value BlockApply(const Napi::CallbackInfo& info) {
  const char* op = "blockApply";
  Napi::Env env = info.Env();
  if (info.Length() < 11) throw Napi::TypeError::New(env, "fm.blockApply: expected 11 arguments (row, pos, val, block, k, lo, hi, q, resid, delta, oldValue)");
  // The block's feature indices are not used here: any non-negative index will do.
  Common c = common(info, op, static_cast<size_t>(INT32_MAX));
  auto delta = arg<double>(info, 9, napi_float64_array, op, "delta");
  auto oldValue = arg<double>(info, 10, napi_float64_array, op, "oldValue");
  const size_t changes = c.step.blockLen * (c.step.hi - c.step.lo);
  need(env, delta.count >= changes && oldValue.count >= changes, op, "'delta' and 'oldValue' must hold block.length * (hi - lo) values");
  need(env, !overlap(c.q, c.resid) && !overlap(c.q, c.val) && !overlap(c.resid, c.val) && !overlap(c.q, delta) && !overlap(c.q, oldValue) && !overlap(c.resid, delta) && !overlap(c.resid, oldValue), op,
       "'q' and 'resid' must not overlap each other or an input");
  // Row numbers are checked in the pass (blockApply may be called without blockStats).
  entryError(env, op, c, fm::blockApply(c.entries, c.step, delta.data, oldValue.data, c.q.data, c.resid.data));
  return env.Undefined();
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
  const size_t k = checkedK(info, 4, op);
  const double w0 = number(info, 5, op, "w0");
  auto q = arg<double>(info, 6, napi_float64_array, op, "q");
  auto yhat = arg<double>(info, 7, napi_float64_array, op, "yhat");
  need(env, rowPtr.count >= 1 && rowPtr.data[0] == 0, op, "'rowPtr' must hold numRows + 1 offsets starting at 0");
  const size_t rows = rowPtr.count - 1;
  const size_t nnz = rowPtr.data[rows];
  need(env, entryFeature.count >= nnz && values.count >= nnz, op, "'entryFeature' or 'values' is shorter than rowPtr[numRows]");
  const size_t stride = k + 1;
  const size_t features = params.count / stride;
  need(env, q.count >= rows * k && yhat.count >= rows, op, "'q' must hold rows * k values and 'yhat' rows values");
  need(env, !overlap(q, yhat) && !overlap(q, params) && !overlap(yhat, params), op, "'q', 'yhat' and 'params' must not overlap");
  // rowPtr's order and the feature indices are checked in the pass (one pass instead of three).
  const long r = fm::rowScores(rowPtr.data, rows, entryFeature.data, values.data, nnz, params.data, features, k, w0, q.data, yhat.data);
  if (r <= -2) need(env, false, op, "'rowPtr' is not ascending up to rowPtr[numRows] at row " + std::to_string(-2 - r));
  if (r >= 0) need(env, false, op, "'entryFeature' entry " + std::to_string(r) + " is not a feature index in [0, " + std::to_string(features) + ")");
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

// drawBlock(block, featureIds, params, k, lo, hi, withOnes, limbs, first, seed, kindW, kindV, iteration, alpha, lambda, mu, sample, shift, delta, oldValue)
Napi::Value DrawBlock(const Napi::CallbackInfo& info) {
  const char* op = "drawBlock";
  Napi::Env env = info.Env();
  if (info.Length() < 20) {
    throw Napi::TypeError::New(env, "fm.drawBlock: expected 20 arguments (block, featureIds, params, k, lo, hi, withOnes, limbs, first, seed, kindW, kindV, iteration, alpha, lambda, mu, sample, shift, delta, oldValue)");
  }
  auto featureIds = arg<double>(info, 1, napi_float64_array, op, "featureIds");
  auto params = arg<double>(info, 2, napi_float64_array, op, "params");
  const size_t stride = checkedK(info, 3, op) + 1;
  need(env, params.count % stride == 0, op, "'params' must hold numFeatures * (k + 1) values");
  const size_t G = params.count / stride;
  fm::Step s = step(info, 0, 3, op, G);
  s.withOnes = boolean(info, 6, op, "withOnes");
  Span<double> limbs;
  const fm::SumsView in = sums(info, 7, op, s.blockLen * fm::stepSums(s.hi - s.lo, s.withOnes), &limbs);
  fm::DrawSpec spec;
  spec.seed = u32(info, 9, op, "seed");
  spec.kindW = u32(info, 10, op, "kindW");
  spec.kindV = u32(info, 11, op, "kindV");
  spec.iteration = u32(info, 12, op, "iteration");
  spec.alpha = finite(info, 13, op, "alpha");
  auto lambda = arg<double>(info, 14, napi_float64_array, op, "lambda");
  auto mu = arg<double>(info, 15, napi_float64_array, op, "mu");
  need(env, lambda.count == stride && mu.count == stride, op, "'lambda' and 'mu' must hold k + 1 values (w, v_1..v_k)");
  for (size_t c = s.lo; c < s.hi; c++) {
    if (!std::isfinite(lambda.data[c]) || !std::isfinite(mu.data[c])) need(env, false, op, "'lambda' and 'mu' entry " + std::to_string(c) + " must be finite");
  }
  spec.lambda = lambda.data;
  spec.mu = mu.data;
  spec.sample = boolean(info, 16, op, "sample");
  spec.shift = finite(info, 17, op, "shift");
  auto delta = arg<double>(info, 18, napi_float64_array, op, "delta");
  auto oldValue = arg<double>(info, 19, napi_float64_array, op, "oldValue");
  const size_t changes = s.blockLen * (s.hi - s.lo);
  need(env, featureIds.count >= G, op, "'featureIds' must hold one id per feature (params.length / (k + 1))");
  need(env, delta.count >= changes && oldValue.count >= changes, op, "'delta' and 'oldValue' must hold block.length * (hi - lo) values");
  const bool clash = overlap(params, delta) || overlap(params, oldValue) || overlap(delta, oldValue) || overlap(params, limbs) || overlap(delta, limbs) ||
                     overlap(oldValue, limbs) || overlap(params, featureIds) || overlap(delta, featureIds) || overlap(oldValue, featureIds) ||
                     overlap(params, lambda) || overlap(params, mu) || overlap(delta, lambda) || overlap(delta, mu) || overlap(oldValue, lambda) || overlap(oldValue, mu);
  need(env, !clash, op, "the outputs 'params', 'delta' and 'oldValue' overlap each other or an input");
  fm::drawBlock(spec, s, featureIds.data, params.data, in.limbs, in.count, in.first, delta.data, oldValue.data);
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

// residualStats(resid, limbs, first) -> -1 | index of an out-of-range residual
Napi::Value ResidualStats(const Napi::CallbackInfo& info) {
  const char* op = "residualStats";
  Napi::Env env = info.Env();
  if (info.Length() < 3) throw Napi::TypeError::New(env, "fm.residualStats: expected 3 arguments (resid, limbs, first)");
  auto resid = arg<double>(info, 0, napi_float64_array, op, "resid");
  Span<double> limbs;
  const fm::SumsView out = sums(info, 1, op, 2, &limbs);
  need(env, !overlap(resid, limbs), op, "'limbs' overlaps 'resid'");
  return Napi::Number::New(env, static_cast<double>(fm::residualStats(resid.data, resid.count, out)));
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
