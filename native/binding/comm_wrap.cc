#include "binding/comm_wrap.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>

#include "binding/convert.h"

namespace shoal {
namespace binding {

struct NativeComm::Pending {
  explicit Pending(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Value> buf;   // pins the op's TypedArrays until it settles
  Napi::Reference<Napi::Value> recv;
  Napi::ObjectReference owner;        // keeps the NativeComm alive until the op settles
  Status status;
  ResultMaker result;                 // what the Promise resolves with (default: undefined)
  // Who delivers the result: kPending until the comm thread finishes (kDone) or the JS
  // thread stops waiting for it (kAsync, the TSFN then delivers it).
  enum : int { kPending = 0, kDone = 1, kAsync = 2 };
  std::atomic<int> state{kPending};
};

namespace {
// How long the JS thread waits for a small op the comm thread runs (one without a StepPlan).
constexpr int kWaitForCommThreadUs = 50;
// The JS thread's budget for a small op (syncWaitUs unset). With more ranks than cores a late
// peer is usually one waiting for a core: handing the op to the comm thread after 1 ms then
// costs two more wake-ups (comm thread, then JS through the TSFN), and at np 4 on 2 cores
// that happened once in three iterations; 10 ms keeps those ops here (BENCHMARKS.md).
constexpr int kSyncWaitUs = 1000;
constexpr int kOversubscribedSyncWaitUs = 10000;
}  // namespace

namespace {
std::set<NativeComm*>& liveComms() {
  static std::set<NativeComm*> comms;
  return comms;
}
}  // namespace

void shutdownAllComms() {
  auto copy = liveComms();
  for (NativeComm* c : copy) c->shutdown();
}

Napi::Function NativeComm::Define(Napi::Env env) {
  return DefineClass(env, "NativeComm",
                     {
                         InstanceAccessor<&NativeComm::port>("port"),
                         InstanceAccessor<&NativeComm::broken>("broken"),
                         InstanceAccessor<&NativeComm::transports>("transports"),
                         InstanceAccessor<&NativeComm::hosts>("hosts"),
                         InstanceAccessor<&NativeComm::directReads>("directReads"),
                         InstanceMethod<&NativeComm::connect>("connect"),
                         InstanceMethod<&NativeComm::collective>("collective"),
                         InstanceMethod<&NativeComm::abort>("abort"),
                         InstanceMethod<&NativeComm::close>("close"),
                         InstanceMethod<&NativeComm::reduceScatter>("reduceScatter"),
                         InstanceMethod<&NativeComm::allGatherv>("allGatherv"),
                         InstanceMethod<&NativeComm::sparseAllReduce>("sparseAllReduce"),
                     });
}

// new NativeComm({ rank, size, commId, token, bindHost?, maxFrameBytes?, spinUs?, yieldUs?,
//                  smallMessageBytes?, smallRootedBytes?, smallAllReduceBytes?, segmentBytes?, transport?, shmRingBytes?, hierarchical?, hostId?,
//                  directReads?, directMinSliceBytes?, testDirectFailAfterStep?, testDirectReadDelayMs? })
NativeComm::NativeComm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeComm>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "NativeComm: expected an options object");
  }
  Napi::Object o = info[0].As<Napi::Object>();
  runtime::EngineConfig cfg;
  cfg.size = requireInt(o, "size", "NativeComm", 1, 1 << 20);
  cfg.rank = requireInt(o, "rank", "NativeComm", 0, cfg.size - 1);
  cfg.commId = static_cast<uint32_t>(requireInt64(o, "commId", "NativeComm", 0, 0xFFFFFFFFLL));
  cfg.token = requireString(o, "token", "NativeComm");
  if (cfg.size > 1 && cfg.token.empty()) throw Napi::TypeError::New(env, "NativeComm: 'token' must not be empty");
  if (o.Has("bindHost") && !o.Get("bindHost").IsUndefined()) cfg.bindHost = requireString(o, "bindHost", "NativeComm");
  cfg.maxFrameBytes = static_cast<size_t>(optionalInt64(o, "maxFrameBytes", "NativeComm", 1024, 0xFFFFFFFFLL, 64LL << 20));
  cfg.spinUs = static_cast<int>(optionalInt64(o, "spinUs", "NativeComm", 0, 10'000'000, 200));
  cfg.queueSpinUs = static_cast<int>(optionalInt64(o, "queueSpinUs", "NativeComm", 0, 10'000'000, 20));
  cfg.yieldUs = static_cast<int>(optionalInt64(o, "yieldUs", "NativeComm", 0, 100'000, cfg.yieldUs));
  cfg.cpu = static_cast<int>(optionalInt64(o, "cpu", "NativeComm", -1, 4096, -1));
  syncWaitUs_ = static_cast<int>(optionalInt64(o, "syncWaitUs", "NativeComm", 0, 1'000'000, -1));
  cfg.tuning.smallMessageBytes = static_cast<size_t>(optionalInt64(o, "smallMessageBytes", "NativeComm", 0, 1LL << 40, 64 << 10));
  cfg.tuning.smallRootedBytes =
      static_cast<size_t>(optionalInt64(o, "smallRootedBytes", "NativeComm", 0, 1LL << 40, cfg.tuning.smallRootedBytes));
  cfg.tuning.smallAllReduceBytes =
      static_cast<size_t>(optionalInt64(o, "smallAllReduceBytes", "NativeComm", 0, 1LL << 40, cfg.tuning.smallAllReduceBytes));
  cfg.tuning.segmentBytes = static_cast<size_t>(optionalInt64(o, "segmentBytes", "NativeComm", 8, 1LL << 40, 256 << 10));
  cfg.tuning.directMinSliceBytes =
      static_cast<size_t>(optionalInt64(o, "directMinSliceBytes", "NativeComm", 0, 1LL << 40, 2 << 20));
  // Fault injection for the direct-read tests (collectives/context.h Tuning).
  cfg.tuning.testDirectFailAfterStep = static_cast<int>(optionalInt64(o, "testDirectFailAfterStep", "NativeComm", -1, 2, -1));
  cfg.tuning.testDirectReadDelayMs = static_cast<int>(optionalInt64(o, "testDirectReadDelayMs", "NativeComm", 0, 60'000, 0));
  if (o.Has("hierarchical") && !o.Get("hierarchical").IsUndefined()) {
    // true, false, or "phased": hierarchical, without the streamed two-host allReduce.
    const Napi::Value h = o.Get("hierarchical");
    const bool phased = h.IsString() && h.As<Napi::String>().Utf8Value() == "phased";
    if (!h.IsBoolean() && !phased) throw Napi::TypeError::New(env, "NativeComm: 'hierarchical' must be a boolean or \"phased\"");
    cfg.tuning.hierarchical = phased || h.As<Napi::Boolean>().Value();
    cfg.tuning.streamTwoHosts = !phased;
  }
  if (o.Has("directReads") && !o.Get("directReads").IsUndefined()) {
    if (!o.Get("directReads").IsBoolean()) throw Napi::TypeError::New(env, "NativeComm: 'directReads' must be a boolean");
    cfg.directReads = o.Get("directReads").As<Napi::Boolean>().Value();
  }
  if (o.Has("hostId") && !o.Get("hostId").IsUndefined()) {
    cfg.hostId = requireString(o, "hostId", "NativeComm");
    if (cfg.hostId.size() > 255) throw Napi::RangeError::New(env, "NativeComm: 'hostId' must be at most 255 characters");
  }
  if (o.Has("transport") && !o.Get("transport").IsUndefined()) {
    try {
      cfg.transport = runtime::parseTransportMode(requireString(o, "transport", "NativeComm"));
    } catch (const Error& e) {
      throw Napi::TypeError::New(env, std::string("NativeComm: ") + e.what());
    }
  }
  cfg.shmRingBytes = static_cast<size_t>(optionalInt64(o, "shmRingBytes", "NativeComm", 4096, 1LL << 30, 0));
  if (cfg.shmRingBytes % 4096 != 0) throw Napi::RangeError::New(env, "NativeComm: 'shmRingBytes' must be a multiple of 4096");
  try {
    engine_ = std::make_unique<runtime::Engine>(cfg);
  } catch (const Error& e) {
    throwShoalError(env, e.code(), std::string("NativeComm: ") + e.what(), e.peer());
  }
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "shoal-comm", 0, 1);
  tsfn_.Unref(env);  // an idle communicator must not keep the process alive
  liveComms().insert(this);
}

NativeComm::~NativeComm() { shutdown(); }

void NativeComm::shutdown() {
  if (!engine_) return;
  liveComms().erase(this);
  engine_.reset();  // aborts and joins the comm thread; late completions are dropped by the TSFN
  tsfn_.Release();
}

Napi::Value NativeComm::port(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), engine_ ? engine_->port() : 0);
}

Napi::Value NativeComm::transports(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<std::string> kinds = engine_ ? engine_->transports() : std::vector<std::string>{};
  Napi::Array out = Napi::Array::New(env, kinds.size());
  for (uint32_t i = 0; i < kinds.size(); ++i) out.Set(i, Napi::String::New(env, kinds[i]));
  return out;
}

Napi::Value NativeComm::hosts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<int> hosts = engine_ ? engine_->hosts() : std::vector<int>{};
  Napi::Array out = Napi::Array::New(env, hosts.size());
  for (uint32_t i = 0; i < hosts.size(); ++i) out.Set(i, Napi::Number::New(env, hosts[i]));
  return out;
}

