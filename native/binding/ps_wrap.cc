// The JS face of the parameter server: NativePsServer (run by server processes) and
// NativePsClient (one per worker). Same rules as NativeComm: arguments validated here,
// TypedArrays pinned and used in place, Promises settled on the JS thread through a TSFN.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <memory>
#include <string>

#include "binding/convert.h"
#include "ps/vector_program.h"
#include "psnet/client.h"
#include "psnet/server.h"
#include "psnet/snapshot.h"
#include "psnet/table_spec.h"

namespace shoal {
namespace binding {

namespace {

std::vector<runtime::PeerAddress> toAddresses(Napi::Value v, const std::string& op) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), op + ": expected an array of {host, port}");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<runtime::PeerAddress> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (e.IsNull()) {  // a slot no server holds (it left the job): port 0
      out.push_back(runtime::PeerAddress{});
      continue;
    }
    if (!e.IsObject()) throw Napi::TypeError::New(v.Env(), op + ": servers[" + std::to_string(i) + "] must be {host, port}");
    runtime::PeerAddress a;
    a.host = requireString(e.As<Napi::Object>(), "host", op);
    a.port = requireInt(e.As<Napi::Object>(), "port", op, 1, 65535);
    out.push_back(a);
  }
  return out;
}

// A server index argument: an integer in [0, numServers).
int serverIndexArg(const Napi::CallbackInfo& info, size_t i, int numServers, const std::string& op) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), op + ": expected a server index (number)");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < numServers) || d != static_cast<double>(static_cast<int>(d))) {
    throw Napi::RangeError::New(info.Env(), op + ": server index " + info[i].ToString().Utf8Value() + " is out of range: the job has " +
                                                std::to_string(numServers) + " servers (0.." + std::to_string(numServers - 1) + ")");
  }
  return static_cast<int>(d);
}

float optionalFloat(Napi::Object o, const char* key, float fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("table spec: '") + key + "' must be a number");
  return v.As<Napi::Number>().FloatValue();
}

}  // namespace

