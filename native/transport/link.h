// Link: the connections of one communicator and the progress loop that moves a
// collective step's messages over them.
//
// A collective algorithm describes one step as a few Xfers (send this span to rank A,
// receive that span from rank B) and calls run(), which drives all of them at once over
// non-blocking sockets on the calling (comm) thread: sends and receives overlap, partial
// reads and writes resume where they stopped, a receive may hand finished segments to a
// callback (so reduction overlaps the rest of the transfer), and a send may be limited to
// bytes that are already available (so a chain can forward a segment while receiving the
// next). The loop spins briefly before it sleeps, because a wake-up costs more than a small
// collective. A short wait on one shared-memory peer sleeps on a futex in the shared segment;
// otherwise it sleeps in poll(), which watches every other peer for a hang-up too, so a rank
// that dies is noticed even while we wait on someone else.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/dtype.h"
#include "common/error.h"
#include "transport/frame.h"
#include "transport/shm_pipe.h"

namespace shoal {
namespace transport {

// What every frame of one op says about the op, so receivers can check it.
struct OpDesc {
  OpKind kind = OpKind::kNone;
  DType dtype = DType::kFloat32;
  ReduceOp reduceOp = ReduceOp::kSum;
  int root = -1;
  uint64_t seq = 0;
  uint64_t count = 0;
};

std::string describeOp(OpKind kind, DType dtype, ReduceOp op, int root, uint64_t count);

// One message of a step. A message is sent as one or more frames of at most maxFrameBytes.
struct Xfer {
  static Xfer send(int peer, uint16_t step, const void* data, size_t bytes) {
    Xfer x;
    x.peer = peer;
    x.isSend = true;
    x.step = step;
    x.data = static_cast<uint8_t*>(const_cast<void*>(data));
    x.bytes = bytes;
    return x;
  }
  static Xfer recv(int peer, uint16_t step, void* data, size_t bytes) {
    Xfer x;
    x.peer = peer;
    x.isSend = false;
    x.step = step;
    x.data = static_cast<uint8_t*>(data);
    x.bytes = bytes;
    return x;
  }

  int peer = -1;
  bool isSend = false;
  uint16_t step = 0;
  uint8_t* data = nullptr;
  size_t bytes = 0;
  // Send only: bytes [0, *available) may be sent; null means all of them.
  const size_t* available = nullptr;
  // Receive only: called with (offset, length) for each finished segment, in order.
  std::function<void(size_t, size_t)> onSegment;
  // Send only: called with the bytes sent so far after each write (they may be overwritten now).
  std::function<void(size_t)> onSent;
  size_t segmentBytes = 0;

  // Progress, owned by Link.
  size_t done = 0;           // payload bytes moved
  size_t segmentsDone = 0;   // receive: bytes already handed to onSegment
  size_t frameEnd = 0;       // payload offset where the current frame ends
  size_t headerDone = 0;     // header bytes of the current frame moved (48 = in payload)
  bool started = false;      // first frame header prepared/expected
  bool complete = false;
  FrameHeader header{};
};

struct Peer {
  int fd = -1;
  std::string address;       // host:port, for messages
  bool hangupPending = false;// peer closed after sending data we have not read yet
  bool midFrame = false;     // we stopped sending in the middle of a frame (no abort frame possible)
  bool wakePending = false;  // shared memory: we wrote to its ring, flushWakes() wakes it if it sleeps
  bool toldClosing = false;  // we sent it an abort or goodbye and half-closed (sendControl: once)

  // Same-host peers: data frames go through shared memory; the TCP connection (fd) then
  // carries only wake, abort and goodbye frames, read as they come into `control`.
  std::unique_ptr<ShmPipe> shm;
  enum class Closing { kNone, kEof, kGoodbye, kAbort, kMalformed };
  Closing closing = Closing::kNone;  // what the peer's TCP stream ended with
  FrameHeader control{};
  size_t controlDone = 0;
  std::string closingText;           // abort reason, or what broke the stream
};

class Link {
 public:

  Link(int rank, int size, uint32_t commId, size_t maxFrameBytes, int spinUs,
       const std::atomic<bool>* aborted, int wakeFd);

  int rank() const { return rank_; }
  // "self", "tcp" or "shm" for each rank (after connect).
  std::string transportOf(int peer) const;
  int size() const { return size_; }
  std::vector<Peer>& peers() { return peers_; }

  // Moves every xfer to completion or throws shoal::Error (timeout, peer lost, mismatch,
  // abort). Must be given the same OpDesc on every rank for the same op. Several xfers to
  // one peer in one direction run one after the other, in list order; the peer must list its
  // matching xfers in the same order.
  void run(const OpDesc& op, Xfer* xfers, size_t n, const Deadline& deadline);
  // The same, but gives up when `until` passes while it waits: false means not all xfers are
  // complete yet; calling again with the same xfers (from any thread, one at a time) goes on.
  // spinUs: how long to poll before sleeping in poll() (-1: the link's spinUs).
  bool runUntil(const OpDesc& op, Xfer* xfers, size_t n, const Deadline& deadline, std::chrono::steady_clock::time_point until,
                int spinUs = -1);