Napi::Value NativeComm::directReads(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), engine_ && engine_->directReads());
}

Napi::Value NativeComm::broken(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !engine_ || engine_->broken());
}

void NativeComm::settle(Napi::Env env, Napi::Function, NativeComm* self, Pending* pending) {
  std::unique_ptr<Pending> p(pending);
  if (env) {
    resolve(env, *p);
    if (--self->inflight_ == 0 && self->engine_) self->tsfn_.Unref(env);
  }
}

void NativeComm::resolve(Napi::Env env, Pending& p) {
  if (p.status.ok()) {
    p.deferred.Resolve(p.result ? p.result(env) : env.Undefined());
  } else {
    p.deferred.Reject(makeShoalError(env, p.status.code, p.status.message, p.status.peer).Value());
  }
}

Napi::Value NativeComm::submit(Napi::Env env, std::unique_ptr<runtime::Op> op, Napi::Value buf, Napi::Value recv,
                               bool small, ResultMaker result) {
  auto pending = std::make_unique<Pending>(env);
  pending->result = std::move(result);
  Napi::Promise promise = pending->deferred.Promise();
  Napi::ThreadSafeFunction tsfn = tsfn_;
  op->done = [tsfn, pending = pending.get(), self = this](const Status& s) mutable {
    pending->status = s;
    if (pending->state.exchange(Pending::kDone, std::memory_order_acq_rel) != Pending::kAsync) return;
    // If the env is shutting down the call fails; the Pending then leaks with the env.
    tsfn.NonBlockingCall(pending, [self](Napi::Env env, Napi::Function fn, Pending* p) { settle(env, fn, self, p); });
  };
  // Fast path for a small op on an idle engine: this thread runs it (runtime::Engine::runHere);
  // the buffers need no pin. Success returns undefined (no Promise, and lib/communicator.ts
  // then skips capturing the caller's stack: ~10 us here); a failure returns a rejected
  // Promise. Past syncWaitUs the comm thread takes over and the Promise settles through the
  // TSFN as usual. Only StepPlan ops (collective()) run here, so only it can return undefined.
  bool waitHere = false;
  const int budgetUs = syncWaitUs_ >= 0 ? syncWaitUs_ : engine_->oversubscribed() ? kOversubscribedSyncWaitUs : kSyncWaitUs;
  if (small && budgetUs > 0 && inflight_ == 0) {
    Status status;
    pending->state.store(Pending::kAsync, std::memory_order_relaxed);  // before the comm thread may see the op
    const auto ran = engine_->runHere(op, budgetUs, &status);
    if (ran == runtime::Engine::Ran::kFinished) {
      if (status.ok() && !pending->result) return env.Undefined();
      pending->status = status;
      resolve(env, *pending);
      return promise;
    }
    if (ran == runtime::Engine::Ran::kHandedOff) return track(env, pending.release(), buf, recv, promise);
    // A small op without a StepPlan: the comm thread runs it, we wait a little. (A larger
    // bcast or reduceTo without one, e.g. between hosts, takes too long for that.)
    waitHere = op->count * dtypeSize(op->dtype) <= engine_->config().tuning.smallMessageBytes;
  }
  pending->state.store(waitHere ? Pending::kPending : Pending::kAsync, std::memory_order_relaxed);
  Pending* p = pending.release();
  track(env, p, buf, recv, promise);
  engine_->submit(std::move(op));
  if (waitHere) {
    // Settle it here if the comm thread finishes within a few microseconds: a wake-up through
    // the TSFN costs ~25 us on these machines. Past that, the TSFN delivers it.
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + std::chrono::microseconds(std::min(budgetUs, kWaitForCommThreadUs));
    while (p->state.load(std::memory_order_acquire) == Pending::kPending && Clock::now() < until) {
      sched_yield();  // with more busy threads than cores, let the comm thread have this core
    }
    if (p->state.load(std::memory_order_acquire) == Pending::kDone ||
        p->state.exchange(Pending::kAsync, std::memory_order_acq_rel) == Pending::kDone) {
      settle(env, Napi::Function(), this, p);
    }
  }
  return promise;
}

