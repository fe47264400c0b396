// readLibsvm: the binding of the libsvm reader (data/libsvm_parser.h). It validates the
// source list on the JS thread, parses on a libuv worker (an AsyncWorker: bounded CPU and
// file I/O, no peers), and resolves with typed arrays that take over the parser's malloc'd
// memory, so nothing is copied after parsing. It must not decide the split or find side
// files: lib/data/libsvm.ts does that and passes each source's share explicitly.
#include <napi.h>

#include <cstdlib>  // for std::free
#include <memory>
#include <string>
#include <vector>

#include "binding/convert.h"
#include "common/error.h"
#include "data/libsvm_parser.h"

namespace shoal {
namespace binding {

namespace {

constexpr const char* kOp = "readLibsvm";

template <typename T, typename Array>
Array takeArray(Napi::Env env, data::GrowArray<T>& src) {
  const size_t n = src.size();
  if (n == 0) return Array::New(env, 0);
  T* p = src.release();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, p, n * sizeof(T), [](Napi::Env, void* data) { std::free(data); });
  return Array::New(env, n, ab, 0);
}

template <typename Array>
Array typedArrayArg(Napi::Object o, const char* key, napi_typedarray_type type) {
  Napi::Value v = o.Get(key);
  typedSpan<uint8_t>(v, type, "", kOp, (std::string("sources[i].") + key).c_str());  // checks type and detachment
  return v.As<Array>();
}

std::string optionalString(Napi::Object o, const char* key, const std::string& fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  return requireString(o, key, kOp);
}

class ReadLibsvmWorker : public Napi::AsyncWorker {
 public:
  ReadLibsvmWorker(Napi::Env env, std::vector<data::SourceSpec> specs, data::ReadOptions options,
                   std::vector<Napi::ObjectReference> keepAlive)
      : Napi::AsyncWorker(env, "shoal.readLibsvm"),
        deferred_(Napi::Promise::Deferred::New(env)),
        specs_(std::move(specs)),
        options_(options),
        keepAlive_(std::move(keepAlive)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    // Nothing may throw out of a worker thread: every failure becomes a status for OnOK.
    try {
      out_.keyIds = options_.keyIds;
      for (const data::SourceSpec& spec : specs_) results_.push_back(data::readSource(spec, options_, out_));
      data::finish(out_);
    } catch (const data::ParseError& e) {
      status_ = {e.code(), e.what(), -1};
      file_ = e.file();
      line_ = e.line();
      column_ = e.column();
    } catch (const Error& e) {
      status_ = {e.code(), e.what(), -1};
    } catch (const std::bad_alloc&) {
      status_ = {ErrorCode::kInternal, std::string(kOp) + ": out of memory", -1};
    } catch (const std::exception& e) {
      status_ = {ErrorCode::kInternal, std::string(kOp) + ": " + e.what(), -1};
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    keepAlive_.clear();
    if (!status_.ok()) {
      Napi::Error err = makeShoalError(env, status_.code, status_.message, -1);
      if (!file_.empty()) {
        err.Set("file", Napi::String::New(env, file_));
        err.Set("line", Napi::Number::New(env, static_cast<double>(line_)));
        err.Set("column", Napi::Number::New(env, static_cast<double>(column_)));
      }
      deferred_.Reject(err.Value());
      return;
    }
    Napi::Object r = Napi::Object::New(env);
    const double numRows = static_cast<double>(out_.labels.size());
    r.Set("numRows", Napi::Number::New(env, numRows));
    r.Set("rowPtr", takeArray<uint32_t, Napi::Uint32Array>(env, out_.rowPtr));
    r.Set("featureIds", takeArray<uint32_t, Napi::Uint32Array>(env, out_.featureIds));
    if (out_.keyIds) r.Set("keys", takeArray<uint64_t, Napi::TypedArrayOf<uint64_t>>(env, out_.keys));
    r.Set("values", takeArray<float, Napi::Float32Array>(env, out_.values));
    r.Set("labels", takeArray<float, Napi::Float32Array>(env, out_.labels));
    r.Set("qids", out_.anyQid ? takeArray<uint32_t, Napi::Uint32Array>(env, out_.qids).As<Napi::Value>() : env.Null());
    r.Set("weights", out_.anyWeight ? takeArray<float, Napi::Float32Array>(env, out_.weights).As<Napi::Value>() : env.Null());
    r.Set("maxFeatureId", Napi::Number::New(env, static_cast<double>(out_.maxFeatureId)));
    r.Set("skippedLines", Napi::Number::New(env, static_cast<double>(out_.skippedLines)));
    Napi::Array skipped = Napi::Array::New(env, out_.skipped.size());
    for (size_t i = 0; i < out_.skipped.size(); ++i) skipped.Set(static_cast<uint32_t>(i), out_.skipped[i]);
    r.Set("skipped", skipped);
    r.Set("bytes", Napi::Number::New(env, static_cast<double>(out_.bytes)));
    Napi::Array sources = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); ++i) {
      Napi::Object s = Napi::Object::New(env);
      s.Set("firstRow", Napi::Number::New(env, static_cast<double>(results_[i].firstRow)));
      s.Set("numRows", Napi::Number::New(env, static_cast<double>(results_[i].numRows)));
      s.Set("reachedEnd", Napi::Boolean::New(env, results_[i].reachedEnd));
      sources.Set(static_cast<uint32_t>(i), s);
    }
    r.Set("sources", sources);
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error& e) override {
    keepAlive_.clear();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<data::SourceSpec> specs_;
  data::ReadOptions options_;
  std::vector<Napi::ObjectReference> keepAlive_;  // JS arrays the specs point into
  data::CsrOutput out_;
  std::vector<data::SourceResult> results_;
  Status status_;
  std::string file_;
  uint64_t line_ = 0;
  uint64_t column_ = 0;
};

// readLibsvm(sources, { hashBits, skipBadLines, maxSkipReports, maxFeatureId, maxFeatureIdHint,
// binaryLabels }) -> Promise<result>.
// sources[i]: { name, path?, gzip? | data?: Uint8Array, rank, size, groupSizes?: Uint32Array,
// groupsName?, qidBase?, weights?: Float32Array, weightsName? }.
Napi::Value ReadLibsvm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, std::string(kOp) + ": expected (sources: object[], options: object)");
  }
  Napi::Array list = info[0].As<Napi::Array>();
  Napi::Object opts = info[1].As<Napi::Object>();
  data::ReadOptions options;
  options.hashBits = static_cast<int>(optionalInt64(opts, "hashBits", kOp, 0, 32, 0));
  options.skipBadLines = opts.Has("skipBadLines") && opts.Get("skipBadLines").ToBoolean().Value();
  options.maxSkipReports = static_cast<size_t>(optionalInt64(opts, "maxSkipReports", kOp, 0, 1 << 20, 10));
  options.maxFeatureId = static_cast<uint32_t>(optionalInt64(opts, "maxFeatureId", kOp, 0, 0xffffffffLL, 0xffffffffLL));
  options.maxFeatureIdHint = optionalString(opts, "maxFeatureIdHint", "");
  options.binaryLabels = opts.Has("binaryLabels") && opts.Get("binaryLabels").ToBoolean().Value();
  options.keyIds = opts.Has("keyIds") && opts.Get("keyIds").ToBoolean().Value();
  if (options.keyIds && options.hashBits != 0) throw Napi::RangeError::New(env, std::string(kOp) + ": keyIds and hashBits exclude each other");

  std::vector<data::SourceSpec> specs;
  std::vector<Napi::ObjectReference> keepAlive;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    if (!list.Get(i).IsObject()) throw Napi::TypeError::New(env, std::string(kOp) + ": sources[i] must be objects");
    Napi::Object s = list.Get(i).As<Napi::Object>();
    data::SourceSpec spec;
    spec.name = requireString(s, "name", kOp);
    if (s.Has("data") && !s.Get("data").IsUndefined()) {
      Napi::Uint8Array bytes = typedArrayArg<Napi::Uint8Array>(s, "data", napi_uint8_array);
      spec.data = reinterpret_cast<const char*>(bytes.Data());
      spec.dataSize = bytes.ElementLength();
      keepAlive.push_back(Napi::Persistent(bytes.As<Napi::Object>()));
    } else {
      spec.path = requireString(s, "path", kOp);
      if (spec.path.empty()) throw Napi::TypeError::New(env, std::string(kOp) + ": 'path' must not be empty");
      spec.gzip = s.Has("gzip") && s.Get("gzip").ToBoolean().Value();
    }
    spec.size = static_cast<uint32_t>(optionalInt64(s, "size", kOp, 1, 1 << 30, 1));
    spec.rank = static_cast<uint32_t>(optionalInt64(s, "rank", kOp, 0, spec.size - 1, 0));
    if (s.Has("groupSizes") && !s.Get("groupSizes").IsUndefined()) {
      Napi::Uint32Array g = typedArrayArg<Napi::Uint32Array>(s, "groupSizes", napi_uint32_array);
      spec.hasGroups = true;
      spec.groupSizes = g.Data();
      spec.numGroups = g.ElementLength();
      spec.groupsName = optionalString(s, "groupsName", spec.name + ".query");
      spec.qidBase = static_cast<uint32_t>(optionalInt64(s, "qidBase", kOp, 0, 0xffffffffLL, 0));
      keepAlive.push_back(Napi::Persistent(g.As<Napi::Object>()));
    }
    if (s.Has("weights") && !s.Get("weights").IsUndefined()) {
      Napi::Float32Array w = typedArrayArg<Napi::Float32Array>(s, "weights", napi_float32_array);
      spec.hasWeights = true;
      spec.weights = w.Data();
      spec.numWeights = w.ElementLength();
      spec.weightsName = optionalString(s, "weightsName", spec.name + ".weight");
      keepAlive.push_back(Napi::Persistent(w.As<Napi::Object>()));
    }
    specs.push_back(std::move(spec));
  }
  auto* worker = new ReadLibsvmWorker(env, std::move(specs), options, std::move(keepAlive));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// hashFeatureId(id: number | bigint, bits) -> number: the reader's hash, for tests and for
