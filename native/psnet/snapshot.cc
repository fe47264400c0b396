#include "psnet/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "common/error.h"
#include "ps/table_config.h"
#include "psnet/table_spec.h"
#include "transport/socket.h"

namespace shoal {
namespace psnet {

namespace {

constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'S', 'N', 'P'};
constexpr uint32_t kVersion = 2;
constexpr const char* kSuffix = ".shard";

// Table names are at most 200 characters (lib/ps/client.ts), up to 4 UTF-8 bytes each.
constexpr uint32_t kMaxNameBytes = 800;
constexpr size_t kFixedBytes = 8 + 4 + sizeof(TableSpec);

std::string hexOf(const Digest& d) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// A table name read from a file, for messages: control bytes (a NUL would cut the JS error
// message short) are shown as \xNN.
std::string quoted(const std::string& name) {
  std::string out = "'";
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

bool digestFromHex(const std::string& text, Digest* out) {
  if (text.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = text[2 * i + k];
      const int nib = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (nib < 0) return false;
      v = v * 16 + nib;
    }
    (*out)[i] = static_cast<uint8_t>(v);
  }
  return true;
}

// Table names become file names: keep [A-Za-z0-9_-], hex-escape the rest.
std::string fileSafe(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02x", c);
      out += buf;
    }
  }
  return out;
}

void mkdirs(const std::string& dir) {
  std::string path;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      if (!path.empty() && ::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
        throw Error(ErrorCode::kIo, "cannot create snapshot directory " + path + ": " + transport::errnoText(errno));
      }
    }
    if (i < dir.size()) path += dir[i];
  }
}

class Writer {
 public:
  explicit Writer(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) throw Error(ErrorCode::kIo, "cannot write snapshot file " + path + ": " + transport::errnoText(errno));
  }
  ~Writer() {
    if (f_) std::fclose(f_);
  }
  void put(const void* data, size_t len) {
    sum_.update(data, len);
    bytes_ += len;
    if (std::fwrite(data, 1, len, f_) != len) throw Error(ErrorCode::kIo, "write to " + path_ + " failed: " + transport::errnoText(errno));
  }
  // Flushes to disk; returns the file's SHA-256.
  Digest close() {
    if (std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0) {
      throw Error(ErrorCode::kIo, "write to " + path_ + " failed: " + transport::errnoText(errno));
    }
    std::fclose(f_);
    f_ = nullptr;
    return sum_.finish();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  std::string path_;
  FILE* f_;
  Sha256 sum_;
  uint64_t bytes_ = 0;
};

// Reads a whole file. With a manifest size, a file of another size is refused before
// anything is allocated for it.
std::vector<uint8_t> readFile(const std::string& path, const uint64_t* expectBytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot read snapshot file " + path + ": " + transport::errnoText(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(ErrorCode::kIo, "cannot stat snapshot file " + path + ": " + transport::errnoText(errno));
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::kIo, "snapshot file " + path + " is not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (expectBytes && size != *expectBytes) {
    throw Error(ErrorCode::kIo, "snapshot file " + path + " is " + std::to_string(size) + " bytes, the manifest says " +
                                    std::to_string(*expectBytes) + (size < *expectBytes ? " (truncated)" : " (extended)"));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(ErrorCode::kIo, "cannot read snapshot file " + path + (n < 0 ? ": " + transport::errnoText(errno) : ": it shrank while being read"));
    got += static_cast<size_t>(n);
  }
  return bytes;
}

// A shard file's structure, checked: every count is compared with the bytes that are there
// (no multiplication that can overflow), the spec is a valid table spec and the row width
// is the one that spec implies.
struct ParsedShard {
  ShardSummary summary;
  size_t rowsOffset = 0;
};

