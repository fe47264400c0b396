#include "psnet/snapshot.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "transport/socket.h"

namespace shoal {
namespace psnet {

namespace {

constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'S', 'N', 'P'};
constexpr uint32_t kVersion = 1;
constexpr const char* kSuffix = ".shard";

// Word-at-a-time multiply-rotate hash: fast enough to checksum GBs, catches flipped bits
// and truncation (it is not a cryptographic MAC).
struct Checksum {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  uint64_t tail = 0;
  unsigned tailBytes = 0;
  void add(const void* data, size_t len) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < len; ++i) {
      tail |= uint64_t(p[i]) << (8 * tailBytes);
      if (++tailBytes == 8) {
        mix(tail);
        tail = 0;
        tailBytes = 0;
      }
    }
  }
  void mix(uint64_t w) {
    h ^= w * 0xBF58476D1CE4E5B9ull;
    h = (h << 27 | h >> 37) * 0x94D049BB133111EBull;
  }
  uint64_t finish() {
    mix(tail ^ (uint64_t(tailBytes) << 56));
    return h ^ (h >> 31);
  }
};

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
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
    sum_.add(data, len);
    if (std::fwrite(data, 1, len, f_) != len) throw Error(ErrorCode::kIo, "write to " + path_ + " failed: " + transport::errnoText(errno));
  }
  uint64_t close() {
    const uint64_t c = sum_.finish();
    if (std::fwrite(&c, 1, 8, f_) != 8 || std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0) {
      throw Error(ErrorCode::kIo, "write to " + path_ + " failed: " + transport::errnoText(errno));
    }
    std::fclose(f_);
    f_ = nullptr;
    return c;
  }

 private:
  std::string path_;
  FILE* f_;
  Checksum sum_;
};

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
    info.checksum = hex(w.close());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw Error(ErrorCode::kIo, "cannot rename " + tmp + " to " + path + ": " + transport::errnoText(errno));
  }
  info.file = base;
  info.keys = rows;
  return info;
}

void forEachShardFile(const std::string& dir, const std::function<void(const std::string&)>& fn) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw Error(ErrorCode::kIo, "cannot open snapshot directory " + dir + ": " + transport::errnoText(errno));
  std::vector<std::string> files;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() > 6 && n.compare(n.size() - 6, 6, kSuffix) == 0) files.push_back(dir + "/" + n);
  }
  ::closedir(d);
  for (const auto& f : files) fn(f);
}

void readShard(const std::string& file,
               const std::function<ps::ShardStore*(const std::string& table, const TableSpec& spec)>& getStore,
               const std::function<bool(uint64_t)>& keep, size_t* loaded) {
  FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) throw Error(ErrorCode::kIo, "cannot read snapshot file " + file + ": " + transport::errnoText(errno));
  std::vector<uint8_t> bytes;
  {
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    bytes.resize(size > 0 ? static_cast<size_t>(size) : 0);
    const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    if (got != bytes.size()) throw Error(ErrorCode::kIo, "cannot read snapshot file " + file);
  }
  const size_t fixed = 8 + 4 + sizeof(TableSpec);
  if (bytes.size() < fixed + 12 + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    throw Error(ErrorCode::kIo, "snapshot file " + file + " is not a Shoal snapshot or is truncated");
  }
  Checksum sum;
  sum.add(bytes.data(), bytes.size() - 8);
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  TableSpec spec;
  std::memcpy(&spec, bytes.data() + 12, sizeof(spec));
  size_t off = fixed;
  if (off + spec.nameBytes + 12 > bytes.size() - 8) throw Error(ErrorCode::kIo, "snapshot file " + file + " is truncated");
  const std::string name(reinterpret_cast<const char*>(bytes.data() + off), spec.nameBytes);
  off += spec.nameBytes;
  uint64_t rows;
  uint32_t rowFloats;
  std::memcpy(&rows, bytes.data() + off, 8);
  std::memcpy(&rowFloats, bytes.data() + off + 8, 4);
  off += 12;
  const uint64_t need = rows * (8 + uint64_t(rowFloats) * 4);
  if (off + need + 8 != bytes.size()) {
    throw Error(ErrorCode::kIo, "snapshot file " + file + " is truncated or padded: " + std::to_string(rows) + " rows need " +
                                    std::to_string(off + need + 8) + " bytes, the file has " + std::to_string(bytes.size()));
  }
  if (sum.finish() != stored) throw Error(ErrorCode::kIo, "snapshot file " + file + " is corrupt (checksum mismatch)");
  if (!getStore) return;  // verification only
  ps::ShardStore* store = getStore(name, spec);
  if (store->rowFloats() != rowFloats) throw Error(ErrorCode::kIo, "snapshot file " + file + " has rows of " + std::to_string(rowFloats) + " floats, the table has " + std::to_string(store->rowFloats()));
  // Files hold rows in hash order: size the table for the kept rows first, or inserting
  // them in that order into a growing table makes long probe runs (see server_sync.cc).
  size_t kept = 0;
  for (uint64_t i = 0, o = off; i < rows; ++i, o += 8 + rowFloats * 4) {
    uint64_t key;
    std::memcpy(&key, bytes.data() + o, 8);
    if (keep(key)) ++kept;
  }
  store->reserve(store->size() + kept);
  std::vector<float> row(rowFloats);
  for (uint64_t i = 0; i < rows; ++i) {
    uint64_t key;
    std::memcpy(&key, bytes.data() + off, 8);
    if (keep(key)) {
      std::memcpy(row.data(), bytes.data() + off + 8, rowFloats * 4);
      store->putRaw(key, row.data());
      ++*loaded;
    }
    off += 8 + rowFloats * 4;
  }
}

}  // namespace psnet
}  // namespace shoal
