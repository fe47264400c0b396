// FileSource, MemorySource and LineReader (see byte_source.h).
#include "data/byte_source.h"

#include <fcntl.h>     // for open
#include <sys/stat.h>  // for fstat
#include <unistd.h>    // for pread, close

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

LineReader::LineReader(ByteSource& source, uint64_t begin, size_t windowBytes) : source_(source) {
  begin = std::min(begin, source.size());
  if (const char* all = source.contiguous()) {
    // Memory needs no window: lines point straight into it.
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
  len_ += source_.read(windowStart_ + len_, window_.data() + len_, window_.size() - len_);
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
    if (windowStart_ + len_ >= source_.size()) {
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
  to = std::min(to, source.size());
  uint64_t count = 0;
  if (from >= to) return 0;
  if (const char* all = source.contiguous()) {
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
    const size_t n = source.read(at, buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), to - at)));
    if (n == 0) break;
    count += static_cast<uint64_t>(std::count(buf.data(), buf.data() + n, '\n'));
    at += n;
  }
  return count;
}

}  // namespace shoal::data