class NativePsServer : public Napi::ObjectWrap<NativePsServer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativePsServer",
                       {InstanceAccessor<&NativePsServer::port>("port"), InstanceMethod<&NativePsServer::start>("start"),
                        InstanceMethod<&NativePsServer::serverLost>("serverLost"), InstanceMethod<&NativePsServer::serverJoined>("serverJoined"),
                        InstanceMethod<&NativePsServer::restoreStatus>("restoreStatus"), InstanceMethod<&NativePsServer::stop>("stop"),
                        InstanceMethod<&NativePsServer::serverAdded>("serverAdded"), InstanceMethod<&NativePsServer::serverLeft>("serverLeft"),
                        InstanceMethod<&NativePsServer::drain>("drain"), InstanceMethod<&NativePsServer::drainStatus>("drainStatus"),
                        InstanceMethod<&NativePsServer::setCustomUpdaters>("setCustomUpdaters"),
                        InstanceMethod<&NativePsServer::stats>("stats")});
  }

  // new NativePsServer({ rank, numServers, numWorkers, token, replication?, bindHost?, maxMessageBytes?,
  //                     restore?, snapshotListing?, join?, killAtRequest?, dropForwardsFrom? })  restore: a replacement that copies rank's data;
  //                     join (with restore): an added server that copies the ranges it takes over
  explicit NativePsServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePsServer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "NativePsServer: expected an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    psnet::PsServerConfig c;
    c.numServers = requireInt(o, "numServers", "NativePsServer", 1, 1 << 16);
    c.rank = requireInt(o, "rank", "NativePsServer", 0, c.numServers - 1);
    c.numWorkers = requireInt(o, "numWorkers", "NativePsServer", 1, 1 << 16);
    c.token = requireString(o, "token", "NativePsServer");
    c.replication = static_cast<int>(optionalInt64(o, "replication", "NativePsServer", 1, 8, 2));
    if (o.Has("bindHost") && !o.Get("bindHost").IsUndefined()) c.bindHost = requireString(o, "bindHost", "NativePsServer");
    c.maxMessageBytes = static_cast<uint64_t>(optionalInt64(o, "maxMessageBytes", "NativePsServer", 1024, 1LL << 40, 1LL << 30));
    c.killAtRequest = static_cast<uint64_t>(optionalInt64(o, "killAtRequest", "NativePsServer", 0, 1LL << 53, 0));
    c.dropForwardsFrom = static_cast<uint64_t>(optionalInt64(o, "dropForwardsFrom", "NativePsServer", 0, 1LL << 53, 0));
    if (o.Has("restore") && !o.Get("restore").IsUndefined()) {
      if (!o.Get("restore").IsBoolean()) throw Napi::TypeError::New(env, "NativePsServer: 'restore' must be a boolean");
      c.restore = o.Get("restore").As<Napi::Boolean>().Value();
    }
    if (o.Has("join") && !o.Get("join").IsUndefined()) {
      if (!o.Get("join").IsBoolean()) throw Napi::TypeError::New(env, "NativePsServer: 'join' must be a boolean");
      c.join = o.Get("join").As<Napi::Boolean>().Value();
      if (c.join) c.restore = true;
    }
    if (o.Has("snapshotListing") && !o.Get("snapshotListing").IsUndefined()) {
      c.snapshotListing = requireString(o, "snapshotListing", "NativePsServer");
      try {
        psnet::parseSnapshotListing(c.snapshotListing);
      } catch (const Error& e) {
        throw Napi::TypeError::New(env, std::string("NativePsServer: 'snapshotListing': ") + e.what());
      }
    }
    numServers_ = c.numServers;
    try {
      server_ = std::make_unique<psnet::PsServer>(c);
    } catch (const Error& e) {
      throwShoalError(env, e.code(), std::string("NativePsServer: ") + e.what(), e.peer());
    }
  }
  ~NativePsServer() override {
    if (server_) server_->stop();
    if (customTsfn_) customTsfn_.Release();
  }

 private:
  Napi::Value port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), server_ ? server_->port() : 0); }
  Napi::Value start(const Napi::CallbackInfo& info) {
    if (!server_) throwShoalError(info.Env(), ErrorCode::kInvalidUsage, "start: server is stopped");
    const auto servers = toAddresses(info[0], "start");
    try {
      server_->start(servers);
    } catch (const Error& e) {
      throwShoalError(info.Env(), e.code(), std::string("NativePsServer.") + e.what(), e.peer());
    }
    return info.Env().Undefined();
  }
  Napi::Value serverLost(const Napi::CallbackInfo& info) {
    const int rank = serverIndexArg(info, 0, numServers_, "serverLost");
    if (server_) server_->serverLost(rank);
    return info.Env().Undefined();
  }
  // serverJoined(rank): a replacement of server `rank` restored its data and serves again.
  Napi::Value serverJoined(const Napi::CallbackInfo& info) {
    const int rank = serverIndexArg(info, 0, numServers_, "serverJoined");
    if (server_) server_->serverJoined(rank);
    return info.Env().Undefined();
  }
  // serverAdded(rank): a server added to the job (a new index) copied its ranges and serves.
  Napi::Value serverAdded(const Napi::CallbackInfo& info) {
    const int rank = serverIndexArg(info, 0, psnet::kMaxServers, "serverAdded");
    numServers_ = std::max(numServers_, rank + 1);
    if (server_) server_->serverJoined(rank);
    return info.Env().Undefined();
  }
  // serverLeft(rank): server `rank` drained and left the job.
  Napi::Value serverLeft(const Napi::CallbackInfo& info) {
    const int rank = serverIndexArg(info, 0, numServers_, "serverLeft");
    if (server_) server_->serverLeft(rank);
    return info.Env().Undefined();
  }
  // drain(): this server starts handing its keys over (elastic remove); see drainStatus().
  Napi::Value drain(const Napi::CallbackInfo& info) {
    if (!server_) throwShoalError(info.Env(), ErrorCode::kInvalidUsage, "drain: server is stopped");
    server_->drain();
    return info.Env().Undefined();
  }
  // drainStatus(): JSON {state: "none"|"draining"|"ready"|"failed", rows, ms, error?}
  Napi::Value drainStatus(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), server_ ? server_->drainStatus() : "{\"state\":\"none\"}");
  }
  // restoreStatus(): JSON {state: "none"|"restoring"|"done"|"failed", rows, fromSnapshot, ms, error?}
  Napi::Value restoreStatus(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), server_ ? server_->restoreStatus() : "{\"state\":\"none\"}");
  }
  Napi::Value stop(const Napi::CallbackInfo& info) {
    if (server_) server_->stop();
    server_.reset();
    return info.Env().Undefined();
  }
  Napi::Value stats(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), server_ ? server_->stats() : "{}");
  }

  // setCustomUpdaters(ids: number[], fn(id, table, keys, rows, grads, dim)): the server
  // thread calls fn on this (the JS) thread and waits; fn updates `rows` in place. The
  // arrays are copies, so JS may keep them without pointing into native memory.
  Napi::Value setCustomUpdaters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!server_) throwShoalError(env, ErrorCode::kInvalidUsage, "setCustomUpdaters: server is stopped");
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "setCustomUpdaters: expected (ids: number[], fn)");
    }
    std::vector<uint32_t> ids;
    Napi::Array arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) ids.push_back(arr.Get(i).As<Napi::Number>().Uint32Value());
    customTsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "shoal-ps-updater", 0, 1);
    customTsfn_.Unref(env);
    Napi::ThreadSafeFunction tsfn = customTsfn_;
    server_->setCustomUpdaters(std::move(ids), [tsfn](uint32_t id, const std::string& table, const uint64_t* keys, size_t n,
                                                      float* rows, const float* grads, uint32_t dim, std::string* error) mutable {
      struct Call {
        uint32_t id;
        const std::string* table;
        const uint64_t* keys;
        size_t n;
        float* rows;
        const float* grads;
        uint32_t dim;
        bool ok;
        std::string error;
        std::promise<void> done;
      } c{id, &table, keys, n, rows, grads, dim, false, std::string(), std::promise<void>()};
      std::future<void> finished = c.done.get_future();
      const napi_status st = tsfn.BlockingCall(&c, [](Napi::Env env, Napi::Function fn, Call* c) {
        const size_t rowBytes = c->n * c->dim * sizeof(float);
        auto keysAb = Napi::ArrayBuffer::New(env, c->n * 8);
        std::memcpy(keysAb.Data(), c->keys, c->n * 8);
        auto rowsAb = Napi::ArrayBuffer::New(env, rowBytes);
        std::memcpy(rowsAb.Data(), c->rows, rowBytes);
        auto gradsAb = Napi::ArrayBuffer::New(env, rowBytes);
        std::memcpy(gradsAb.Data(), c->grads, rowBytes);
        try {
          fn.Call({Napi::Number::New(env, c->id), Napi::String::New(env, *c->table),
                   Napi::TypedArrayOf<uint64_t>::New(env, c->n, keysAb, 0, napi_biguint64_array),
                   Napi::Float32Array::New(env, c->n * c->dim, rowsAb, 0), Napi::Float32Array::New(env, c->n * c->dim, gradsAb, 0),
                   Napi::Number::New(env, c->dim)});
          std::memcpy(c->rows, rowsAb.Data(), rowBytes);
          c->ok = true;
        } catch (const Napi::Error& e) {
          c->error = e.Message();
        }
        c->done.set_value();
      });
      if (st != napi_ok) {
        *error = "the server's JS thread is not running";
        return false;
      }
      finished.wait();
      if (!c.ok) *error = c.error;
      return c.ok;
    });
    return env.Undefined();
  }

  std::unique_ptr<psnet::PsServer> server_;
  int numServers_ = 1;
  Napi::ThreadSafeFunction customTsfn_;
};

