// PsStore and HashRing: test and benchmark handles on the parameter-server core
// (ps::ShardStore, ps::HashRing). They run synchronously on the JS thread, which the real
// server never does (its engine owns the store on a server thread); they exist so tests can
// check the store and the updaters against JS references and benchmarks can time them.
// Arguments are validated here; shoal::Error from the core becomes a JS error with `code`.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "binding/convert.h"
#include "common/error.h"
#include "ps/hash_ring.h"
#include "psnet/key_grouper.h"
#include "ps/shard_store.h"
#include "ps/table_config.h"

namespace shoal {
namespace binding {

namespace {

struct KeysView {
  const uint64_t* data = nullptr;
  size_t count = 0;
};

KeysView toKeys(Napi::Value v, const std::string& op) {
  const Span<const uint64_t> keys = typedSpan<const uint64_t>(v, napi_biguint64_array, "", op.c_str(), "keys");
  return {keys.data, keys.count};
}

Span<const float> toFloats(Napi::Value v, const std::string& op, const char* name) {
  return typedSpan<const float>(v, napi_float32_array, "", op.c_str(), name);
}

uint64_t toKey(Napi::Value v, const std::string& op, const std::string& name) {
  if (!v.IsBigInt()) throw Napi::TypeError::New(v.Env(), op + ": expected a bigint for '" + name + "'");
  bool lossless = false;
  const uint64_t key = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(v.Env(), op + ": '" + name + "' must be in [0, 2^64 - 1]");
  return key;
}

float optionalFloat(Napi::Object o, const char* key, const std::string& op, const std::string& path, float fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), op + ": '" + path + key + "' must be a number");
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

Napi::Object optionalObject(Napi::Object o, const char* key, const std::string& op) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return Napi::Object::New(o.Env());
  Napi::Value v = o.Get(key);
  if (!v.IsObject()) throw Napi::TypeError::New(o.Env(), op + ": '" + key + "' must be an object");
  return v.As<Napi::Object>();
}

// Type names exactly as lib/ will spell them in its TS config unions.
ps::InitKind parseInitKind(Napi::Object init, const std::string& op) {
  if (!init.Has("type") || init.Get("type").IsUndefined()) return ps::InitKind::kZeros;
  if (!init.Get("type").IsString()) throw Napi::TypeError::New(init.Env(), op + ": 'init.type' must be a string");
  const std::string t = init.Get("type").As<Napi::String>().Utf8Value();
  if (t == "zeros") return ps::InitKind::kZeros;
  if (t == "normal") return ps::InitKind::kNormal;
  if (t == "uniform") return ps::InitKind::kUniform;
  throw Napi::TypeError::New(init.Env(), op + ": 'init.type' must be 'zeros' | 'normal' | 'uniform' but received '" + t + "'");
}

ps::UpdaterKind parseUpdaterKind(Napi::Object up, const std::string& op) {
  if (!up.Has("type") || up.Get("type").IsUndefined()) return ps::UpdaterKind::kAdd;
  if (!up.Get("type").IsString()) throw Napi::TypeError::New(up.Env(), op + ": 'updater.type' must be a string");
  const std::string t = up.Get("type").As<Napi::String>().Utf8Value();
  if (t == "assign") return ps::UpdaterKind::kAssign;
  if (t == "add") return ps::UpdaterKind::kAdd;
  if (t == "sgd") return ps::UpdaterKind::kSgd;
  if (t == "adagrad") return ps::UpdaterKind::kAdagrad;
  if (t == "ftrl") return ps::UpdaterKind::kFtrl;
  throw Napi::TypeError::New(up.Env(),
                             op + ": 'updater.type' must be 'assign' | 'add' | 'sgd' | 'adagrad' | 'ftrl' but received '" + t + "'");
}

uint64_t parseSeed(Napi::Object init, const std::string& op) {
  if (!init.Has("seed") || init.Get("seed").IsUndefined()) return 0;
  Napi::Value v = init.Get("seed");
  if (v.IsBigInt()) return toKey(v, op, "init.seed");
  if (!v.IsNumber()) throw Napi::TypeError::New(init.Env(), op + ": 'init.seed' must be a number or a bigint");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d)) {
    throw Napi::RangeError::New(init.Env(), op + ": 'init.seed' must be an integer in [0, 2^53 - 1] (or a bigint)");
  }
  return static_cast<uint64_t>(d);
}