// An op the comm thread will finish: pin its arrays and the NativeComm until settle().
Napi::Promise NativeComm::track(Napi::Env env, Pending* pending, Napi::Value buf, Napi::Value recv, Napi::Promise promise) {
  if (!buf.IsUndefined()) pending->buf = Napi::Persistent(buf);
  if (!recv.IsUndefined()) pending->recv = Napi::Persistent(recv);
  pending->owner = Napi::Persistent(Value());
  if (inflight_++ == 0) tsfn_.Ref(env);
  return promise;
}

// connect(peers: {host, port}[], timeoutMs) -> Promise<void>
Napi::Value NativeComm::connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_) throwShoalError(env, ErrorCode::kInvalidUsage, "connect: communicator is closed");
  if (info.Length() < 2 || !info[0].IsArray()) throw Napi::TypeError::New(env, "connect: expected (peers: {host, port}[], timeoutMs)");
  Napi::Array arr = info[0].As<Napi::Array>();
  auto op = std::make_unique<runtime::Op>();
  op->type = runtime::Op::Type::kConnect;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) throw Napi::TypeError::New(env, "connect: peers[" + std::to_string(i) + "] must be {host, port}");
    Napi::Object po = v.As<Napi::Object>();
    runtime::PeerAddress a;
    a.host = requireString(po, "host", "connect");
    a.port = requireInt(po, "port", "connect", 0, 65535);
    op->peers.push_back(a);
  }
  op->timeoutMs = toTimeout(info[1], "connect");
  return submit(env, std::move(op), env.Undefined(), env.Undefined(), false);
}

