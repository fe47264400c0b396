// The addon's entry point: registers NativeComm and the kernel test hook, and stops every
// engine before the environment is torn down.
#include <napi.h>

#include "binding/comm_wrap.h"
#include "binding/convert.h"
#include "common/reduce_kernels.h"

namespace shoal {
namespace binding {

void shutdownAllComms();
void registerPs(Napi::Env env, Napi::Object exports);  // ps_store_wrap.cc
void InitPs(Napi::Env env, Napi::Object exports);      // ps_wrap.cc
void registerData(Napi::Env env, Napi::Object exports);  // data_wrap.cc
void registerGbdt(Napi::Env env, Napi::Object exports);  // gbdt_wrap.cc
void registerLinear(Napi::Env env, Napi::Object exports);  // linear_wrap.cc
void registerSnapshot(Napi::Env env, Napi::Object exports);  // snapshot_wrap.cc
void registerFm(Napi::Env env, Napi::Object exports);  // fm_wrap.cc

namespace {

// reduce(dst, a, b, op): dst = op(a, b) with the same kernels the collectives use, so
// tests can check them against a JS reference and benchmarks can time them.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) throw Napi::TypeError::New(env, "reduce: expected (dst, a, b, op)");
  BufferView dst = toBufferView(info[0], "reduce", "dst");
  BufferView a = toBufferView(info[1], "reduce", "a");
  BufferView b = toBufferView(info[2], "reduce", "b");
  if (a.dtype != dst.dtype || b.dtype != dst.dtype) throw Napi::TypeError::New(env, "reduce: arrays must have the same type");
  if (a.count != dst.count || b.count != dst.count) throw Napi::RangeError::New(env, "reduce: arrays must have the same length");
  const int op = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
  if (!validReduceOp(op)) throw Napi::TypeError::New(env, "reduce: unknown op");
  shoal::reduce(dst.dtype, static_cast<ReduceOp>(op), dst.data, a.data, b.data, dst.count);
  return env.Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeComm", NativeComm::Define(env));
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  registerPs(env, exports);
  InitPs(env, exports);
  registerData(env, exports);
  registerGbdt(env, exports);
  registerLinear(env, exports);
  registerSnapshot(env, exports);
  registerFm(env, exports);
  exports.Set("protocolVersion", Napi::Number::New(env, 1));
  env.AddCleanupHook([] { shutdownAllComms(); });
  return exports;
}

}  // namespace binding
}  // namespace shoal

static Napi::Object InitShoal(Napi::Env env, Napi::Object exports) { return shoal::binding::Init(env, exports); }
NODE_API_MODULE(shoal_native, InitShoal)
