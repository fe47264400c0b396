// FileSource, MemorySource, GzipSource and LineReader (see byte_source.h).
#include "data/byte_source.h"

#include <fcntl.h>     // for open
#include <sys/stat.h>  // for fstat
#include <unistd.h>    // for pread, read, close
#include <zlib.h>      // resolved against the zlib node itself exports (or the system's)

#include <algorithm>
#include <cerrno>
#include <cstring>  // for memchr, memmove, strerror

#include "common/error.h"

namespace shoal::data {

FileSource::FileSource(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(ErrorCode::kIo, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::kIo, path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::kIo, path + ": not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

size_t FileSource::read(uint64_t offset, char* dst, size_t n) {
  if (offset >= size_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, path_ + ": read failed: " + std::strerror(errno));
    }
    // The size was fixed at open, so a short read means the file was truncated under us.
    if (r == 0) throw Error(ErrorCode::kIo, path_ + ": file shrank while being read");
    done += static_cast<size_t>(r);
  }
  return done;
}

size_t MemorySource::read(uint64_t offset, char* dst, size_t n) {
  if (offset >= size_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  std::memcpy(dst, data_ + offset, n);
  return n;
}

namespace {

// How much decompressed text a GzipSource keeps behind the last read, and how much it
// inflates (and reads) per step.
constexpr size_t kGzipKeepBytes = size_t{4} << 20;
constexpr size_t kGzipStepBytes = size_t{1} << 20;

}  // namespace

struct GzipSource::Inflater {
  int fd = -1;
  z_stream zs{};
  bool initialized = false;
  bool inputDone = false;  // the compressed file has no more bytes
  std::vector<unsigned char> in = std::vector<unsigned char>(256 * 1024);

  ~Inflater() {
    if (initialized) inflateEnd(&zs);
    if (fd >= 0) ::close(fd);
  }
};

GzipSource::GzipSource(const std::string& path) : path_(path) {
  // Open and check once here, so a missing file is reported before any parsing.
  FileSource probe(path);
  (void)probe;
  restart();
}

GzipSource::~GzipSource() = default;

std::unique_ptr<GzipSource::Inflater> GzipSource::openInflater() const {
  auto z = std::make_unique<Inflater>();
  z->fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (z->fd < 0) throw Error(ErrorCode::kIo, path_ + ": cannot open: " + std::strerror(errno));
  // 15 + 16: gzip wrapper only (a zlib or raw stream is not a .gz file).
  if (inflateInit2(&z->zs, 15 + 16) != Z_OK) throw Error(ErrorCode::kIo, path_ + ": cannot start zlib");
  z->initialized = true;
  return z;
}

void GzipSource::restart() {
  z_ = openInflater();
  kept_.clear();
  keptStart_ = 0;
  keptNewlineBase_ = 0;
  ended_ = false;
}

bool GzipSource::readInput(Inflater& z) {
  ssize_t r;
  do r = ::read(z.fd, z.in.data(), z.in.size());
  while (r < 0 && errno == EINTR);
  if (r < 0) throw Error(ErrorCode::kIo, path_ + ": read failed: " + std::strerror(errno));
  if (r == 0) z.inputDone = true;
  z.zs.next_in = z.in.data();
  z.zs.avail_in = static_cast<uInt>(r);
  return r > 0;
}

bool GzipSource::inflateMore(Inflater& z, std::vector<char>& out, size_t maxBytes) {
  const size_t before = out.size();
  out.resize(before + maxBytes);
  z.zs.next_out = reinterpret_cast<Bytef*>(out.data() + before);
  z.zs.avail_out = static_cast<uInt>(maxBytes);
  bool more = true;
  while (z.zs.avail_out > 0) {
    if (z.zs.avail_in == 0 && !z.inputDone) readInput(z);
    const int rc = ::inflate(&z.zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow (as from `cat a.gz b.gz`): start over on the rest.
      if (z.zs.avail_in == 0 && (z.inputDone || !readInput(z))) {
        more = false;
        break;
      }
      inflateReset(&z.zs);
      continue;
    }
    if (rc == Z_BUF_ERROR && z.zs.avail_in == 0 && z.inputDone) {
      throw Error(ErrorCode::kIo, path_ + ": cannot decompress: unexpected end of file (truncated gzip data)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      throw Error(ErrorCode::kIo, path_ + ": cannot decompress: " + (z.zs.msg != nullptr ? z.zs.msg : "invalid gzip data"));
    }
  }
  out.resize(before + (maxBytes - z.zs.avail_out));
  return more;
}

uint64_t GzipSource::size() {
  if (!sizeKnown_) {
    // One pass of its own, so the reading position is not disturbed.
    std::unique_ptr<Inflater> z = openInflater();
    std::vector<char> scratch;
    uint64_t total = 0;
    bool more = true;
    while (more) {
      scratch.clear();
      more = inflateMore(*z, scratch, kGzipStepBytes);
      total += scratch.size();
    }
    size_ = total;
    sizeKnown_ = true;
  }
  return size_;
}

size_t GzipSource::read(uint64_t offset, char* dst, size_t n) {
  if (offset < keptStart_) restart();
  const uint64_t want = offset + n;
  while (!ended_ && keptStart_ + kept_.size() < want) {
    // Drop what lies more than kGzipKeepBytes behind `offset`, in large steps so that the
    // memmove stays cheap per byte.
    const uint64_t keepFrom = offset > kGzipKeepBytes ? offset - kGzipKeepBytes : 0;
    if (keepFrom > keptStart_) {
      const size_t drop = static_cast<size_t>(std::min<uint64_t>(keepFrom - keptStart_, kept_.size()));
      if (drop >= kept_.size() / 2) {
        const auto cut = kept_.begin() + static_cast<std::ptrdiff_t>(drop);
        keptNewlineBase_ += static_cast<uint64_t>(std::count(kept_.begin(), cut, '\n'));
        kept_.erase(kept_.begin(), cut);
        keptStart_ += drop;
      }
    }
    ended_ = !inflateMore(*z_, kept_, kGzipStepBytes);
  }
  const uint64_t keptEnd = keptStart_ + kept_.size();
  if (offset >= keptEnd) return 0;
  const size_t got = static_cast<size_t>(std::min<uint64_t>(n, keptEnd - offset));
  std::memcpy(dst, kept_.data() + (offset - keptStart_), got);
  return got;
}

LineReader::LineReader(ByteSource& source, uint64_t begin, size_t windowBytes) : source_(source) {
  if (const char* all = source.contiguous()) {
    begin = std::min(begin, source.size());
    // Memory needs no window: lines point straight into it.
    atEnd_ = true;
    base_ = all;
    windowStart_ = 0;
    pos_ = static_cast<size_t>(begin);
    len_ = static_cast<size_t>(source.size());
  } else {
    window_.resize(std::max<size_t>(windowBytes, 4096));
    base_ = window_.data();
    windowStart_ = begin;
  }
}

void LineReader::refill() {
  // Keep the unread tail, then fill the rest of the window; a full window that still holds
  // no '\n' is one long line, so the window doubles.
  const size_t tail = len_ - pos_;
  if (tail > 0 && pos_ > 0) std::memmove(window_.data(), window_.data() + pos_, tail);
  windowStart_ += pos_;
  pos_ = 0;
  len_ = tail;
  if (len_ == window_.size()) window_.resize(window_.size() * 2);
  base_ = window_.data();
  const size_t want = window_.size() - len_;
  const size_t got = source_.read(windowStart_ + len_, window_.data() + len_, want);
  len_ += got;
  // Sources return short reads only at their end.
  if (got < want) atEnd_ = true;
}

bool LineReader::next(Line& line) {
  for (;;) {
    const char* start = base_ + pos_;
    const size_t avail = len_ - pos_;
    const void* nl = avail > 0 ? std::memchr(start, '\n', avail) : nullptr;
    if (nl != nullptr) {
      line.begin = start;
      line.end = static_cast<const char*>(nl);
      line.offset = windowStart_ + pos_;
      pos_ += static_cast<size_t>(line.end - start) + 1;
      return true;
    }
    if (atEnd_) {
      // The last line of the source has no '\n'.
      if (avail == 0) return false;
      line.begin = start;
      line.end = start + avail;
      line.offset = windowStart_ + pos_;
      pos_ = len_;
      return true;
    }
    refill();
  }
}

uint64_t countNewlines(ByteSource& source, uint64_t from, uint64_t to) {
  uint64_t count = 0;
  if (const char* all = source.contiguous()) {
    to = std::min(to, source.size());
    if (from >= to) return 0;
    const char* p = all + from;
    const char* e = all + to;
    while (p < e && (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(e - p)))) != nullptr) {
      ++count;
      ++p;
    }
    return count;
  }
  std::vector<char> buf(size_t{1} << 20);
  for (uint64_t at = from; at < to;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - at));
    const size_t n = source.read(at, buf.data(), want);
    count += static_cast<uint64_t>(std::count(buf.data(), buf.data() + n, '\n'));
    at += n;
    if (n < want) break;  // the end of the source
  }
  return count;
}

}  // namespace shoal::data