ps::TableConfig parseTableConfig(Napi::Object o, const std::string& op) {
  ps::TableConfig cfg;
  cfg.dim = static_cast<uint32_t>(requireInt64(o, "dim", op, 1, ps::kMaxDim));
  Napi::Object init = optionalObject(o, "init", op);
  cfg.init.kind = parseInitKind(init, op);
  cfg.init.mean = optionalFloat(init, "mean", op, "init.", cfg.init.mean);
  cfg.init.std = optionalFloat(init, "std", op, "init.", cfg.init.std);
  cfg.init.low = optionalFloat(init, "low", op, "init.", cfg.init.low);
  cfg.init.high = optionalFloat(init, "high", op, "init.", cfg.init.high);
  cfg.init.seed = parseSeed(init, op);
  Napi::Object up = optionalObject(o, "updater", op);
  cfg.updater.kind = parseUpdaterKind(up, op);
  cfg.updater.lr = optionalFloat(up, "lr", op, "updater.", cfg.updater.lr);
  cfg.updater.eps = optionalFloat(up, "eps", op, "updater.", cfg.updater.eps);
  cfg.updater.alpha = optionalFloat(up, "alpha", op, "updater.", cfg.updater.alpha);
  cfg.updater.beta = optionalFloat(up, "beta", op, "updater.", cfg.updater.beta);
  cfg.updater.l1 = optionalFloat(up, "l1", op, "updater.", cfg.updater.l1);
  cfg.updater.l2 = optionalFloat(up, "l2", op, "updater.", cfg.updater.l2);
  return cfg;
}

// Typed arrays are capped well below 2^32 elements; refuse before multiplying past it.
constexpr double kMaxOutFloats = 4294967295.0;

}  // namespace

class PsStoreWrap : public Napi::ObjectWrap<PsStoreWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PsStore",
                       {
                           InstanceMethod<&PsStoreWrap::pull>("pull"),
                           InstanceMethod<&PsStoreWrap::push>("push"),
                           InstanceMethod<&PsStoreWrap::get>("get"),
                           InstanceMethod<&PsStoreWrap::putRaw>("putRaw"),
                           InstanceMethod<&PsStoreWrap::erase>("erase"),
                           InstanceMethod<&PsStoreWrap::keys>("keys"),
                           InstanceAccessor<&PsStoreWrap::size>("size"),
                           InstanceAccessor<&PsStoreWrap::memoryBytes>("memoryBytes"),
                           InstanceAccessor<&PsStoreWrap::rowFloats>("rowFloats"),
                           InstanceAccessor<&PsStoreWrap::pushFloats>("pushFloats"),
                           InstanceAccessor<&PsStoreWrap::dim>("dim"),
                           InstanceAccessor<&PsStoreWrap::capacity>("capacity"),
                           InstanceAccessor<&PsStoreWrap::migrating>("migrating"),
                       });
  }

  // new PsStore({ dim, init?: { type, mean, std, low, high, seed }, updater?: { type, lr, eps,
  //               alpha, beta, l1, l2 }, expectedKeys? })
  explicit PsStoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PsStoreWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "PsStore: expected an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    const ps::TableConfig cfg = parseTableConfig(o, "PsStore");
    const int64_t expected = optionalInt64(o, "expectedKeys", "PsStore", 0, 1LL << 40, 0);
    try {
      store_ = std::make_unique<ps::ShardStore>(cfg, static_cast<size_t>(expected));
    } catch (const Error& e) {
      throwShoalError(env, e.code(), std::string("PsStore: ") + e.what());
    }
  }

 private:
  // pull(keys: BigUint64Array): Float32Array of keys.length * dim.
  Napi::Value pull(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const KeysView keys = toKeys(info[0], "PsStore.pull");
    const uint32_t dim = store_->dim();
    if (static_cast<double>(keys.count) * dim > kMaxOutFloats) {
      throw Napi::RangeError::New(env, "PsStore.pull: keys.length * dim is too large (" + std::to_string(keys.count) + " * " +
                                           std::to_string(dim) + ")");
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, keys.count * dim);
    try {
      store_->pull(keys.data, keys.count, out.Data());
    } catch (const Error& e) {
      throwShoalError(env, e.code(), std::string("PsStore.pull: ") + e.what());
    }
    return out;
  }

  // push(keys: BigUint64Array, values: Float32Array of keys.length * pushFloats).
  Napi::Value push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const KeysView keys = toKeys(info[0], "PsStore.push");
    const Span<const float> values = toFloats(info[1], "PsStore.push", "values");
    const float* data = values.data;
    const uint32_t per = ps::pushFloatsPerKey(store_->config());
    if (values.count != keys.count * per) {
      throw Napi::RangeError::New(env, "PsStore.push: expected values.length === keys.length * " + std::to_string(per) + " (" +
                                           std::to_string(keys.count * per) + ") but values.length is " +
                                           std::to_string(values.count) + " and keys.length is " +
                                           std::to_string(keys.count));
    }
    try {
      store_->push(keys.data, keys.count, data);
    } catch (const Error& e) {
      throwShoalError(env, e.code(), std::string("PsStore.push: ") + e.what());
    }
    return env.Undefined();
  }

  // get(key: bigint): the raw row (values then state) or null; never creates the row.
  Napi::Value get(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint64_t key = toKey(info[0], "PsStore.get", "key");
    Napi::Float32Array out = Napi::Float32Array::New(env, store_->rowFloats());
    if (!store_->get(key, out.Data())) return env.Null();
    return out;
  }

  // putRaw(key: bigint, row: Float32Array of rowFloats).
  Napi::Value putRaw(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint64_t key = toKey(info[0], "PsStore.putRaw", "key");
    const Span<const float> row = toFloats(info[1], "PsStore.putRaw", "row");
    if (row.count != store_->rowFloats()) {
      throw Napi::RangeError::New(env, "PsStore.putRaw: expected row.length === rowFloats (" + std::to_string(store_->rowFloats()) +
                                           ") but row.length is " + std::to_string(row.count));
    }
    store_->putRaw(key, row.data);
    return env.Undefined();
  }

  // erase(keys: BigUint64Array): how many were present.
  Napi::Value erase(const Napi::CallbackInfo& info) {
    const KeysView keys = toKeys(info[0], "PsStore.erase");
    size_t erased = 0;
    for (size_t i = 0; i < keys.count; ++i) erased += store_->erase(keys.data[i]) ? 1 : 0;
    return Napi::Number::New(info.Env(), static_cast<double>(erased));
  }

  // keys(): every stored key (forEach order), as a BigUint64Array.
  Napi::Value keys(const Napi::CallbackInfo& info) {
    Napi::BigUint64Array out = Napi::BigUint64Array::New(info.Env(), store_->size());
    uint64_t* dst = out.Data();
    size_t i = 0;
    store_->forEach([&](uint64_t key, const float*) { dst[i++] = key; });
    return out;
  }

  Napi::Value size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(store_->size())); }
  Napi::Value memoryBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(store_->memoryBytes()));
  }
  Napi::Value rowFloats(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), store_->rowFloats()); }
  Napi::Value pushFloats(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ps::pushFloatsPerKey(store_->config()));
  }
  Napi::Value dim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), store_->dim()); }
  Napi::Value capacity(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(store_->capacity()));
  }
  Napi::Value migrating(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), store_->migrating()); }

  std::unique_ptr<ps::ShardStore> store_;
};