// hashing ids outside a file the same way.
Napi::Value HashFeatureId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = 0;
  if (info.Length() >= 1 && info[0].IsBigInt()) {
    bool lossless = false;
    id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(env, "hashFeatureId: 'id' must be in [0, 2^64 - 1]");
  } else if (info.Length() >= 1 && info[0].IsNumber()) {
    const double d = info[0].As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
      throw Napi::RangeError::New(env, "hashFeatureId: 'id' must be a non-negative safe integer or a bigint");
    }
    id = static_cast<uint64_t>(d);
  } else {
    throw Napi::TypeError::New(env, "hashFeatureId: expected a number or bigint for 'id'");
  }
  const int bits = info.Length() >= 2 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (bits < 1 || bits > 32) throw Napi::RangeError::New(env, "hashFeatureId: 'bits' must be an integer in [1, 32]");
  return Napi::Number::New(env, data::hashFeatureId(id, bits));
}

}  // namespace

// Called once from addon.cc's Init.
void registerData(Napi::Env env, Napi::Object exports) {
  exports.Set("readLibsvm", Napi::Function::New(env, ReadLibsvm, "readLibsvm"));
  exports.Set("hashFeatureId", Napi::Function::New(env, HashFeatureId, "hashFeatureId"));
}

}  // namespace binding
}  // namespace shoal
