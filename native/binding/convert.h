// Argument conversion and validation for the binding, and the JS error shape the native
// layer rejects with ({ message, code, peer }); lib/native.ts maps it onto lib/errors.ts.
#pragma once

#include <napi.h>

#include <string>

#include "common/dtype.h"
#include "common/error.h"

namespace shoal {
namespace binding {

struct BufferView {
  void* data = nullptr;
  size_t count = 0;
  DType dtype = DType::kFloat32;
};

inline Napi::Error makeShoalError(Napi::Env env, ErrorCode code, const std::string& message, int peer) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, errorCodeName(code)));
  if (peer >= 0) err.Set("peer", Napi::Number::New(env, peer));
  return err;
}

[[noreturn]] inline void throwShoalError(Napi::Env env, ErrorCode code, const std::string& message, int peer = -1) {
  throw makeShoalError(env, code, message, peer);
}

inline const char* typedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: break;
  }
  return "TypedArray";
}

// A TypedArray's elements, used in place (no copy).
template <typename T>
struct Span {
  T* data = nullptr;
  size_t count = 0;
};

// What a value that is not the TypedArray asked for is, for the error message.
inline std::string describeValue(Napi::Value v) {
  if (v.IsTypedArray()) return typedArrayName(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsArray()) return "Array";
  if (v.Type() == napi_bigint) return "bigint";
  return "a non-TypedArray";
}

// The elements of `v`, which must be a `type` TypedArray that is not detached (with `nullable`,
// null/undefined give an empty span). Every binding converts its array arguments here; errors
// read "<ns><op>: expected a Float64Array for 'g' but received Int32Array", and the message is
// built only on failure (some kernels are called once per tree node).
template <typename T>
Span<T> typedSpan(Napi::Value v, napi_typedarray_type type, const char* ns, const char* op, const char* name, bool nullable = false) {
  if (nullable && (v.IsNull() || v.IsUndefined())) return Span<T>{};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(v.Env(), std::string(ns) + op + ": expected a " + typedArrayName(type) + (nullable ? " or null" : "") +
                                            " for '" + name + "' but received " + describeValue(v));
  }
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  if (ab.IsDetached() || (ab.Data() == nullptr && ta.ByteLength() > 0)) {
    throw Napi::TypeError::New(v.Env(), std::string(ns) + op + ": '" + name + "' is detached");
  }
  return Span<T>{reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset()), ta.ElementLength()};
}

// Whether two spans share any byte: kernels refuse an output that aliases an input.
template <typename A, typename B>
bool overlap(const Span<A>& a, const Span<B>& b) {
  if (a.count == 0 || b.count == 0) return false;
  const auto* a0 = reinterpret_cast<const uint8_t*>(a.data);
  const auto* b0 = reinterpret_cast<const uint8_t*>(b.data);
  return a0 < b0 + b.count * sizeof(B) && b0 < a0 + a.count * sizeof(A);
}

// Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array, used in place.
inline BufferView toBufferView(Napi::Value v, const std::string& op, const std::string& name) {
  Napi::Env env = v.Env();
  const std::string expected = "Float32Array|Float64Array|Int32Array|BigInt64Array|Uint8Array";
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, op + ": expected " + expected + " for '" + name + "'");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  BufferView out;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: out.dtype = DType::kFloat32; break;
    case napi_float64_array: out.dtype = DType::kFloat64; break;
    case napi_int32_array: out.dtype = DType::kInt32; break;
    case napi_bigint64_array: out.dtype = DType::kInt64; break;
    case napi_uint8_array: out.dtype = DType::kUint8; break;
    default:
      throw Napi::TypeError::New(env, op + ": expected " + expected + " for '" + name + "' but received " +
                                          typedArrayName(ta.TypedArrayType()));
  }
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  if (ab.IsDetached() || (ab.Data() == nullptr && ta.ByteLength() > 0)) {
    throw Napi::TypeError::New(env, op + ": '" + name + "' is detached");
  }
  out.data = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
  out.count = ta.ElementLength();
  return out;
}

inline int64_t requireInt64(Napi::Object o, const char* key, const std::string& op, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), op + ": '" + key + "' must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    throw Napi::RangeError::New(o.Env(), op + ": '" + key + "' must be an integer in [" + std::to_string(lo) + ", " +
                                             std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(d);
}

inline int requireInt(Napi::Object o, const char* key, const std::string& op, int lo, int hi) {
  return static_cast<int>(requireInt64(o, key, op, lo, hi));
}

inline int64_t optionalInt64(Napi::Object o, const char* key, const std::string& op, int64_t lo, int64_t hi, int64_t fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  return requireInt64(o, key, op, lo, hi);
}

inline std::string requireString(Napi::Object o, const char* key, const std::string& op) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), op + ": '" + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// Milliseconds; 0, undefined or null mean "no deadline".
inline int64_t toTimeout(Napi::Value v, const std::string& op) {
  if (v.IsUndefined() || v.IsNull()) return 0;
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), op + ": 'timeoutMs' must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9.0e15) throw Napi::RangeError::New(v.Env(), op + ": 'timeoutMs' must be >= 0");
  return static_cast<int64_t>(d);
}

}  // namespace binding
}  // namespace shoal
