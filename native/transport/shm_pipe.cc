#include "transport/shm_pipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <random>

#include "common/error.h"
#include "transport/socket.h"

namespace shoal {
namespace transport {

namespace {
constexpr uint64_t kSegmentMagic = 0x31504D484C4F4853ULL;  // "SHOLHMP1"
constexpr size_t kControlOffset = 64;
constexpr size_t kDataOffset = 4096;

struct SegmentHeader {
  uint64_t magic;
  uint64_t ringBytes;
  uint8_t cookie[ShmPipe::kCookieBytes];
};
static_assert(sizeof(SegmentHeader) <= kControlOffset, "segment header fits its line");
static_assert(kControlOffset + 2 * sizeof(RingControl) <= kDataOffset, "controls fit the first page");

size_t segmentBytes(size_t ringBytes) { return kDataOffset + 2 * ringBytes; }

void checkRingBytes(size_t ringBytes) {
  if (ringBytes < ShmPipe::kMinRingBytes || ringBytes > ShmPipe::kMaxRingBytes || ringBytes % 4096 != 0) {
    throw Error(ErrorCode::kInvalidArgument, "shared-memory ring size must be a multiple of 4096 in [4 KiB, 1 GiB], got " +
                                                 std::to_string(ringBytes));
  }
}

void* mapShared(int fd, size_t bytes, const std::string& name) {
  // MAP_POPULATE: fault every page in now, not in the middle of the first collective.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) throw Error(ErrorCode::kIo, "cannot map shared memory " + name + ": " + errnoText(errno));
  return p;
}
}  // namespace

void futexWait(std::atomic<uint32_t>& word, uint32_t expected, int64_t timeoutUs) {
  if (timeoutUs <= 0) return;
  const timespec ts{static_cast<time_t>(timeoutUs / 1000000), static_cast<long>(timeoutUs % 1000000) * 1000};
  (void)syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futexWake(std::atomic<uint32_t>& word) {
  (void)syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

void wakeFutexSleeper(std::atomic<uint32_t>& flag) {
  uint32_t expected = kWaitOnFutex;
  if (flag.compare_exchange_strong(expected, kNotWaiting, std::memory_order_seq_cst)) futexWake(flag);
}

// Both sides publish their counter every kPublishBytes of a long copy, not once at its end:
// the peer then copies the first bytes out (or reuses the space) while the rest go in, and a
// 1 MiB message costs about one copy's time instead of two copies one after the other.
// copyPiece(ringOffset, done, piece) copies one piece; `counter` (head or tail) starts at `at`.
namespace {
template <typename CopyPiece>
void copyPublishing(std::atomic<uint64_t>& counter, uint64_t at, size_t n, size_t cap, CopyPiece copyPiece) {
  for (size_t done = 0; done < n;) {
    const size_t offset = static_cast<size_t>(at % cap);
    const size_t piece = std::min({n - done, cap - offset, ShmRing::kPublishBytes});
    copyPiece(offset, done, piece);
    done += piece;
    at += piece;
    counter.store(at, std::memory_order_release);
  }
}
}  // namespace

size_t ShmRing::write(const void* src, size_t len) {
  const uint64_t head = c_->head.load(std::memory_order_relaxed);
  const uint64_t tail = c_->tail.load(std::memory_order_acquire);
  const size_t n = std::min(len, cap_ - static_cast<size_t>(head - tail));
  const auto* from = static_cast<const uint8_t*>(src);
  copyPublishing(c_->head, head, n, cap_, [&](size_t offset, size_t done, size_t piece) { std::memcpy(data_ + offset, from + done, piece); });
  return n;
}

size_t ShmRing::read(void* dst, size_t len) {
  const uint64_t tail = c_->tail.load(std::memory_order_relaxed);
  const uint64_t head = c_->head.load(std::memory_order_acquire);
  const size_t n = std::min(len, static_cast<size_t>(head - tail));
  auto* to = static_cast<uint8_t*>(dst);
  copyPublishing(c_->tail, tail, n, cap_, [&](size_t offset, size_t done, size_t piece) { std::memcpy(to + done, data_ + offset, piece); });
  return n;
}

size_t ShmRing::readable() const {
  return static_cast<size_t>(c_->head.load(std::memory_order_acquire) - c_->tail.load(std::memory_order_relaxed));
}

size_t ShmRing::writable() const {
  return cap_ - static_cast<size_t>(c_->head.load(std::memory_order_relaxed) - c_->tail.load(std::memory_order_acquire));
}

ShmPipe::ShmPipe(void* base, size_t bytes, size_t ringBytes, bool creator) : base_(base), bytes_(bytes) {
  auto* b = static_cast<uint8_t*>(base);
  auto* c0 = reinterpret_cast<RingControl*>(b + kControlOffset);
  auto* c1 = c0 + 1;
  ShmRing r0(c0, b + kDataOffset, ringBytes);              // creator -> opener
  ShmRing r1(c1, b + kDataOffset + ringBytes, ringBytes);  // opener -> creator
  out_ = creator ? r0 : r1;
  in_ = creator ? r1 : r0;
}

ShmPipe::~ShmPipe() { munmap(base_, bytes_); }

namespace {
// A segment's name is unlinked as soon as its peer has opened it, or setup failed, so a name
// outlives setup only when its creator was killed in the middle (SIGKILL, the OOM killer),
// and its pages stay in /dev/shm (RAM) until reboot. A name this old whose creator is gone is
// such an orphan: no setup waits that long, and the age keeps a live creator in another PID
// namespace that shares /dev/shm (it looks gone from here) safe.
constexpr time_t kOrphanAgeSeconds = 30 * 60;

// Removes this user's orphaned segments ("shoal-<pid>-<hex>", <pid> gone, older than
// kOrphanAgeSeconds). Best effort: any error just leaves a name where it is.
void removeOrphanedSegments() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return;
  const time_t now = std::time(nullptr);
  while (const dirent* e = readdir(dir)) {
    const char* n = e->d_name;
    if (std::strncmp(n, "shoal-", 6) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(n + 6, &end, 10);
    if (end == n + 6 || *end != '-' || pid <= 0) continue;
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to ask about
    struct stat st {};
    if (fstatat(dirfd(dir), n, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) continue;
    if (now - st.st_mtime < kOrphanAgeSeconds) continue;
    shm_unlink((std::string("/") + n).c_str());
  }
  closedir(dir);
}
}  // namespace

std::unique_ptr<ShmPipe> ShmPipe::create(size_t ringBytes, const uint8_t cookie[kCookieBytes], std::string* name) {
  checkRingBytes(ringBytes);
  static std::once_flag swept;  // once per process, before its first segment
  std::call_once(swept, removeOrphanedSegments);
  std::random_device rd;
  char buf[64];
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    std::snprintf(buf, sizeof(buf), "/shoal-%d-%08x%08x%08x", static_cast<int>(getpid()), rd(), rd(), rd());
    // 0600 and O_EXCL: only our uid can open it, and we never adopt someone else's segment.
    fd = shm_open(buf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) throw Error(ErrorCode::kIo, std::string("shm_open failed: ") + errnoText(errno));
  }
  if (fd < 0) throw Error(ErrorCode::kIo, "shm_open: no free segment name");
  *name = buf;
  const size_t bytes = segmentBytes(ringBytes);
  void* base = nullptr;
  try {
    // Reserve the pages now: a full /dev/shm (64 MiB in a default container) must fail here,
    // where auto mode falls back to TCP, not as SIGBUS on a later write.
    const int rc = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    if (rc != 0) {
      throw Error(ErrorCode::kIo, "cannot reserve " + std::to_string(bytes) + " bytes of shared memory for " + *name + ": " + errnoText(rc));
    }
    base = mapShared(fd, bytes, *name);
  } catch (...) {
    closeFd(fd);
    unlink(*name);
    throw;
  }
  closeFd(fd);  // the mapping keeps the memory
  auto* h = static_cast<SegmentHeader*>(base);
  h->magic = kSegmentMagic;
  h->ringBytes = ringBytes;
  std::memcpy(h->cookie, cookie, kCookieBytes);
  auto* controls = reinterpret_cast<RingControl*>(static_cast<uint8_t*>(base) + kControlOffset);
  new (controls) RingControl();
  new (controls + 1) RingControl();
  return std::unique_ptr<ShmPipe>(new ShmPipe(base, bytes, ringBytes, true));
}

std::unique_ptr<ShmPipe> ShmPipe::open(const std::string& name, size_t ringBytes, const uint8_t cookie[kCookieBytes]) {
  checkRingBytes(ringBytes);
  if (name.size() < 2 || name.size() > 60 || name[0] != '/' || name.find('/', 1) != std::string::npos) {
    throw Error(ErrorCode::kIo, "bad shared-memory segment name");
  }
  int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open shared memory " + name + ": " + errnoText(errno));
  const size_t bytes = segmentBytes(ringBytes);
  struct stat st {};
  void* base = nullptr;
  try {
    // The size must be what we map, or touching the end would raise SIGBUS.
    if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != bytes) {
      throw Error(ErrorCode::kIo, "shared memory " + name + " has the wrong size");
    }
    base = mapShared(fd, bytes, name);
  } catch (...) {
    closeFd(fd);
    throw;
  }
  closeFd(fd);
  const auto* h = static_cast<const SegmentHeader*>(base);
  if (h->magic != kSegmentMagic || h->ringBytes != ringBytes || std::memcmp(h->cookie, cookie, kCookieBytes) != 0) {
    munmap(base, bytes);
    throw Error(ErrorCode::kIo, "shared memory " + name + " is not the peer's segment (cookie mismatch)");
  }
  return std::unique_ptr<ShmPipe>(new ShmPipe(base, bytes, ringBytes, false));
}

void ShmPipe::unlink(const std::string& name) { shm_unlink(name.c_str()); }

}  // namespace transport
}  // namespace shoal