ParsedShard parseShard(const std::vector<uint8_t>& bytes, const std::string& file) {
  const auto bad = [&](const std::string& why) { return Error(ErrorCode::kIo, "snapshot file " + file + " " + why); };
  if (bytes.size() < 12 || std::memcmp(bytes.data(), kMagic, 8) != 0) throw bad("is not a Shoal snapshot file (bad magic)");
  uint32_t version;
  std::memcpy(&version, bytes.data() + 8, 4);
  if (version != kVersion) {
    throw bad("has format version " + std::to_string(version) + ", this build reads " + std::to_string(kVersion) +
              (version == 1 ? " (written by an older Shoal: save it again with this one)" : ""));
  }
  if (bytes.size() < kFixedBytes) throw bad("is truncated (" + std::to_string(bytes.size()) + " bytes, the header alone is " + std::to_string(kFixedBytes) + ")");
  ParsedShard p;
  ShardSummary& s = p.summary;
  std::memcpy(&s.spec, bytes.data() + 12, sizeof(TableSpec));
  size_t off = kFixedBytes;
  const size_t left = bytes.size() - off;
  if (s.spec.nameBytes == 0 || s.spec.nameBytes > kMaxNameBytes) throw bad("has a table name of " + std::to_string(s.spec.nameBytes) + " bytes (1 to " + std::to_string(kMaxNameBytes) + " allowed)");
  if (left < size_t{s.spec.nameBytes} + 12) throw bad("is truncated (it ends inside the table name or row count)");
  s.table.assign(reinterpret_cast<const char*>(bytes.data() + off), s.spec.nameBytes);
  off += s.spec.nameBytes;
  std::memcpy(&s.rows, bytes.data() + off, 8);
  std::memcpy(&s.rowFloats, bytes.data() + off + 8, 4);
  off += 12;
  if (s.spec.consistency > 2 || s.spec.staleness < 0) throw bad("holds table " + quoted(s.table) + " with an invalid consistency model");
  ps::TableConfig config;
  try {
    config = toTableConfig(s.spec);
    ps::validate(config);
  } catch (const Error& e) {
    throw bad("holds table " + quoted(s.table) + " with an invalid spec: " + e.what());
  }
  const uint32_t width = ps::rowFloatsPerKey(config);
  if (s.rowFloats != width) {
    throw bad("has rows of " + std::to_string(s.rowFloats) + " floats, but its table spec (" + describeSpec(s.spec) + ") implies " + std::to_string(width));
  }
  const uint64_t rowBytes = 8 + uint64_t{width} * 4;  // width <= a few * kMaxDim: no overflow
  const uint64_t body = bytes.size() - off;
  if (body % rowBytes != 0 || body / rowBytes != s.rows) {
    throw bad("says it holds " + std::to_string(s.rows) + " rows of " + std::to_string(rowBytes) + " bytes, but " + std::to_string(body) +
              " bytes follow the header (truncated, padded or a corrupt count)");
  }
  p.rowsOffset = off;
  return p;
}

// The listed file, read and checked against the manifest (size, SHA-256), then parsed.
std::vector<uint8_t> readListedShard(const std::string& dir, const ListedShard& shard, ParsedShard* parsed) {
  const std::string path = dir + "/" + shard.file;
  std::vector<uint8_t> bytes = readFile(path, &shard.bytes);
  if (!digestEqual(sha256(bytes.data(), bytes.size()), shard.sha256)) {
    throw Error(ErrorCode::kIo, "snapshot file " + path + " does not match the manifest (SHA-256 differs: the file was changed or corrupted)");
  }
  *parsed = parseShard(bytes, path);
  return bytes;
}

bool validShardFileName(const std::string& f) {
  if (f.empty() || f.size() > 255 || f.size() <= 6 || f.compare(f.size() - 6, 6, kSuffix) != 0) return false;
  for (unsigned char c : f) {
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '%' || c == '.')) return false;
  }
  return f[0] != '.';
}

}  // namespace

uint32_t tableIdOf(const std::string& name) {
  uint32_t h = 0x811c9dc5u;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x01000193u;
  }
  return h;
}

ShardFileInfo writeShard(const std::string& dir, const std::string& table, const TableSpec& spec, const ps::ShardStore& store,
                         int serverRank, const std::function<bool(uint64_t)>& keep) {
  mkdirs(dir);
  ShardFileInfo info;
  const std::string base = fileSafe(table) + "." + std::to_string(serverRank) + kSuffix;
  const std::string path = dir + "/" + base;
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  uint64_t rows = 0;
  store.forEach([&](uint64_t key, const float*) {
    if (keep(key)) ++rows;
  });
  const uint32_t rowFloats = store.rowFloats();
  {
    Writer w(tmp);
    w.put(kMagic, 8);
    w.put(&kVersion, 4);
    TableSpec s = spec;
    s.nameBytes = static_cast<uint32_t>(table.size());
    w.put(&s, sizeof(s));
    w.put(table.data(), table.size());
    w.put(&rows, 8);
    w.put(&rowFloats, 4);
    store.forEach([&](uint64_t key, const float* row) {
      if (!keep(key)) return;
      w.put(&key, 8);
      w.put(row, rowFloats * sizeof(float));
    });
    info.bytes = w.bytes();
    info.sha256 = hexOf(w.close());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw Error(ErrorCode::kIo, "cannot rename " + tmp + " to " + path + ": " + transport::errnoText(errno));
  }
  info.file = base;
  info.keys = rows;
  return info;
}