class HashRingWrap : public Napi::ObjectWrap<HashRingWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HashRing",
                       {
                           InstanceMethod<&HashRingWrap::addServer>("addServer"),
                           InstanceMethod<&HashRingWrap::removeServer>("removeServer"),
                           InstanceMethod<&HashRingWrap::primary>("primary"),
                           InstanceMethod<&HashRingWrap::owners>("owners"),
                           InstanceMethod<&HashRingWrap::group>("group"),
                           InstanceAccessor<&HashRingWrap::servers>("servers"),
                           InstanceAccessor<&HashRingWrap::vnodes>("vnodes"),
                       });
  }

  // new HashRing(vnodesPerServer?)
  explicit HashRingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HashRingWrap>(info) {
    Napi::Env env = info.Env();
    int vnodes = ps::HashRing::kDefaultVnodes;
    if (info.Length() >= 1 && !info[0].IsUndefined()) {
      if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "HashRing: 'vnodes' must be a number");
      const double d = info[0].As<Napi::Number>().DoubleValue();
      if (!(d >= 1 && d <= 65536) || d != std::floor(d)) {
        throw Napi::RangeError::New(env, "HashRing: 'vnodes' must be an integer in [1, 65536]");
      }
      vnodes = static_cast<int>(d);
    }
    ring_ = std::make_unique<ps::HashRing>(vnodes);
  }

 private:
  static uint32_t toServerId(Napi::Value v, const std::string& op) {
    if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), op + ": 'serverId' must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d)) {
      throw Napi::RangeError::New(v.Env(), op + ": 'serverId' must be an integer in [0, 2^32 - 1]");
    }
    return static_cast<uint32_t>(d);
  }

  Napi::Value addServer(const Napi::CallbackInfo& info) {
    const uint32_t id = toServerId(info[0], "HashRing.addServer");
    try {
      ring_->addServer(id);
    } catch (const Error& e) {
      throwShoalError(info.Env(), e.code(), std::string("HashRing.addServer: ") + e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value removeServer(const Napi::CallbackInfo& info) {
    const uint32_t id = toServerId(info[0], "HashRing.removeServer");
    try {
      ring_->removeServer(id);
    } catch (const Error& e) {
      throwShoalError(info.Env(), e.code(), std::string("HashRing.removeServer: ") + e.what());
    }
    return info.Env().Undefined();
  }

  // primary(keys: BigUint64Array): Uint32Array of the owning server per key.
  Napi::Value primary(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const KeysView keys = toKeys(info[0], "HashRing.primary");
    Napi::Uint32Array out = Napi::Uint32Array::New(env, keys.count);
    uint32_t* dst = out.Data();
    try {
      for (size_t i = 0; i < keys.count; ++i) dst[i] = ring_->primary(keys.data[i]);
    } catch (const Error& e) {
      throwShoalError(env, e.code(), std::string("HashRing.primary: ") + e.what());
    }
    return out;
  }

  // group(keys: BigUint64Array, storeOrder?: boolean): what the PS client's KeyGrouper
  // makes of a request, in the caller's order or (storeOrder) in the servers' slot order:
  // { distinct, server: Uint32Array (per key: the server its distinct key is sent to),
  //   first: Uint32Array (per key: the index of its first occurrence),
  //   shares: BigUint64Array[] (per server id: the distinct keys in the order they are sent) }.
  Napi::Value group(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const KeysView keys = toKeys(info[0], "HashRing.group");
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsBoolean()) {
      throw Napi::TypeError::New(env, "HashRing.group: 'storeOrder' must be a boolean");
    }
    const bool storeOrder = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    if (ring_->servers() == 0) throwShoalError(env, ErrorCode::kInvalidUsage, "HashRing.group: no servers on the ring");
    if (keys.count > 0xFFFFFFFFu) throw Napi::RangeError::New(env, "HashRing.group: at most 2^32 - 1 keys");
    const int numServers = static_cast<int>(ring_->serverIds().back()) + 1;
    if (numServers > (1 << 16)) throw Napi::RangeError::New(env, "HashRing.group: server ids must be below 65536");
    psnet::KeyGrouper grouper;
    psnet::KeyPlan callerOrder;
    psnet::KeyPlan inStoreOrder;
    grouper.group(keys.data, keys.count, *ring_, numServers, &callerOrder);
    if (storeOrder) grouper.orderForStore(callerOrder, &inStoreOrder);
    const psnet::KeyPlan& plan = storeOrder ? inStoreOrder : callerOrder;
    Napi::Uint32Array server = Napi::Uint32Array::New(env, keys.count);
    Napi::Uint32Array first = Napi::Uint32Array::New(env, keys.count);
    std::vector<uint32_t> serverOfUniq(plan.uniq.size(), 0xFFFFFFFFu);
    Napi::Array shares = Napi::Array::New(env, static_cast<size_t>(numServers));
    for (int s = 0; s < numServers; ++s) {
      const auto& share = plan.byServer[static_cast<size_t>(s)];
      Napi::BigUint64Array sent = Napi::BigUint64Array::New(env, share.size());
      for (size_t j = 0; j < share.size(); ++j) {
        serverOfUniq[share[j]] = static_cast<uint32_t>(s);
        sent[j] = plan.uniq[share[j]];
      }
      shares.Set(static_cast<uint32_t>(s), sent);
    }
    for (size_t u = 0; u < plan.uniq.size(); ++u) {
      server[plan.firstOf[u]] = serverOfUniq[u];
      first[plan.firstOf[u]] = plan.firstOf[u];
    }
    for (const auto& [i, u] : plan.repeats) {
      server[i] = serverOfUniq[u];
      first[i] = plan.firstOf[u];
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("distinct", Napi::Number::New(env, static_cast<double>(plan.uniq.size())));
    out.Set("server", server);
    out.Set("first", first);
    out.Set("shares", shares);
    return out;
  }

  // owners(key: bigint, replicas: number): number[] (primary first).
  Napi::Value owners(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint64_t key = toKey(info[0], "HashRing.owners", "key");
    if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "HashRing.owners: 'replicas' must be a number");
    const double d = info[1].As<Napi::Number>().DoubleValue();
    if (!(d >= 1 && d <= 65536) || d != std::floor(d)) {
      throw Napi::RangeError::New(env, "HashRing.owners: 'replicas' must be a positive integer");
    }
    const int replicas = static_cast<int>(d);
    std::unique_ptr<uint32_t[]> ids(new uint32_t[replicas]);
    try {
      ring_->owners(key, replicas, ids.get());
    } catch (const Error& e) {
      throwShoalError(env, e.code(), std::string("HashRing.owners: ") + e.what());
    }
    Napi::Array out = Napi::Array::New(env, replicas);
    for (int i = 0; i < replicas; ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, ids[i]));
    return out;
  }

  Napi::Value servers(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(ring_->servers()));
  }
  Napi::Value vnodes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ring_->vnodesPerServer()); }

  std::unique_ptr<ps::HashRing> ring_;
};

// Called once from addon.cc's Init.
void registerPs(Napi::Env env, Napi::Object exports) {
  exports.Set("PsStore", PsStoreWrap::Define(env));
  exports.Set("HashRing", HashRingWrap::Define(env));
}

}  // namespace binding
}  // namespace shoal
