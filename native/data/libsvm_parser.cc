// The libsvm reader (see libsvm_parser.h for the grammar and the split rule).
//
// Speed: one memchr per line finds its end, then one forward pass tokenizes it; numbers go
// through std::from_chars (libstdc++ 12 uses the fast_float algorithm: exact, locale-free),
// ids through a plain digit loop. Output grows in malloc'd arrays that become the JS arrays,
// so nothing is copied after the parse. Line numbers are only computed when an error needs
// one (by counting '\n' from the last place we counted), never on the hot path.
#include "data/libsvm_parser.h"

#include <vector>

#include "ps/mix64.h"

#include <charconv>  // for std::from_chars
#include <cmath>     // for HUGE_VAL, std::isnan, std::isinf
#include <cstring>   // for memcmp
#include <memory>

namespace shoal::data {

namespace {

constexpr uint64_t kNoKey = ~uint64_t{0};
constexpr uint64_t kMaxId32 = 0xffffffffull;

inline bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }
inline bool isDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }
inline bool endsToken(const char* p, const char* e) { return p == e || isSpace(*p) || *p == '#'; }

bool isDataLine(const char* p, const char* e) {
  while (p < e && isSpace(*p)) ++p;
  return p < e && *p != '#';
}

// The query key of a line for the split rule: its qid when the second token is a well-formed
// "qid:N", else kNoKey. Deliberately independent of the full parse so that two ranks looking
// at the same (possibly malformed) line always agree.
uint64_t qidKeyOf(const char* p, const char* e) {
  while (p < e && isSpace(*p)) ++p;
  while (!endsToken(p, e)) ++p;
  while (p < e && isSpace(*p)) ++p;
  if (e - p < 5 || std::memcmp(p, "qid:", 4) != 0) return kNoKey;
  p += 4;
  const char* digits = p;
  uint64_t v = 0;
  while (p < e && isDigit(*p) && p - digits < 11) v = v * 10 + static_cast<uint64_t>(*p++ - '0');
  if (p == digits || !endsToken(p, e) || v > kMaxId32) return kNoKey;
  return v;
}