SnapshotListing parseSnapshotListing(const std::string& text) {
  SnapshotListing listing;
  size_t at = text.find('\n');
  listing.dir = text.substr(0, at);
  if (listing.dir.empty() || listing.dir.find('\0') != std::string::npos) {
    throw Error(ErrorCode::kInvalidArgument, "snapshot listing: the first line must be the snapshot directory");
  }
  std::set<std::string> seen;
  for (size_t line = 2; at != std::string::npos && at + 1 < text.size(); ++line) {
    const size_t next = text.find('\n', at + 1);
    const std::string l = text.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    at = next;
    const auto bad = [&](const std::string& why) {
      return Error(ErrorCode::kInvalidArgument, "snapshot listing line " + std::to_string(line) + " (\"" + l.substr(0, 120) + "\"): " + why);
    };
    const size_t sp1 = l.find(' ');
    const size_t sp2 = sp1 == std::string::npos ? sp1 : l.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) throw bad("expected '<sha256> <bytes> <file>'");
    ListedShard s;
    if (!digestFromHex(l.substr(0, sp1), &s.sha256)) throw bad("the SHA-256 must be 64 lowercase hex digits");
    const std::string bytes = l.substr(sp1 + 1, sp2 - sp1 - 1);
    if (bytes.empty() || bytes.size() > 19 || bytes.find_first_not_of("0123456789") != std::string::npos) throw bad("bad byte count");
    s.bytes = std::stoull(bytes);
    s.file = l.substr(sp2 + 1);
    if (!validShardFileName(s.file)) throw bad("not a shard file name (a plain name ending in .shard)");
    if (!seen.insert(s.file).second) throw bad("the file is listed twice");
    listing.shards.push_back(std::move(s));
  }
  return listing;
}

void loadSnapshot(const SnapshotListing& listing, const StoreForTable& getStore, const std::function<bool(uint64_t)>& keep,
                  size_t* loaded) {
  ParsedShard parsed;
  for (const ListedShard& shard : listing.shards) readListedShard(listing.dir, shard, &parsed);
  if (!getStore) return;  // verification only
  for (const ListedShard& shard : listing.shards) {
    // Read again (one file in memory at a time) and re-checked: it may have changed since.
    const std::vector<uint8_t> bytes = readListedShard(listing.dir, shard, &parsed);
    const std::string path = listing.dir + "/" + shard.file;
    const ShardSummary& s = parsed.summary;
    ps::ShardStore* store = getStore(s.table, s.spec, path);
    if (store->rowFloats() != s.rowFloats) {
      throw Error(ErrorCode::kIo, "snapshot file " + path + " has rows of " + std::to_string(s.rowFloats) + " floats, the table has " + std::to_string(store->rowFloats()));
    }
    const size_t rowBytes = 8 + size_t{s.rowFloats} * 4;
    // Files hold rows in hash order: size the table for the kept rows first, or inserting
    // them in that order into a growing table makes long probe runs (see server_sync.cc).
    size_t kept = 0;
    for (size_t o = parsed.rowsOffset; o < bytes.size(); o += rowBytes) {
      uint64_t key;
      std::memcpy(&key, bytes.data() + o, 8);
      if (keep(key)) ++kept;
    }
    store->reserve(store->size() + kept);
    std::vector<float> row(s.rowFloats);
    for (size_t o = parsed.rowsOffset; o < bytes.size(); o += rowBytes) {
      uint64_t key;
      std::memcpy(&key, bytes.data() + o, 8);
      if (!keep(key)) continue;
      std::memcpy(row.data(), bytes.data() + o + 8, s.rowFloats * 4);
      store->putRaw(key, row.data());
      ++*loaded;
    }
  }
}

ShardSummary inspectShardFile(const std::string& path) {
  return parseShard(readFile(path, nullptr), path).summary;
}

}  // namespace psnet
}  // namespace shoal