class NativePsClient : public Napi::ObjectWrap<NativePsClient> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativePsClient",
                       {InstanceMethod<&NativePsClient::connect>("connect"), InstanceMethod<&NativePsClient::createTable>("createTable"),
                        InstanceMethod<&NativePsClient::pull>("pull"), InstanceMethod<&NativePsClient::push>("push"),
                        InstanceMethod<&NativePsClient::clock>("clock"), InstanceMethod<&NativePsClient::save>("save"),
                        InstanceMethod<&NativePsClient::load>("load"), InstanceMethod<&NativePsClient::stats>("stats"),
                        InstanceMethod<&NativePsClient::vector>("vector"),
                        InstanceMethod<&NativePsClient::serverLost>("serverLost"), InstanceMethod<&NativePsClient::serverJoined>("serverJoined"),
                        InstanceMethod<&NativePsClient::serverAdded>("serverAdded"), InstanceMethod<&NativePsClient::serverLeft>("serverLeft"),
                        InstanceMethod<&NativePsClient::close>("close")});
  }

  // new NativePsClient({ workerRank, numWorkers, numServers, token, replication?, maxMessageBytes?, ackOnPrimary?, storeOrderMinKeys? })
  explicit NativePsClient(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePsClient>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "NativePsClient: expected an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    psnet::PsClientConfig c;
    c.numWorkers = requireInt(o, "numWorkers", "NativePsClient", 1, 1 << 16);
    c.workerRank = requireInt(o, "workerRank", "NativePsClient", 0, c.numWorkers - 1);
    c.numServers = requireInt(o, "numServers", "NativePsClient", 1, 1 << 16);
    c.token = requireString(o, "token", "NativePsClient");
    c.replication = static_cast<int>(optionalInt64(o, "replication", "NativePsClient", 1, 8, 2));
    c.maxMessageBytes = static_cast<uint64_t>(optionalInt64(o, "maxMessageBytes", "NativePsClient", 1024, 1LL << 40, 1LL << 30));
    if (o.Has("ackOnPrimary") && !o.Get("ackOnPrimary").IsUndefined()) {
      if (!o.Get("ackOnPrimary").IsBoolean()) throw Napi::TypeError::New(env, "NativePsClient: 'ackOnPrimary' must be a boolean");
      c.ackOnPrimary = o.Get("ackOnPrimary").As<Napi::Boolean>().Value();
    }
    c.storeOrderMinKeys = static_cast<uint64_t>(optionalInt64(o, "storeOrderMinKeys", "NativePsClient", 0, 1LL << 40, static_cast<int64_t>(c.storeOrderMinKeys)));
    client_ = std::make_unique<psnet::PsClient>(c);
    numServers_ = c.numServers;
    // At process exit Node may finalize the TSFN before this object (whose finalizer then
    // runs from the TSFN's close): releasing it then aborts, so remember it is gone.
    auto gone = tsfnGone_;
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "shoal-ps", 0, 1,
                                          [gone](Napi::Env) { *gone = true; });
    tsfn_.Unref(env);
  }
  ~NativePsClient() override {
    client_.reset();
    if (!*tsfnGone_) tsfn_.Release();
  }

 private:
  struct Pending {
    explicit Pending(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise::Deferred deferred;
    Napi::Reference<Napi::Value> a, b;
    Napi::ObjectReference owner;
    Status status;
    std::string text;
    bool wantText = false;
  };

  Napi::Value submit(Napi::Env env, std::unique_ptr<psnet::PsOp> op, Napi::Value a, Napi::Value b, bool wantText) {
    if (!client_) throwShoalError(env, ErrorCode::kInvalidUsage, "parameter-server client is closed");
    auto* p = new Pending(env);
    Napi::Promise promise = p->deferred.Promise();
    if (!a.IsUndefined()) p->a = Napi::Persistent(a);
    if (!b.IsUndefined()) p->b = Napi::Persistent(b);
    p->owner = Napi::Persistent(Value());
    p->wantText = wantText;
    if (inflight_++ == 0) tsfn_.Ref(env);
    Napi::ThreadSafeFunction tsfn = tsfn_;
    op->done = [tsfn, p, self = this](const Status& s, const std::string& text) mutable {
      p->status = s;
      p->text = text;
      tsfn.NonBlockingCall(p, [self](Napi::Env env, Napi::Function, Pending* q) {
        std::unique_ptr<Pending> pending(q);
        if (!env) return;
        if (pending->status.ok()) {
          pending->deferred.Resolve(pending->wantText ? Napi::String::New(env, pending->text).As<Napi::Value>() : env.Undefined());
        } else {
          pending->deferred.Reject(makeShoalError(env, pending->status.code, pending->status.message, pending->status.peer).Value());
        }
        if (--self->inflight_ == 0) self->tsfn_.Unref(env);
      });
    };
    client_->submit(std::move(op));
    return promise;
  }

  static int64_t timeoutArg(const Napi::CallbackInfo& info, size_t i, const char* op) {
    return i < info.Length() ? toTimeout(info[i], op) : 0;
  }

  Napi::Value connect(const Napi::CallbackInfo& info) {
    auto op = std::make_unique<psnet::PsOp>();
    op->type = psnet::PsOp::Type::kConnect;
    op->servers = toAddresses(info[0], "connect");
    op->timeoutMs = timeoutArg(info, 1, "connect");
    return submit(info.Env(), std::move(op), info.Env().Undefined(), info.Env().Undefined(), false);
  }

  // createTable(name, { dim, updater, init, consistency, staleness, lr, ... }, timeoutMs) -> Promise<tableId>
  Napi::Value createTable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) throw Napi::TypeError::New(env, "createTable: expected (name, spec)");
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    try {
      psnet::validateTableName(name);
    } catch (const Error& e) {
      throwShoalError(env, e.code(), std::string("createTable: ") + e.what());
    }
    Napi::Object o = info[1].As<Napi::Object>();
    auto op = std::make_unique<psnet::PsOp>();
    op->type = psnet::PsOp::Type::kCreateTable;
    psnet::TableSpec& s = op->spec;
    s.dim = static_cast<uint32_t>(requireInt64(o, "dim", "createTable", 1, 1 << 20));
    s.updater = static_cast<uint8_t>(requireInt(o, "updater", "createTable", 0, 6));
    s.vectorSlots = static_cast<uint8_t>(optionalInt64(o, "slots", "createTable", 0, ps::kMaxVectorSlots, 0));
    s.init = static_cast<uint8_t>(requireInt(o, "init", "createTable", 0, 2));
    s.consistency = static_cast<uint8_t>(requireInt(o, "consistency", "createTable", 0, 2));
    s.staleness = static_cast<int32_t>(optionalInt64(o, "staleness", "createTable", 0, 1 << 30, 0));
    s.lr = optionalFloat(o, "lr", 0.01f);
    s.eps = optionalFloat(o, "eps", 1e-8f);
    s.alpha = optionalFloat(o, "alpha", 0.05f);
    s.beta = optionalFloat(o, "beta", 1.0f);
    s.l1 = optionalFloat(o, "l1", 0.0f);
    s.l2 = optionalFloat(o, "l2", 0.0f);
    s.initMean = optionalFloat(o, "mean", 0.0f);
    s.initStd = optionalFloat(o, "std", 0.01f);
    s.initLow = optionalFloat(o, "low", -0.01f);
    s.initHigh = optionalFloat(o, "high", 0.01f);
    s.initSeed = static_cast<uint64_t>(optionalInt64(o, "seed", "createTable", 0, (1LL << 53), 0));
    s.customUpdater = static_cast<uint32_t>(optionalInt64(o, "customUpdater", "createTable", 0, 0xFFFFFFFFLL, 0));
    s.nameBytes = static_cast<uint32_t>(name.size());
    op->text = name;
    op->tableId = psnet::tableIdOf(name);
    op->timeoutMs = timeoutArg(info, 2, "createTable");
    return submit(env, std::move(op), env.Undefined(), env.Undefined(), false);
  }

  // pull(tableId, keys: BigUint64Array, out: Float32Array, timeoutMs)
  Napi::Value pull(const Napi::CallbackInfo& info) { return keysOp(info, psnet::PsOp::Type::kPull); }
  // push(tableId, keys: BigUint64Array, values: Float32Array, timeoutMs)
  Napi::Value push(const Napi::CallbackInfo& info) { return keysOp(info, psnet::PsOp::Type::kPush); }

  Napi::Value keysOp(const Napi::CallbackInfo& info, psnet::PsOp::Type type) {
    Napi::Env env = info.Env();
    const char* name = type == psnet::PsOp::Type::kPull ? "pull" : "push";
    if (info.Length() < 3 || !info[0].IsNumber()) throw Napi::TypeError::New(env, std::string(name) + ": expected (tableId, keys, values)");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
      throw Napi::TypeError::New(env, std::string(name) + ": expected a BigUint64Array for 'keys'");
    }
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(env, std::string(name) + ": expected a Float32Array for 'values'");
    }
    auto keys = info[1].As<Napi::TypedArray>();
    auto vals = info[2].As<Napi::TypedArray>();
    if (keys.ArrayBuffer().IsDetached() || vals.ArrayBuffer().IsDetached()) throw Napi::TypeError::New(env, std::string(name) + ": buffer is detached");
    if (keys.ElementLength() > 0xFFFFFFFFull) throw Napi::RangeError::New(env, std::string(name) + ": too many keys in one call");
    auto op = std::make_unique<psnet::PsOp>();
    op->type = type;
    op->tableId = info[0].As<Napi::Number>().Uint32Value();
    op->keys = reinterpret_cast<const uint64_t*>(static_cast<uint8_t*>(keys.ArrayBuffer().Data()) + keys.ByteOffset());
    op->count = keys.ElementLength();
    float* v = reinterpret_cast<float*>(static_cast<uint8_t*>(vals.ArrayBuffer().Data()) + vals.ByteOffset());
    if (type == psnet::PsOp::Type::kPull) op->out = v; else op->values = v;
    op->floats = vals.ElementLength();
    op->timeoutMs = timeoutArg(info, 3, name);
    return submit(env, std::move(op), info[1], info[2], false);
  }

  // vector(tableId, program: Uint8Array of 24-byte instructions, timeoutMs) -> Promise<string>:
  // the servers' partial sums as a JSON array of arrays, in server order (ps/vector_program.h).
  Napi::Value vector(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "vector: expected (tableId, program: Uint8Array)");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "vector: expected a Uint8Array for 'program'");
    }
    auto prog = info[1].As<Napi::TypedArray>();
    const size_t bytes = prog.ByteLength();
    if (bytes == 0 || bytes % sizeof(ps::VectorInstr) != 0 || bytes / sizeof(ps::VectorInstr) > ps::kMaxVectorInstrs) {
      throw Napi::RangeError::New(env, "vector: 'program' must hold 1.." + std::to_string(ps::kMaxVectorInstrs) + " instructions of " +
                                           std::to_string(sizeof(ps::VectorInstr)) + " bytes (got " + std::to_string(bytes) + " bytes)");
    }
    auto op = std::make_unique<psnet::PsOp>();
    op->type = psnet::PsOp::Type::kVector;
    op->tableId = info[0].As<Napi::Number>().Uint32Value();
    op->text.assign(reinterpret_cast<const char*>(static_cast<uint8_t*>(prog.ArrayBuffer().Data()) + prog.ByteOffset()), bytes);
    op->count = bytes / sizeof(ps::VectorInstr);
    op->timeoutMs = timeoutArg(info, 2, "vector");
    return submit(env, std::move(op), env.Undefined(), env.Undefined(), true);
  }

  Napi::Value clock(const Napi::CallbackInfo& info) { return simple(info, psnet::PsOp::Type::kClock, false, 0); }
  Napi::Value save(const Napi::CallbackInfo& info) { return simple(info, psnet::PsOp::Type::kSave, true, 1); }
  // load(listing, timeoutMs): listing is the verified manifest's files (psnet/snapshot.h).
  Napi::Value load(const Napi::CallbackInfo& info) {
    if (info.Length() > 0 && info[0].IsString()) {
      try {
        psnet::parseSnapshotListing(info[0].As<Napi::String>().Utf8Value());
      } catch (const Error& e) {
        throw Napi::TypeError::New(info.Env(), std::string("ps.load: ") + e.what());
      }
    }
    return simple(info, psnet::PsOp::Type::kLoad, true, 1);
  }
  Napi::Value stats(const Napi::CallbackInfo& info) { return simple(info, psnet::PsOp::Type::kStats, true, 0); }
  Napi::Value close(const Napi::CallbackInfo& info) { return simple(info, psnet::PsOp::Type::kClose, false, 0); }

  Napi::Value simple(const Napi::CallbackInfo& info, psnet::PsOp::Type type, bool wantText, size_t textArgs) {
    auto op = std::make_unique<psnet::PsOp>();
    op->type = type;
    if (textArgs) {
      if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "expected a directory path");
      op->text = info[0].As<Napi::String>().Utf8Value();
    }
    op->timeoutMs = timeoutArg(info, textArgs, "ps");
    return submit(info.Env(), std::move(op), info.Env().Undefined(), info.Env().Undefined(), wantText);
  }

  Napi::Value serverLost(const Napi::CallbackInfo& info) {
    if (client_ && info.Length() > 0 && info[0].IsNumber()) {
      const std::string why = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "reported lost";
      client_->serverLost(info[0].As<Napi::Number>().Int32Value(), why);
    }
    return info.Env().Undefined();
  }

  // serverJoined(rank, host, port): a replacement of server `rank` listens at host:port.
  Napi::Value serverJoined(const Napi::CallbackInfo& info) { return joined(info, false); }
  // serverAdded(rank, host, port): a server added to the job (a new index) listens at host:port.
  Napi::Value serverAdded(const Napi::CallbackInfo& info) { return joined(info, true); }
  // serverLeft(rank): server `rank` drained and left the job.
  Napi::Value serverLeft(const Napi::CallbackInfo& info) {
    if (!client_) throwShoalError(info.Env(), ErrorCode::kInvalidUsage, "serverLeft: parameter-server client is closed");
    const int rank = serverIndexArg(info, 0, numServers_, "serverLeft");
    client_->serverLeft(rank);
    return info.Env().Undefined();
  }

  Napi::Value joined(const Napi::CallbackInfo& info, bool added) {
    Napi::Env env = info.Env();
    const char* op = added ? "serverAdded" : "serverJoined";
    if (!client_) throwShoalError(env, ErrorCode::kInvalidUsage, std::string(op) + ": parameter-server client is closed");
    if (numServers_ == 0) numServers_ = client_->numServers();
    const int rank = serverIndexArg(info, 0, added ? psnet::kMaxServers : numServers_, op);
    if (info.Length() < 3 || !info[1].IsString() || info[1].As<Napi::String>().Utf8Value().empty()) {
      throw Napi::TypeError::New(env, std::string(op) + ": expected (rank, host: non-empty string, port)");
    }
    const double port = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    if (!(port >= 1 && port <= 65535) || port != static_cast<double>(static_cast<int>(port))) {
      throw Napi::RangeError::New(env, "serverJoined: port must be an integer in [1, 65535]");
    }
    runtime::PeerAddress a;
    a.host = info[1].As<Napi::String>().Utf8Value();
    a.port = static_cast<int>(port);
    client_->serverJoined(rank, a);
    if (added) numServers_ = std::max(numServers_, rank + 1);
    return env.Undefined();
  }

  std::unique_ptr<psnet::PsClient> client_;
  int numServers_ = 0;   // server indices known on the JS thread (grows with serverAdded)
  std::shared_ptr<bool> tsfnGone_ = std::make_shared<bool>(false);  // JS thread only
  Napi::ThreadSafeFunction tsfn_;
  size_t inflight_ = 0;
};

void InitPs(Napi::Env env, Napi::Object exports) {
  exports.Set("NativePsServer", NativePsServer::Define(env));
  exports.Set("NativePsClient", NativePsClient::Define(env));
}

}  // namespace binding
}  // namespace shoal