// Bytes for a message: control bytes (NUL, ...) as \xNN so the message stays one clean line.
std::string escaped(const char* p, const char* q) {
  std::string out;
  for (; p < q; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The token at p up to whitespace (at most 24 bytes, then "..."), for messages.
std::string tokenAt(const char* p, const char* e) {
  const char* q = p;
  while (q < e && !isSpace(*q) && q - p < 24) ++q;
  return escaped(p, q) + (q < e && !isSpace(*q) ? "..." : "");
}

// What was found at p, for messages: "end of line", "a space", or the quoted character.
std::string describeChar(const char* p, const char* e) {
  if (p == e || *p == '#') return "end of line";
  if (isSpace(*p)) return *p == '\t' ? "a tab" : *p == '\r' ? "'\\r'" : "a space";
  return "'" + escaped(p, p + 1) + "'";
}

// "'tok'" for messages: the token at p, shortened; or what describeChar says.
std::string describeToken(const char* p, const char* e) {
  if (p == e || *p == '#' || isSpace(*p)) return describeChar(p, e);
  return "'" + tokenAt(p, e) + "'";
}

// Parses a float token starting at p; returns the end of the number or nullptr.
inline const char* parseNumber(const char* p, const char* e, double& out) {
  const char* s = p;
  if (s < e && *s == '+') {
    ++s;
    if (s < e && (*s == '-' || *s == '+')) return nullptr;
  }
  // Fast path for short integers ("1", "-1", "17"), the bulk of one-hot and label tokens:
  // up to 15 digits are exact in a double, so this equals the general parse.
  {
    const char* q = s;
    const bool negative = q < e && *q == '-';
    if (negative) ++q;
    const char* digits = q;
    uint64_t v = 0;
    while (q < e && isDigit(*q) && q - digits < 15) v = v * 10 + static_cast<uint64_t>(*q++ - '0');
    if (q > digits && endsToken(q, e)) {
      out = negative ? -static_cast<double>(v) : static_cast<double>(v);
      return q;
    }
  }
  const std::from_chars_result r = std::from_chars(s, e, out, std::chars_format::general);
  if (r.ec == std::errc()) return r.ptr;
  if (r.ec != std::errc::result_out_of_range) return nullptr;
  // Out of double range: like strtod, overflow is +-inf and underflow +-0.
  bool negativeExponent = false;
  for (const char* q = s; q + 1 < r.ptr; ++q) {
    if ((*q == 'e' || *q == 'E') && q[1] == '-') negativeExponent = true;
  }
  const double mag = negativeExponent ? 0.0 : HUGE_VAL;
  out = *s == '-' ? -mag : mag;
  return r.ptr;
}

struct LineFailure {
  size_t column0 = 0;  // 0-based byte offset in the line
  std::string what;
  bool fatal = false;  // not skippable: a limit of the model, not a malformed line
};

// Why a parsed number cannot be stored as a float32 label or value, or nullptr when it can
// (on the hot path: no allocation). Values that round to FLT_MAX are fine; larger ones overflow.
const char* float32Problem(double d) {
  if (std::isnan(d)) return "is not a number";
  if (std::isinf(d)) return "is infinite";
  if (std::isinf(static_cast<float>(d))) return "overflows float32 (largest 3.4028235e38)";
  return nullptr;
}


struct ParsedRow {
  float label = 0;
  bool hasQid = false;
  uint32_t qid = kNoQid;
};

// One data line into out.featureIds/out.values. On failure the caller rolls both back.
bool parseRow(const char* b, const char* e, const ReadOptions& options, CsrOutput& out, ParsedRow& row, LineFailure& fail) {
  const int hashBits = options.hashBits;
  const bool binaryLabels = options.binaryLabels;
  const char* p = b;
  while (p < e && isSpace(*p)) ++p;
  double d = 0;
  const char* q = parseNumber(p, e, d);
  if (q == nullptr || !endsToken(q, e)) {
    fail = {static_cast<size_t>(p - b), "expected a label (a number), found " + describeToken(p, e)};
    return false;
  }
  if (const char* why = float32Problem(d)) {
    fail = {static_cast<size_t>(p - b), "label " + tokenAt(p, e) + " " + why + "; labels must be finite numbers"};
    return false;
  }
  if (binaryLabels && d != 1 && d != 0 && d != -1) {
    fail = {static_cast<size_t>(p - b), "label " + tokenAt(p, e) + " is not a binary label; expected -1, 0 or 1 (+1)"};
    return false;
  }
  row.label = static_cast<float>(d);
  p = q;
  while (p < e && isSpace(*p)) ++p;
  if (e - p >= 4 && std::memcmp(p, "qid:", 4) == 0) {
    const char* tok = p;
    p += 4;
    const char* digits = p;
    uint64_t v = 0;
    while (p < e && isDigit(*p) && p - digits < 11) v = v * 10 + static_cast<uint64_t>(*p++ - '0');
    if (p == digits || !endsToken(p, e) || v > kMaxId32) {
      fail = {static_cast<size_t>(tok - b), "expected qid:N with N an integer below 2^32, found " + describeToken(tok, e)};
      return false;
    }
    row.hasQid = true;
    row.qid = static_cast<uint32_t>(v);
  }
  uint32_t maxId = 0;
  bool any = false;
  for (;;) {
    while (p < e && isSpace(*p)) ++p;
    if (p == e || *p == '#') break;
    const char* idStart = p;
    if (!isDigit(*p)) {
      const bool signedId = (*p == '-' || *p == '+') && p + 1 < e && isDigit(p[1]);
      fail = {static_cast<size_t>(p - b), signedId ? "feature id " + tokenAt(p, e) + " is signed; ids are non-negative integers"
                                                   : "expected a feature id (digits), found " + describeChar(p, e)};
      return false;
    }
    uint64_t id = 0;
    bool overflow = false;
    do {
      const uint64_t digit = static_cast<uint64_t>(*p - '0');
      if (id > (~uint64_t{0} - digit) / 10) overflow = true;
      id = id * 10 + digit;
      ++p;
    } while (p < e && isDigit(*p));
    if (p < e && (*p == '.' || *p == 'e' || *p == 'E')) {
      fail = {static_cast<size_t>(idStart - b), "feature id " + tokenAt(idStart, e) + " is not an integer; ids are non-negative integers"};
      return false;
    }
    if (p == e || *p != ':') {
      fail = {static_cast<size_t>(p - b), "expected ':' after feature id, found " + describeChar(p, e)};
      return false;
    }
    if (overflow) {
      fail = {static_cast<size_t>(idStart - b), "feature id " + std::string(idStart, p) + " does not fit in 64 bits"};
      return false;
    }
    if (hashBits == 0 && id > kMaxId32 && !options.keyIds) {
      fail = {static_cast<size_t>(idStart - b), "feature id " + std::to_string(id) +
                                                    " is 2^32 or more; use --hash-bits (hashBits) to hash large ids, or keep them as keys in the sharded model (shoal train lr --servers K; readLibsvm keyIds)"};
      return false;
    }
    ++p;
    const char* valStart = p;
    const char* end = parseNumber(p, e, d);
    if (end == nullptr || end == valStart || !endsToken(end, e)) {
      fail = {static_cast<size_t>(valStart - b), "expected a value after ':', found " + describeToken(valStart, e)};
      return false;
    }
    if (const char* why = float32Problem(d)) {
      fail = {static_cast<size_t>(valStart - b), "value " + tokenAt(valStart, e) + " of feature " + std::to_string(id) + " " + why +
                                                     "; values must be finite numbers (leave a feature out for 0 or missing)"};
      return false;
    }
    p = end;
    if (options.keyIds) {
      out.featureIds.push(0);  // the index into out.keys, set by finish()
      out.ids64.push(id);
      out.values.push(static_cast<float>(d));
      continue;
    }
    const uint32_t stored = hashBits == 0 ? static_cast<uint32_t>(id) : hashFeatureId(id, hashBits);
    if (stored > options.maxFeatureId) {
      fail = {static_cast<size_t>(idStart - b),
              "feature id " + std::to_string(stored) + (hashBits == 0 ? "" : " (hashed from " + std::to_string(id) + ")") +
                  " is above the largest id allowed, " + std::to_string(options.maxFeatureId) +
                  (options.maxFeatureIdHint.empty() ? "" : "; " + options.maxFeatureIdHint),
              true};
      return false;
    }
    out.featureIds.push(stored);
    out.values.push(static_cast<float>(d));
    if (stored > maxId || !any) maxId = stored;
    any = true;
  }
  if (any && static_cast<int64_t>(maxId) > out.maxFeatureId) out.maxFeatureId = maxId;
  return true;
}

// The query key of the last data line that starts before `pos` (a line start), or kNoKey.
// Reads backwards in growing windows, so a rank looks only at the row just before its range.
uint64_t previousQidKey(ByteSource& src, uint64_t pos) {
  uint64_t window = 64 * 1024;
  std::vector<char> buf;
  for (;;) {
    const uint64_t from = pos > window ? pos - window : 0;
    buf.resize(static_cast<size_t>(pos - from));
    src.read(from, buf.data(), buf.size());
    size_t end = buf.size();
    if (end > 0 && buf[end - 1] == '\n') --end;
    for (;;) {
      size_t start = end;
      while (start > 0 && buf[start - 1] != '\n') --start;
      // The line might begin before the window: read more.
      if (start == 0 && from > 0) break;
      if (isDataLine(buf.data() + start, buf.data() + end)) return qidKeyOf(buf.data() + start, buf.data() + end);
      if (start == 0) return kNoKey;
      end = start - 1;
    }
    window *= 4;
  }
}

// Turns byte offsets into 1-based line numbers, counting forward from the last answer, or
// from the source's resume point when that is further on (a gzip source would otherwise
// inflate again from the start for every skipped line).
class LineCounter {
 public:
  explicit LineCounter(ByteSource& src) : src_(src) {}
  uint64_t lineAt(uint64_t offset) {
    uint64_t base = 0;
    const uint64_t resume = src_.resumePoint(base);
    if (resume <= offset && (at_ < resume || offset < at_)) {
      at_ = resume;
      newlines_ = base;
    } else if (offset < at_) {
      at_ = 0;
      newlines_ = 0;
    }
    newlines_ += countNewlines(src_, at_, offset);
    at_ = offset;
    return newlines_ + 1;
  }

 private:
  ByteSource& src_;
  uint64_t at_ = 0;
  uint64_t newlines_ = 0;
};

}  // namespace

uint32_t hashFeatureId(uint64_t id, int bits) {
  // splitmix64's finalizer on a salted id; the top `bits` bits are the bucket.
  uint64_t x = id + 0x6a09e667f3bcc909ULL;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<uint32_t>(x >> (64 - bits));
}

SourceResult readSource(const SourceSpec& spec, const ReadOptions& options, CsrOutput& out) {
  std::unique_ptr<ByteSource> src;
  if (spec.path.empty()) {
    src = std::make_unique<MemorySource>(spec.data, spec.dataSize);
  } else if (spec.gzip) {
    src = std::make_unique<GzipSource>(spec.path);
  } else {
    src = std::make_unique<FileSource>(spec.path);
  }
  if (out.rowPtr.size() == 0) out.rowPtr.push(0);

  // One rank reading a whole source never needs its size (a gzip file's costs a pass).
  uint64_t lo = 0;
  uint64_t hi = ~uint64_t{0};
  if (spec.size > 1) {
    const uint64_t total = src->size();
    // floor(r*B/size) without overflow: r*B can exceed 64 bits.
    lo = static_cast<uint64_t>(static_cast<unsigned __int128>(spec.rank) * total / spec.size);
    hi = static_cast<uint64_t>(static_cast<unsigned __int128>(spec.rank + 1) * total / spec.size);
  }
  const bool needRowIndex = spec.hasGroups || spec.hasWeights;
  LineCounter lines(*src);
  auto fail = [&](uint64_t offset, size_t column0, const std::string& what) -> ParseError {
    return ParseError(spec.name, lines.lineAt(offset), column0 + 1, what);
  };

  // Phase 1: stop at the first line that starts at or after lo, counting rows before it when
  // weights or groups need the global row index.
  SourceResult result;
  uint64_t rowIndex = 0;
  Line line;
  bool pending = false;
  std::unique_ptr<LineReader> reader;
  if (needRowIndex) {
    reader = std::make_unique<LineReader>(*src, 0);
    while (reader->next(line)) {
      if (line.offset >= lo) {
        pending = true;
        break;
      }
      if (isDataLine(line.begin, line.end)) ++rowIndex;
    }
  } else {
    reader = std::make_unique<LineReader>(*src, lo > 0 ? lo - 1 : 0);
    // The line holding byte lo-1 began before lo, so it is the previous rank's.
    if (lo > 0) reader->next(line);
  }
  const uint64_t startOffset = pending ? line.offset : reader->position();
  uint64_t prevKey = (!spec.hasGroups && startOffset > 0) ? previousQidKey(*src, startOffset) : kNoKey;
  result.firstRow = rowIndex;

  // Groups: g is the group holding rowIndex, [groupStart, groupEnd) its rows.
  size_t g = 0;
  uint64_t groupStart = 0;
  uint64_t groupEnd = spec.hasGroups && spec.numGroups > 0 ? spec.groupSizes[0] : 0;
  uint64_t groupTotal = 0;
  for (size_t i = 0; i < spec.numGroups; ++i) groupTotal += spec.groupSizes[i];

  // Phases 2 and 3: skip the tail of a query that began before lo, then take every query
  // whose first line starts before hi, to its end.
  bool taking = false;
  uint64_t firstTaken = startOffset;
  uint64_t lastTakenEnd = startOffset;
  for (;;) {
    if (!pending && !reader->next(line)) {
      result.reachedEnd = true;
      break;
    }
    pending = false;
    if (!isDataLine(line.begin, line.end)) continue;
    bool boundary;
    uint32_t groupQid = kNoQid;
    if (spec.hasGroups) {
      if (rowIndex >= groupTotal) {
        throw fail(line.offset, 0, "row " + std::to_string(rowIndex + 1) + " is not in any query: " + spec.groupsName +
                                       " has group sizes for " + std::to_string(groupTotal) + " rows");
      }
      while (rowIndex >= groupEnd) {
        ++g;
        groupStart = groupEnd;
        groupEnd += spec.groupSizes[g];
      }
      boundary = rowIndex == groupStart;
      groupQid = spec.qidBase + static_cast<uint32_t>(g);
    } else {
      const uint64_t key = qidKeyOf(line.begin, line.end);
      boundary = key == kNoKey || key != prevKey;
      prevKey = key;
    }
    if (boundary) {
      if (line.offset >= hi) break;
      if (!taking) {
        taking = true;
        firstTaken = line.offset;
        result.firstRow = rowIndex;
      }
    }
    if (taking) {
      lastTakenEnd = reader->position();  // just past this line's '\n' (or the end)
      if (spec.hasWeights && rowIndex >= spec.numWeights) {
        throw fail(line.offset, 0, "row " + std::to_string(rowIndex + 1) + " has no weight: " + spec.weightsName +
                                       " has " + std::to_string(spec.numWeights) + " weights");
      }
      const size_t nnzBefore = out.featureIds.size();
      ParsedRow row;
      LineFailure failure;
      if (parseRow(line.begin, line.end, options, out, row, failure)) {
        if (out.featureIds.size() > kMaxId32 || out.labels.size() >= kMaxId32) {
          throw Error(ErrorCode::kInvalidArgument, spec.name + ": more than 2^32-1 non-zeros or rows for one rank; use more ranks");
        }
        out.labels.push(row.label);
        out.qids.push(spec.hasGroups ? groupQid : row.qid);
        out.anyQid = out.anyQid || spec.hasGroups || row.hasQid;
        out.weights.push(spec.hasWeights ? spec.weights[rowIndex] : 1.0f);
        out.anyWeight = out.anyWeight || spec.hasWeights;
        out.rowPtr.push(static_cast<uint32_t>(out.featureIds.size()));
      } else {
        out.featureIds.resize(nnzBefore);
        out.values.resize(nnzBefore);
        if (out.keyIds) out.ids64.resize(nnzBefore);
        ParseError err = fail(line.offset, failure.column0, failure.what);
        if (!options.skipBadLines || failure.fatal) throw err;
        ++out.skippedLines;
        if (out.skipped.size() < options.maxSkipReports) out.skipped.emplace_back(err.what());
      }
      ++result.numRows;
    }
    ++rowIndex;
  }
  out.bytes += lastTakenEnd > firstTaken ? lastTakenEnd - firstTaken : 0;

  // Only a rank that read to the end knows the file's row count: it checks the side files.
  if (result.reachedEnd && spec.hasWeights && rowIndex != spec.numWeights) {
    throw Error(ErrorCode::kInvalidArgument, spec.weightsName + " has " + std::to_string(spec.numWeights) +
                                                 " weights but " + spec.name + " has " + std::to_string(rowIndex) + " rows");
  }
  if (result.reachedEnd && spec.hasGroups && rowIndex != groupTotal) {
    throw Error(ErrorCode::kInvalidArgument, spec.groupsName + " has group sizes for " + std::to_string(groupTotal) +
                                                 " rows but " + spec.name + " has " + std::to_string(rowIndex) + " rows");
  }
  return result;
}

namespace {

// keyIds: featureIds[k] = the index of ids64[k] among the rank's distinct ids (first-seen
// order, in `keys`), through an open-addressing table of twice the non-zeros' power of two.
void compactKeys(CsrOutput& out) {
  const size_t nnz = out.ids64.size();
  size_t cap = 16;
  while (cap < 2 * nnz) cap <<= 1;
  std::vector<uint32_t> slot(cap, 0xffffffffu);  // index into keys, or empty
  const size_t mask = cap - 1;
  for (size_t k = 0; k < nnz; ++k) {
    const uint64_t id = out.ids64[k];
    size_t h = ps::mix64(id) & mask;
    while (slot[h] != 0xffffffffu && out.keys[slot[h]] != id) h = (h + 1) & mask;
    if (slot[h] == 0xffffffffu) {
      slot[h] = static_cast<uint32_t>(out.keys.size());
      out.keys.push(id);
    }
    out.featureIds[k] = slot[h];
  }
  out.maxFeatureId = static_cast<int64_t>(out.keys.size()) - 1;
  out.keys.shrinkToFit();
}

}  // namespace

void finish(CsrOutput& out) {
  if (out.keyIds) compactKeys(out);
  if (out.rowPtr.size() == 0) out.rowPtr.push(0);
  out.rowPtr.shrinkToFit();
  out.featureIds.shrinkToFit();
  out.values.shrinkToFit();
  out.labels.shrinkToFit();
  if (out.anyQid) out.qids.shrinkToFit();
  if (out.anyWeight) out.weights.shrinkToFit();
}

}  // namespace shoal::data
