// NativeComm's variable-size collectives: reduceScatter and allGatherv with explicit
// per-rank counts, and the sparse allReduce / reduceScatter of (uint64 key, float32 row)
// pairs, whose result size only the comm thread knows: its Promise resolves with fresh
// { keys: BigUint64Array, values: Float32Array } built on the JS thread.
#include <cstring>
#include <string>

#include "binding/comm_wrap.h"
#include "binding/convert.h"

namespace shoal {
namespace binding {

namespace {

bool overlaps(const void* a, size_t aBytes, const void* b, size_t bBytes) {
  const auto* x = static_cast<const uint8_t*>(a);
  const auto* y = static_cast<const uint8_t*>(b);
  return aBytes && bBytes && x < y + bBytes && y < x + aBytes;
}

// A fresh TypedArray holding a copy of `data` (one memcpy; the result outlives the op).
template <typename T>
Napi::Value typedArrayOf(Napi::Env env, napi_typedarray_type type, const std::vector<T>& data) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, data.size() * sizeof(T));
  if (!data.empty()) std::memcpy(ab.Data(), data.data(), data.size() * sizeof(T));
  return Napi::TypedArrayOf<T>::New(env, data.size(), ab, 0, type);
}

}  // namespace

// counts: an Array of `size` non-negative integers.
std::vector<size_t> NativeComm::toCounts(Napi::Value v, const std::string& op) {
  Napi::Env env = v.Env();
  const size_t size = static_cast<size_t>(engine_->config().size);
  if (!v.IsArray()) throw Napi::TypeError::New(env, op + ": 'counts' must be an array of " + std::to_string(size) + " integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != size) {
    throw Napi::RangeError::New(env, op + ": 'counts' must have one entry per rank (" + std::to_string(size) + "), got " +
                                         std::to_string(a.Length()));
  }
  std::vector<size_t> counts(size);
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    const double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw Napi::RangeError::New(env, op + ": counts[" + std::to_string(i) + "] must be a non-negative integer");
    }
    counts[i] = static_cast<size_t>(d);
  }
  return counts;
}

// reduceScatter(send, recv, counts, reduceOp, timeoutMs) -> Promise<void>
Napi::Value NativeComm::reduceScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = "reduceScatter";
  if (info.Length() < 5) throw Napi::TypeError::New(env, name + ": expected (send, recv, counts, reduceOp, timeoutMs)");
  if (!engine_ || closing_) throwShoalError(env, ErrorCode::kInvalidUsage, name + ": communicator is closed");
  BufferView s = toBufferView(info[0], name, "send");
  BufferView r = toBufferView(info[1], name, "recv");
  if (r.dtype != s.dtype) throw Napi::TypeError::New(env, name + ": 'recv' must have the same type as 'send'");
  auto op = std::make_unique<runtime::Op>();
  op->kind = transport::OpKind::kReduceScatter;
  op->counts = toCounts(info[2], name);
  size_t total = 0;
  for (size_t n : op->counts) total += n;
  if (total != s.count) {
    throw Napi::RangeError::New(env, name + ": 'send' must hold sum(counts) = " + std::to_string(total) + " elements, got " +
                                         std::to_string(s.count));
  }
  const size_t mine = op->counts[static_cast<size_t>(engine_->config().rank)];
  if (r.count != mine) {
    throw Napi::RangeError::New(env, name + ": 'recv' must hold counts[rank] = " + std::to_string(mine) + " elements, got " +
                                         std::to_string(r.count));
  }
  const size_t eb = dtypeSize(s.dtype);
  if (overlaps(s.data, s.count * eb, r.data, r.count * eb)) throw Napi::RangeError::New(env, name + ": 'recv' must not overlap 'send'");
  const int reduceOp = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
  if (!validReduceOp(reduceOp)) throw Napi::TypeError::New(env, name + ": unknown reduce op");
  op->reduceOp = static_cast<ReduceOp>(reduceOp);
  op->dtype = s.dtype;
  op->buf = s.data;
  op->recv = r.data;
  op->count = s.count;
  op->timeoutMs = toTimeout(info[4], name);
  return submit(env, std::move(op), info[0], info[1], s.count * eb <= engine_->config().tuning.smallMessageBytes);
}