// collective(kind, buf | null, recv | null, reduceOp, root, timeoutMs) -> Promise<void> | undefined
// (undefined: the op finished, successfully, during the call)
Napi::Value NativeComm::collective(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) throw Napi::TypeError::New(env, "collective: expected 6 arguments");
  const int kindCode = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  if (kindCode < 1 || kindCode > 5) throw Napi::TypeError::New(env, "collective: unknown op kind");
  const auto kind = static_cast<transport::OpKind>(kindCode);
  const char* name = transport::opKindName(kind);
  if (!engine_ || closing_) throwShoalError(env, ErrorCode::kInvalidUsage, std::string(name) + ": communicator is closed");
  const int size = engine_->config().size;

  auto op = std::make_unique<runtime::Op>();
  op->kind = kind;
  op->timeoutMs = toTimeout(info[5], name);
  Napi::Value buf = env.Undefined();
  Napi::Value recv = env.Undefined();
  if (kind != transport::OpKind::kBarrier) {
    BufferView b = toBufferView(info[1], name, "buf");
    op->buf = b.data;
    op->count = b.count;
    op->dtype = b.dtype;
    buf = info[1];
  }
  if (kind == transport::OpKind::kAllReduce || kind == transport::OpKind::kReduceTo) {
    const int r = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : -1;
    if (!validReduceOp(r)) throw Napi::TypeError::New(env, std::string(name) + ": unknown reduce op");
    op->reduceOp = static_cast<ReduceOp>(r);
  }
  if (kind == transport::OpKind::kReduceTo || kind == transport::OpKind::kBcast) {
    const double root = info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : -1;
    if (!(root >= 0 && root < size) || root != static_cast<int>(root)) {
      throw Napi::RangeError::New(env, std::string(name) + ": root must be an integer in [0, " + std::to_string(size) + ")");
    }
    op->root = static_cast<int>(root);
  }
  if (kind == transport::OpKind::kAllGather) {
    BufferView r = toBufferView(info[2], name, "recv");
    if (r.dtype != op->dtype) throw Napi::TypeError::New(env, std::string(name) + ": 'recv' must have the same type as 'send'");
    if (r.count != op->count * static_cast<size_t>(size)) {
      throw Napi::RangeError::New(env, std::string(name) + ": 'recv' must hold send.length * size = " +
                                           std::to_string(op->count * static_cast<size_t>(size)) + " elements, got " +
                                           std::to_string(r.count));
    }
    const auto* sb = static_cast<const uint8_t*>(op->buf);
    const auto* rb = static_cast<const uint8_t*>(r.data);
    const size_t sbytes = op->count * dtypeSize(op->dtype);
    const size_t rank = static_cast<size_t>(engine_->config().rank);
    const bool overlaps = sbytes && sb < rb + r.count * dtypeSize(r.dtype) && rb < sb + sbytes;
    if (overlaps && sb != rb + rank * sbytes) {
      throw Napi::RangeError::New(env, std::string(name) + ": 'send' overlaps 'recv' other than at this rank's block");
    }
    op->recv = r.data;
    recv = info[2];
  }
  const size_t bytes = op->count * dtypeSize(op->dtype) * (kind == transport::OpKind::kAllGather ? static_cast<size_t>(size) : 1);
  // bcast and reduceTo up to smallRootedBytes, allReduce up to smallAllReduceBytes may run here
  // too (collectives/context.h).
  const collectives::Tuning& tuning = engine_->config().tuning;
  const bool rooted = kind == transport::OpKind::kBcast || kind == transport::OpKind::kReduceTo;
  const size_t mayRunHere = rooted ? tuning.smallRootedBytes : kind == transport::OpKind::kAllReduce ? tuning.smallAllReduceBytes : 0;
  return submit(env, std::move(op), buf, recv, bytes <= std::max(tuning.smallMessageBytes, mayRunHere));
}

// abort(code, message, peer, tellPeers?): break the communicator from JS (e.g. the
// coordinator said a rank died). Pending and later ops reject with this error; with
// tellPeers the other ranks' ops fail with it too.
Napi::Value NativeComm::abort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_) return env.Undefined();
  const int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 7;
  const std::string msg = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "aborted";
  const int peer = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
  const ErrorCode ec = code >= 1 && code <= 9 ? static_cast<ErrorCode>(code) : ErrorCode::kAborted;
  const bool tellPeers = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  engine_->abort(Status{ec, msg, peer}, tellPeers);
  return env.Undefined();
}

// close() -> Promise<void>: runs after every queued op, says goodbye to the peers.
Napi::Value NativeComm::close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_ || closing_) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  closing_ = true;
  auto op = std::make_unique<runtime::Op>();
  op->type = runtime::Op::Type::kClose;
  return submit(env, std::move(op), env.Undefined(), env.Undefined(), false);
}

}  // namespace binding
}  // namespace shoal