  // Best effort, never blocks for long: tells every peer why we stop, then half-closes (once:
  // later calls send nothing).
  void sendAbortToAll(const Error& reason);
  void sendGoodbyeToAll();
  void closeAll();
  // A shared-memory peer's connection has ended (abort, goodbye or EOF; reads what arrived on
  // it): that rank runs no more steps. Always false for a TCP peer (its data shares the stream).
  bool hungUp(int peer);

  // The default of run()'s spin before it sleeps (the owning thread only, between ops).
  void setSpinUs(int spinUs) { spinUs_ = spinUs; }
  // More ranks on this host than cores: run() polls with sched_yield() for yieldUs (0: sleeps
  // at once) and stops yield-polling for a while when a yield lets a CPU-bound process run.
  void setOversubscribed(int yieldUs);

  // Wakes run() from another thread if it sleeps on a shared-memory futex (after an abort;
  // a sleep in poll() is woken through the engine's wake fd instead).
  void interrupt();

  // Raised by run() when the engine was aborted from outside (set before waking us).
  void setAbortStatus(const Status& s) { abortStatus_ = s; }

 private:
  // Move bytes over the peer's data channel (socket or shared memory); 0 means "would
  // block". They throw when the peer is gone, with the same errors on both channels.
  // writeSome sends `data` then `more` (a frame's header and payload: one system call).
  size_t writeSome(const OpDesc& op, int peer, const void* data, size_t len, const void* more = nullptr, size_t moreLen = 0);
  size_t readSome(const OpDesc& op, int peer, void* data, size_t len, bool midMessage);
  // Shared-memory peers: read what arrived on the TCP connection (wakes, goodbye, abort, EOF).
  void drainControl(int peer);
  [[noreturn]] void raiseClosing(const OpDesc& op, int peer);
  void sendWake(int peer);
  // After moving a ring: wake the peer if it sleeps on it, the way its flag says.
  void wakeWaiter(int peer, std::atomic<uint32_t>& waiting);
  // Wakes the readers of the rings this pass wrote to (writeSome defers them to here).
  void flushWakes();
  // The xfer whose ring run() may sleep on with a futex: the first receive left when only
  // shared-memory receives are left, or a lone shared-memory send; null otherwise (a TCP
  // peer, or sends and receives both pending: only poll() can watch those).
  Xfer* futexTarget(Xfer* xfers, size_t n, const int* queuedBehind, bool queued);
  // Sleeps up to sleepUs on x's ring flag until the peer moves that ring (or an interrupt).
  // True if x moved before it went to sleep.
  bool futexSleep(const OpDesc& op, Xfer& x, int64_t sleepUs);
  // One sched_yield() of an oversubscribed poll; a slow one pauses polling (yieldPausedUntil_).
  void yieldOnce(std::chrono::steady_clock::time_point before);
  // Before sleeping: ask shared-memory peers to wake us; true if something moved meanwhile.
  bool armShmWaits(const OpDesc& op, Xfer* xfers, size_t n, bool arm);
  // queuedBehind[i]: the xfer listed before i with the same peer and direction, or -1.
  static bool findQueues(const Xfer* xfers, size_t n, int* queuedBehind);
  bool progressSend(const OpDesc& op, Xfer& x);
  bool progressRecv(const OpDesc& op, Xfer& x);
  void startFrame(const OpDesc& op, Xfer& x);
  void checkHeader(const OpDesc& op, const Xfer& x, const FrameHeader& h);
  [[noreturn]] void failPeer(const OpDesc& op, int peer, const std::string& what);
  [[noreturn]] void readAbortFrame(const OpDesc& op, int peer, const FrameHeader& h);
  [[noreturn]] void throwAbort(const OpDesc& op, int peer, const FrameHeader& h, const std::string& msg);
  [[noreturn]] void throwGoodbye(const OpDesc& op, int peer);
  void checkBystander(const OpDesc& op, int peer);
  void sendControl(FrameType type, const Error* reason);
  std::string where(const OpDesc& op) const;

  int rank_;
  int size_;
  uint32_t commId_;
  size_t maxFrameBytes_;
  int spinUs_;
  const std::atomic<bool>* aborted_;
  int wakeFd_;
  Status abortStatus_;
  std::vector<Peer> peers_;
  std::atomic<std::atomic<uint32_t>*> futexWord_{nullptr};  // the flag futexSleep waits on
  std::vector<int> pendingWakes_;                            // peers with Peer::wakePending
  // setOversubscribed; yield-polling paused until then (yieldOnce), the next pause's length.
  // Used by whichever thread runs the link (one at a time, like the rest of run()'s state).
  bool oversubscribed_ = false;
  std::chrono::steady_clock::time_point yieldPausedUntil_{};
  int64_t yieldPauseUs_ = 10000;
};

}  // namespace transport
}  // namespace shoal
