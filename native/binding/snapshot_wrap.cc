// Synchronous handles on the PS snapshot reader, for tests and diagnostics (the servers use
// the same functions on their I/O thread): inspectPsShard(path) parses one shard file's
// structure, verifyPsSnapshot(listing) runs the load path's verification over a manifest
// listing (snapshot.h) without inserting rows. Both throw a JS error naming the file.
#include <napi.h>

#include <string>

#include "binding/convert.h"
#include "common/error.h"
#include "psnet/snapshot.h"

namespace shoal {
namespace binding {

namespace {

std::string stringArg(const Napi::CallbackInfo& info, const char* fn, const char* name) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected a string '" + name + "'");
  const std::string s = info[0].As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": '" + name + "' must be a non-empty string without NUL");
  return s;
}

// inspectPsShard(path): { table, rows, rowFloats, dim }.
Napi::Value InspectPsShard(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = stringArg(info, "inspectPsShard", "path");
  psnet::ShardSummary s;
  try {
    s = psnet::inspectShardFile(path);
  } catch (const Error& e) {
    throwShoalError(env, e.code(), std::string("inspectPsShard: ") + e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("table", s.table);
  out.Set("rows", Napi::Number::New(env, static_cast<double>(s.rows)));
  out.Set("rowFloats", s.rowFloats);
  out.Set("dim", s.spec.dim);
  return out;
}

// verifyPsSnapshot(listing): undefined, or throws naming the first bad file.
Napi::Value VerifyPsSnapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string text = stringArg(info, "verifyPsSnapshot", "listing");
  try {
    size_t loaded = 0;
    psnet::loadSnapshot(psnet::parseSnapshotListing(text), nullptr, nullptr, &loaded);
  } catch (const Error& e) {
    throwShoalError(env, e.code(), std::string("verifyPsSnapshot: ") + e.what());
  }
  return env.Undefined();
}

}  // namespace

void registerSnapshot(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectPsShard", Napi::Function::New(env, InspectPsShard, "inspectPsShard"));
  exports.Set("verifyPsSnapshot", Napi::Function::New(env, VerifyPsSnapshot, "verifyPsSnapshot"));
}

}  // namespace binding
}  // namespace shoal