// allGatherv(send, recv, counts, timeoutMs) -> Promise<void>
Napi::Value NativeComm::allGatherv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = "allGatherv";
  if (info.Length() < 4) throw Napi::TypeError::New(env, name + ": expected (send, recv, counts, timeoutMs)");
  if (!engine_ || closing_) throwShoalError(env, ErrorCode::kInvalidUsage, name + ": communicator is closed");
  BufferView s = toBufferView(info[0], name, "send");
  BufferView r = toBufferView(info[1], name, "recv");
  if (r.dtype != s.dtype) throw Napi::TypeError::New(env, name + ": 'recv' must have the same type as 'send'");
  auto op = std::make_unique<runtime::Op>();
  op->kind = transport::OpKind::kAllGatherv;
  op->counts = toCounts(info[2], name);
  const auto rank = static_cast<size_t>(engine_->config().rank);
  size_t total = 0, before = 0;
  for (size_t i = 0; i < op->counts.size(); ++i) {
    if (i == rank) before = total;
    total += op->counts[i];
  }
  if (s.count != op->counts[rank]) {
    throw Napi::RangeError::New(env, name + ": 'send' must hold counts[rank] = " + std::to_string(op->counts[rank]) +
                                         " elements, got " + std::to_string(s.count));
  }
  if (r.count != total) {
    throw Napi::RangeError::New(env, name + ": 'recv' must hold sum(counts) = " + std::to_string(total) + " elements, got " +
                                         std::to_string(r.count));
  }
  const size_t eb = dtypeSize(s.dtype);
  if (overlaps(s.data, s.count * eb, r.data, r.count * eb) && s.data != static_cast<uint8_t*>(r.data) + before * eb) {
    throw Napi::RangeError::New(env, name + ": 'send' overlaps 'recv' other than at this rank's block");
  }
  op->dtype = s.dtype;
  op->buf = s.data;
  op->recv = r.data;
  op->count = s.count;
  op->timeoutMs = toTimeout(info[3], name);
  return submit(env, std::move(op), info[0], info[1], total * eb <= engine_->config().tuning.smallMessageBytes);
}

// sparseAllReduce(keys: BigUint64Array, values: Float32Array, dim, scatterOnly, timeoutMs)
//   -> Promise<{ keys: BigUint64Array, values: Float32Array }>
Napi::Value NativeComm::sparseAllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool scatterOnly = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  const std::string name = scatterOnly ? "sparseReduceScatter" : "sparseAllReduce";
  if (info.Length() < 5) throw Napi::TypeError::New(env, name + ": expected (keys, values, dim, scatterOnly, timeoutMs)");
  if (!engine_ || closing_) throwShoalError(env, ErrorCode::kInvalidUsage, name + ": communicator is closed");
  const Span<uint64_t> keys = typedSpan<uint64_t>(info[0], napi_biguint64_array, "", name.c_str(), "keys");
  const Span<float> values = typedSpan<float>(info[1], napi_float32_array, "", name.c_str(), "values");
  const double dim = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
  if (!(dim >= 1 && dim <= (1 << 24)) || dim != static_cast<double>(static_cast<int64_t>(dim))) {
    throw Napi::RangeError::New(env, name + ": 'dim' must be an integer in [1, 2^24]");
  }
  const size_t n = keys.count;
  const auto d = static_cast<size_t>(dim);
  if (n >= (size_t{1} << 32)) throw Napi::RangeError::New(env, name + ": at most 2^32 - 1 keys per call");
  if (values.count != n * d) {
    throw Napi::RangeError::New(env, name + ": 'values' must hold keys.length * dim = " + std::to_string(n * d) + " floats, got " +
                                         std::to_string(values.count));
  }
  auto op = std::make_unique<runtime::Op>();
  op->kind = scatterOnly ? transport::OpKind::kSparseReduceScatter : transport::OpKind::kSparseAllReduce;
  op->dtype = DType::kFloat32;
  op->buf = keys.data;
  op->recv = values.data;
  op->count = n;
  op->dim = d;
  op->timeoutMs = toTimeout(info[4], name);
  auto out = std::make_shared<SparseRows>();
  op->sparseOut = out;
  return submit(env, std::move(op), info[0], info[1], false, [out](Napi::Env e) -> Napi::Value {
    Napi::Object o = Napi::Object::New(e);
    o.Set("keys", typedArrayOf(e, napi_biguint64_array, out->keys));
    o.Set("values", typedArrayOf(e, napi_float32_array, out->values));
    return o;
  });
}

}  // namespace binding
}  // namespace shoal
