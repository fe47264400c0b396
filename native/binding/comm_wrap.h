// NativeComm: the JS face of one runtime::Engine. Validates arguments, pins TypedArrays
// for the life of an op (zero copy: the engine reads and writes their memory in place),
// and settles each op's Promise on the JS thread through a thread-safe function.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace shoal {
namespace binding {

class NativeComm : public Napi::ObjectWrap<NativeComm> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeComm(const Napi::CallbackInfo& info);
  ~NativeComm() override;

  // Called by the addon's env cleanup hook: stop the engine before the env goes away.
  void shutdown();

 private:
  Napi::Value port(const Napi::CallbackInfo& info);
  Napi::Value broken(const Napi::CallbackInfo& info);
  Napi::Value transports(const Napi::CallbackInfo& info);
  Napi::Value hosts(const Napi::CallbackInfo& info);
  Napi::Value directReads(const Napi::CallbackInfo& info);
  Napi::Value connect(const Napi::CallbackInfo& info);
  Napi::Value collective(const Napi::CallbackInfo& info);
  Napi::Value abort(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  // comm_wrap_vector_ops.cc: the variable-size collectives.
  Napi::Value reduceScatter(const Napi::CallbackInfo& info);
  Napi::Value allGatherv(const Napi::CallbackInfo& info);
  Napi::Value sparseAllReduce(const Napi::CallbackInfo& info);
  std::vector<size_t> toCounts(Napi::Value v, const std::string& op);

  struct Pending;
  // Builds the value an op's Promise resolves with, on the JS thread once the op succeeded.
  using ResultMaker = std::function<Napi::Value(Napi::Env)>;
  Napi::Value submit(Napi::Env env, std::unique_ptr<runtime::Op> op, Napi::Value buf, Napi::Value recv, bool small,
                     ResultMaker result = nullptr);
  Napi::Promise track(Napi::Env env, Pending* pending, Napi::Value buf, Napi::Value recv, Napi::Promise promise);
  static void settle(Napi::Env env, Napi::Function, NativeComm* self, Pending* pending);
  static void resolve(Napi::Env env, Pending& p);

  std::unique_ptr<runtime::Engine> engine_;
  Napi::ThreadSafeFunction tsfn_;
  size_t inflight_ = 0;  // touched on the JS thread only
  bool closing_ = false;
  int syncWaitUs_ = -1;  // see submit(): how long the JS thread may run a small op itself (-1: by oversubscription)
};

}  // namespace binding
}  // namespace shoal
