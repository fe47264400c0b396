// The libsvm/svmlight reader: turns this rank's share of one or more sources into CSR arrays
// (row offsets, feature ids, float32 values, labels, optional qids and weights). It owns the
// grammar, the split rule and the error messages; it does no N-API work and must not touch JS
// values, because the binding runs it on a worker thread (binding/data_wrap.cc).
//
// Grammar, one row per line:   label [qid:Q] [id:value ...] [# comment]
//   label and value: a decimal float as std::from_chars reads it, optional '+', finite in
//   float32 (nan, inf and |x| > 3.4028235e38, e.g. 1e39, are errors; tiny values round to 0).
//   With binaryLabels the label must be -1, 0 or 1 (as "+1", "1.0", ... too).
//   id: decimal digits, < 2^32 unless hashing, and <= maxFeatureId (after hashing): an id
//   above that is an error even with skipBadLines, because it is a limit of the model, not a
//   malformed line. Q: decimal digits, < 2^32.
//   Tokens are separated by spaces, tabs or '\r' (so CRLF files parse); '#' starts a comment.
//   Blank lines and comment-only lines are not rows. Anything else is malformed and fails
//   with "FILE:LINE:COLUMN: message" (1-based, columns count bytes), unless skipBadLines.
//
// Row index: every line that is not blank or comment-only counts as a row for weights and
// .query groups, malformed or not, so skipping a bad line never shifts the weights of the
// rows after it.
//
// Split rule for one source of B bytes among `size` ranks: rank r's range is
// [floor(r*B/size), floor((r+1)*B/size)). The file is cut into queries (runs of rows that
// must stay together) and a rank takes every query whose FIRST line starts in its range,
// reading past the range's end to finish it. Without groups every row is its own query, so
// this is "the lines that start in the range". Queries come from, in order of precedence:
//   1. .query group sizes (LightGBM): query j is rows [sum(g<j), sum(g<=j)). Finding the
//      first row index of the range means scanning [0, range start) once (cheap per byte,
//      but it reads the prefix: the last rank reads the whole file). Weights need the same.
//   2. qid: fields: a query is a maximal run of consecutive rows with the same qid. A rank
//      looks back only at the one row before its range to decide where its first query starts.
// A row without a qid field is always a query of its own.
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint32_t, uint64_t
#include <cstdlib>  // for malloc, realloc, free
#include <new>      // for std::bad_alloc
#include <string>
#include <vector>

#include "common/error.h"
#include "data/byte_source.h"

namespace shoal::data {

// Malformed input: the message is "FILE:LINE:COLUMN: what", and the parts are kept for JS.
class ParseError : public Error {
 public:
  ParseError(const std::string& file, uint64_t line, uint64_t column, const std::string& what)
      : Error(ErrorCode::kInvalidArgument, file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what),
        file_(file), line_(line), column_(column) {}
  const std::string& file() const { return file_; }
  uint64_t line() const { return line_; }      // 1-based
  uint64_t column() const { return column_; }  // 1-based, in bytes

 private:
  std::string file_;
  uint64_t line_;
  uint64_t column_;
};

// A malloc'd growable array whose memory can be handed over to a JS ArrayBuffer without a
// copy (release() then free() in the ArrayBuffer's finalizer). Growth uses realloc, which for
// large blocks remaps pages instead of copying, and shrinkToFit() trims the slack at the end.
template <typename T>
class GrowArray {
 public:
  GrowArray() = default;
  GrowArray(const GrowArray&) = delete;
  GrowArray& operator=(const GrowArray&) = delete;
  ~GrowArray() { std::free(data_); }

  void push(T v) {
    if (size_ == cap_) grow(size_ + 1);
    data_[size_++] = v;
  }
  void reserve(size_t n) {
    if (n > cap_) grow(n);
  }
  void resize(size_t n) {
    reserve(n);
    size_ = n;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data_[i]; }
  void shrinkToFit() {
    if (size_ == cap_ || size_ == 0) return;
    if (T* p = static_cast<T*>(std::realloc(data_, size_ * sizeof(T)))) {
      data_ = p;
      cap_ = size_;
    }
  }
  // Gives up ownership; the caller frees with std::free.
  T* release() {
    T* p = data_;
    data_ = nullptr;
    size_ = cap_ = 0;
    return p;
  }

