// ShmPipe: a two-way byte stream between two processes on one host, through one shared
// mapping. Each direction is a single-producer single-consumer ring: the writer copies bytes
// in and publishes a running byte count (head), the reader copies them out and publishes its
// own (tail); nothing else is shared, so no locks and no system calls move the data.
//
// The Link sends exactly the frames it would send over TCP through it (48-byte header then
// payload), so every header check works unchanged. The TCP connection stays open beside it
// for liveness, abort/goodbye frames and long waits. A side that runs out of data or space
// sets its "waiting" flag and sleeps; the other side sees the flag after it moves the head or
// tail and wakes it. A short wait on one ring sleeps on the flag itself (a futex word in the
// shared mapping: one system call on each side); a longer one, or one on several peers, sleeps
// in poll() on the sockets and is woken by a wake frame (Link).
//
// Setup (runtime/transport_select.cc): the lower rank creates the segment under an unguessable
// name with mode 0600 and tells the name and a cookie to the peer over the authenticated TCP
// connection; the peer opens it, checks the cookie and answers; the creator then unlinks the
// name, so only the two mappings remain. A process's first create() also removes names left
// by creators killed mid-setup (removeOrphanedSegments).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace shoal {
namespace transport {

// One direction's shared state; each counter on its own cache line so the two sides never
// write the same line.
struct alignas(64) RingControl {
  std::atomic<uint64_t> head{0};  // bytes ever written (writer)
  char pad0[56];
  std::atomic<uint64_t> tail{0};  // bytes ever read (reader)
  char pad1[56];
  std::atomic<uint32_t> readerWaiting{0};  // reader sleeps until head moves (a WaitMode)
  char pad2[60];
  std::atomic<uint32_t> writerWaiting{0};  // writer sleeps until tail moves (a WaitMode)
  char pad3[60];
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared counters must be lock-free");
static_assert(sizeof(RingControl) == 256, "RingControl layout");
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "a waiting flag is a futex word");

// How a side sleeps, stored in its waiting flag so the other side knows how to wake it.
enum WaitMode : uint32_t {
  kNotWaiting = 0,
  kWaitInPoll = 1,   // in poll() on the TCP connection: send a wake frame
  kWaitOnFutex = 2,  // in futex_wait on the flag: FUTEX_WAKE it
};
// futex_wait on a flag in the shared mapping (no FUTEX_PRIVATE_FLAG: the peer process wakes
// it) while it still holds `expected`, for at most timeoutUs. Returns on wake, timeout,
// signal or a changed value; the caller looks at the rings again either way.
void futexWait(std::atomic<uint32_t>& word, uint32_t expected, int64_t timeoutUs);
void futexWake(std::atomic<uint32_t>& word);
// Wakes a side asleep in futexWait on `flag` (clearing it first, so a wait about to start
// returns at once); a flag in any other mode is left for its own wake-up path.
void wakeFutexSleeper(std::atomic<uint32_t>& flag);

// A view of one direction inside the mapping.
class ShmRing {
 public:
  ShmRing() = default;
  ShmRing(RingControl* control, uint8_t* data, size_t capacity) : c_(control), data_(data), cap_(capacity) {}
  // Copies up to len bytes in/out; returns how many (0: full/empty). Never waits.
  size_t write(const void* src, size_t len);
  size_t read(void* dst, size_t len);
  size_t readable() const;
  size_t writable() const;
  RingControl& control() { return *c_; }
  // A long copy publishes its progress (head or tail) at least this often.
  static constexpr size_t kPublishBytes = 64 << 10;

 private:
  RingControl* c_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t cap_ = 0;
};

class ShmPipe {
 public:
  static constexpr size_t kMinRingBytes = 4096;
  static constexpr size_t kMaxRingBytes = size_t(1) << 30;
  static constexpr size_t kCookieBytes = 32;

  // Creator side: a new segment with two rings of ringBytes each. *name gets its name.
  static std::unique_ptr<ShmPipe> create(size_t ringBytes, const uint8_t cookie[kCookieBytes], std::string* name);
  // Opener side: maps `name`; throws unless it holds the same cookie and ring size.
  static std::unique_ptr<ShmPipe> open(const std::string& name, size_t ringBytes, const uint8_t cookie[kCookieBytes]);
  static void unlink(const std::string& name);
  ~ShmPipe();
  ShmPipe(const ShmPipe&) = delete;
  ShmPipe& operator=(const ShmPipe&) = delete;

  ShmRing& out() { return out_; }  // what we write
  ShmRing& in() { return in_; }    // what the peer writes

 private:
  ShmPipe(void* base, size_t bytes, size_t ringBytes, bool creator);
  void* base_;
  size_t bytes_;
  ShmRing out_, in_;
};

}  // namespace transport
}  // namespace shoal