 private:
  void grow(size_t need) {
    size_t cap = cap_ < 1024 ? 1024 : cap_ + cap_ / 2;
    if (cap < need) cap = need;
    T* p = static_cast<T*>(std::realloc(data_, cap * sizeof(T)));
    if (p == nullptr) throw std::bad_alloc();
    data_ = p;
    cap_ = cap;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// What the reader produces for one rank, across all its sources.
struct CsrOutput {
  GrowArray<uint32_t> rowPtr;  // numRows + 1 entries once finish() ran
  GrowArray<uint32_t> featureIds;
  GrowArray<float> values;
  GrowArray<float> labels;
  GrowArray<uint32_t> qids;    // kept only when anyQid
  GrowArray<float> weights;    // kept only when anyWeight
  // ReadOptions::keyIds: the ids as written (64-bit) while reading; finish() turns featureIds
  // into indices into `keys`, this rank's distinct ids in first-seen order.
  bool keyIds = false;
  GrowArray<uint64_t> ids64;
  GrowArray<uint64_t> keys;
  bool anyQid = false;
  bool anyWeight = false;
  int64_t maxFeatureId = -1;
  uint64_t skippedLines = 0;
  std::vector<std::string> skipped;  // the first few skipped lines' messages
  uint64_t bytes = 0;                // bytes of the lines this rank consumed
};

inline constexpr uint32_t kNoQid = 0xffffffffu;

struct ReadOptions {
  int hashBits = 0;  // 0: ids as written; 1..32: hash into [0, 2^hashBits)
  bool skipBadLines = false;
  size_t maxSkipReports = 10;
  uint32_t maxFeatureId = 0xffffffffu;  // larger (stored) ids fail the read
  std::string maxFeatureIdHint;         // appended to that error: what the limit is and what to do
  bool binaryLabels = false;            // labels must be -1, 0 or 1
  // Ids are keys of any 64-bit value (a model sharded by key on the parameter servers):
  // featureIds become local indices 0..k-1 into CsrOutput::keys. No hashing, no maxFeatureId.
  bool keyIds = false;
};

// One file or memory block and this rank's share of it.
struct SourceSpec {
  std::string name;         // as the user wrote it; every message starts with it
  std::string path;         // the file to read, or empty when `data` is set
  bool gzip = false;        // `path` is gzip data, inflated as it is read
  const char* data = nullptr;
  uint64_t dataSize = 0;
  uint32_t rank = 0;
  uint32_t size = 1;
  // .query group sizes (whole file) and the qid of its first group.
  bool hasGroups = false;
  std::string groupsName;
  const uint32_t* groupSizes = nullptr;
  size_t numGroups = 0;
  uint32_t qidBase = 0;
  // Weights, one per row of the whole file.
  bool hasWeights = false;
  std::string weightsName;
  const float* weights = nullptr;
  size_t numWeights = 0;
};

struct SourceResult {
  uint64_t firstRow = 0;  // row index (see above) of the first row taken, or of the share start
  uint64_t numRows = 0;   // rows taken, including skipped malformed ones
  bool reachedEnd = false;
};

// Appends this rank's rows of `spec` to `out`. Throws shoal::Error: kIo for read failures,
// kInvalidArgument for malformed data (message "NAME:LINE:COLUMN: ...").
SourceResult readSource(const SourceSpec& spec, const ReadOptions& options, CsrOutput& out);

// Call once after the last readSource: drops qids/weights nobody had and trims slack.
void finish(CsrOutput& out);

// Hashes a feature id into [0, 2^bits); the same on every platform and in lib/data.
uint32_t hashFeatureId(uint64_t id, int bits);

}  // namespace shoal::data
