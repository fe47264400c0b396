#include "transport/link.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>

#include "transport/socket.h"

namespace shoal {
namespace transport {

namespace {
constexpr size_t kMaxAbortMessage = 4096;
constexpr size_t kHeaderBytes = sizeof(FrameHeader);

bool wouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

std::string readAbortMessage(int fd, const FrameHeader& h) {
  std::string msg;
  msg.resize(std::min<size_t>(h.payloadBytes, kMaxAbortMessage));
  try {
    if (!msg.empty()) readAll(fd, msg.data(), msg.size(), Deadline(1000), "abort message");
  } catch (const Error&) {
    msg = "(reason unreadable)";
  }
  return msg;
}

// Dekker-style: the side that moved head/tail looks at the other side's waiting flag only
// after a full fence, and the sleeper re-checks the ring after raising its flag (Link::run).
// Returns how the other side sleeps (WaitMode), and clears the flag so only one wakes it.
uint32_t takeWaiter(std::atomic<uint32_t>& waiting) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (waiting.load(std::memory_order_relaxed) == kNotWaiting) return kNotWaiting;
  return waiting.exchange(kNotWaiting);
}

// How long a wait on a single shared-memory ring sleeps on its futex before it falls back to
// poll() on the sockets. The futex sees neither a bystander's hang-up nor the engine's wake
// fd, so it is kept short: a dead peer is still noticed within this much of the usual bound
// (the waited-for peer at each futex timeout, through its connection's EOF), and an abort
// from another thread wakes it at once (Link::interrupt).
constexpr int64_t kFutexWindowUs = 10000;

// Idle spin passes between clock reads (see Link::runUntil), and the pause of one pass.
constexpr unsigned kClockEveryPasses = 16;
inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Oversubscribed yield-polling: a sched_yield() that returns this late gave the core to a
// process that used a whole time slice (a CPU-bound job beside us), not to a peer with one
// step of a collective to do. Polling on would cost a slice per yield, so the link sleeps on
// its peers instead for a while, twice as long each time it happens again (up to 1 s).
constexpr int64_t kSlowYieldUs = 250;
constexpr int64_t kFirstYieldPauseUs = 10000;
constexpr int64_t kMaxYieldPauseUs = 1000000;
}  // namespace

std::string describeOp(OpKind kind, DType dtype, ReduceOp op, int root, uint64_t count) {
  std::ostringstream s;
  s << opKindName(kind) << "(";
  if (kind == OpKind::kBarrier) {
    s << ")";
    return s.str();
  }
  s << dtypeName(dtype) << ", count=" << count;
  if (kind == OpKind::kAllReduce || kind == OpKind::kReduceTo || kind == OpKind::kReduceScatter) s << ", op=" << reduceOpName(op);
  if (kind == OpKind::kReduceTo || kind == OpKind::kBcast) s << ", root=" << root;
  s << ")";
  return s.str();
}

Link::Link(int rank, int size, uint32_t commId, size_t maxFrameBytes, int spinUs,
           const std::atomic<bool>* aborted, int wakeFd)
    : rank_(rank),
      size_(size),
      commId_(commId),
      maxFrameBytes_(maxFrameBytes),
      spinUs_(spinUs),
      aborted_(aborted),
      wakeFd_(wakeFd),
      peers_(static_cast<size_t>(size)) {}

std::string Link::transportOf(int peer) const {
  if (peer == rank_) return "self";
  return peers_[static_cast<size_t>(peer)].shm ? "shm" : "tcp";
}

std::string Link::where(const OpDesc& op) const {
  return std::string(opKindName(op.kind)) + " seq " + std::to_string(op.seq);
}

void Link::failPeer(const OpDesc& op, int peer, const std::string& what) {
  throw Error(ErrorCode::kPeerLost,
              "rank " + std::to_string(peer) + " lost during " + where(op) + " on rank " + std::to_string(rank_) +
                  ": " + what,
              peer);
}

void Link::startFrame(const OpDesc& op, Xfer& x) {
  const size_t left = x.bytes - x.done;
  const size_t frameBytes = std::min(left, maxFrameBytes_);
  x.frameEnd = x.done + frameBytes;
  x.headerDone = 0;
  x.started = true;
  if (x.isSend) {
    FrameHeader& h = x.header;
    h.magic = kFrameMagic;
    h.version = kProtocolVersion;
    h.type = static_cast<uint8_t>(FrameType::kData);
    h.opKind = static_cast<uint8_t>(op.kind);
    h.dtype = static_cast<uint8_t>(op.dtype);
    h.reduceOp = static_cast<uint8_t>(op.reduceOp);
    h.step = x.step;
    h.root = op.root;
    h.commId = commId_;
    h.seq = op.seq;
    h.count = op.count;
    h.code = 0;
    h.payloadBytes = static_cast<uint32_t>(frameBytes);
  }
}

bool Link::progressSend(const OpDesc& op, Xfer& x) {
  Peer& p = peers_[static_cast<size_t>(x.peer)];
  if (p.fd < 0) failPeer(op, x.peer, "no connection (closed earlier)");
  bool progressed = false;
  while (!x.complete) {
    if (!x.started) startFrame(op, x);
    const size_t avail = x.available ? std::min(*x.available, x.frameEnd) : x.frameEnd;
    if (x.headerDone < kHeaderBytes) {
      // The header and what is ready of the payload go out together.
      const size_t headLeft = kHeaderBytes - x.headerDone;
      const size_t n = writeSome(op, x.peer, reinterpret_cast<const uint8_t*>(&x.header) + x.headerDone, headLeft,
                                 x.data + x.done, avail > x.done ? avail - x.done : 0);
      if (n == 0) return progressed;
      x.headerDone += std::min(n, headLeft);
      const size_t payload = n > headLeft ? n - headLeft : 0;
      x.done += payload;
      p.midFrame = !p.shm;  // the TCP stream of a shared-memory peer never holds part of a frame
      progressed = true;
      if (payload && x.onSent) x.onSent(x.done);  // the payload sent with the header counts too
      if (x.headerDone < kHeaderBytes) continue;
    }
    if (x.done < avail) {
      const size_t n = writeSome(op, x.peer, x.data + x.done, avail - x.done);
      if (n == 0) return progressed;
      x.done += n;
      progressed = true;
      if (x.onSent) x.onSent(x.done);
    }
    if (x.done == x.frameEnd) {
      p.midFrame = false;
      if (x.done == x.bytes) {
        x.complete = true;
      } else {
        x.started = false;
      }
      continue;
    }
    return progressed;  // waiting for more available bytes, or the socket is full
  }
  return progressed;
}

size_t Link::writeSome(const OpDesc& op, int peer, const void* data, size_t len, const void* more, size_t moreLen) {
  Peer& p = peers_[static_cast<size_t>(peer)];
  if (!p.shm) {
    iovec iov[2] = {{const_cast<void*>(data), len}, {const_cast<void*>(more), moreLen}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = moreLen ? 2 : 1;
    const ssize_t n = ::sendmsg(p.fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (wouldBlock(errno)) return 0;
    failPeer(op, peer, "send failed: " + errnoText(errno));
  }
  if (p.closing != Peer::Closing::kNone) raiseClosing(op, peer);
  ShmRing& ring = p.shm->out();
  size_t n = ring.write(data, len);
  if (n == len && moreLen) n += ring.write(more, moreLen);
  if (n) {
    // The wake-up waits until this pass has written to every peer (flushWakes): a woken peer
    // may take this core at once, and the other peers' data should be out before it does.
    if (!p.wakePending) {
      p.wakePending = true;
      pendingWakes_.push_back(peer);
    }
    return n;
  }
  drainControl(peer);  // full: is the reader still there?
  if (p.closing != Peer::Closing::kNone) raiseClosing(op, peer);
  return 0;
}

size_t Link::readSome(const OpDesc& op, int peer, void* data, size_t len, bool midMessage) {
  Peer& p = peers_[static_cast<size_t>(peer)];
  if (!p.shm) {
    const ssize_t n = ::recv(p.fd, data, len, 0);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) {
      failPeer(op, peer, midMessage ? "connection closed mid-message (the process exited or was killed)"
                                    : "connection closed (the process exited or was killed)");
    }
    if (wouldBlock(errno)) return 0;
    failPeer(op, peer, "recv failed: " + errnoText(errno));
  }
  ShmRing& ring = p.shm->in();
  const size_t n = ring.read(data, len);
  if (n) {
    wakeWaiter(peer, ring.control().writerWaiting);
    return n;
  }
  // The TCP connection is read before every sleep (futexSleep, poll()), not on every empty
  // read: a spinning or woken rank would pay a recv() per ring per pass. Everything the peer
  // wrote before it closed was in the ring before its socket closed, so a close only counts
  // once the ring is empty.
  if (p.closing == Peer::Closing::kNone) return 0;
  raiseClosing(op, peer);
}

void Link::drainControl(int peer) {
  Peer& p = peers_[static_cast<size_t>(peer)];
  while (p.closing == Peer::Closing::kNone) {
    const ssize_t n = ::recv(p.fd, reinterpret_cast<uint8_t*>(&p.control) + p.controlDone, kHeaderBytes - p.controlDone, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && !wouldBlock(errno))) {
      p.closing = Peer::Closing::kEof;
      p.closingText = n == 0 ? "connection closed (the process exited or was killed)" : "connection error: " + errnoText(errno);
      return;
    }
    if (n < 0) return;
    p.controlDone += static_cast<size_t>(n);
    if (p.controlDone < kHeaderBytes) continue;
    p.controlDone = 0;
    const FrameHeader& h = p.control;
    const auto type = static_cast<FrameType>(h.type);
    if (h.magic != kFrameMagic || h.version != kProtocolVersion || type == FrameType::kData) {
      p.closing = Peer::Closing::kMalformed;
      p.closingText = "sent a malformed frame on its control connection";
    } else if (type == FrameType::kGoodbye) {
      p.closing = Peer::Closing::kGoodbye;
    } else if (type == FrameType::kAbort) {
      p.closingText = readAbortMessage(p.fd, h);
      p.closing = Peer::Closing::kAbort;
    }
    // kWake: nothing to do; the caller looks at the rings again.
  }
}

void Link::raiseClosing(const OpDesc& op, int peer) {
  Peer& p = peers_[static_cast<size_t>(peer)];
  switch (p.closing) {
    case Peer::Closing::kGoodbye: throwGoodbye(op, peer);
    case Peer::Closing::kAbort: throwAbort(op, peer, p.control, p.closingText);
    case Peer::Closing::kMalformed:
      throw Error(ErrorCode::kIo, "rank " + std::to_string(peer) + " " + p.closingText + " during " + where(op), peer);
    default: failPeer(op, peer, p.closingText);
  }
}

void Link::wakeWaiter(int peer, std::atomic<uint32_t>& waiting) {
  const uint32_t mode = takeWaiter(waiting);
  if (mode == kWaitOnFutex) {
    futexWake(waiting);
  } else if (mode == kWaitInPoll) {
    sendWake(peer);
  }
}

void Link::flushWakes() {
  for (int peer : pendingWakes_) {
    Peer& p = peers_[static_cast<size_t>(peer)];
    p.wakePending = false;
    if (p.shm) wakeWaiter(peer, p.shm->out().control().readerWaiting);
  }
  pendingWakes_.clear();
}

void Link::interrupt() {
  std::atomic<uint32_t>* word = futexWord_.load(std::memory_order_seq_cst);
  if (word) wakeFutexSleeper(*word);
}

void Link::sendWake(int peer) {
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.version = kProtocolVersion;
  h.type = static_cast<uint8_t>(FrameType::kWake);
  h.commId = commId_;
  h.root = -1;
  try {
    writeAll(peers_[static_cast<size_t>(peer)].fd, &h, sizeof(h), Deadline(1000), "wake frame");
  } catch (const Error&) {
    // The peer is gone: its end of the connection says so when we next look.
  }
}

void Link::readAbortFrame(const OpDesc& op, int peer, const FrameHeader& h) {
  throwAbort(op, peer, h, readAbortMessage(peers_[static_cast<size_t>(peer)].fd, h));
}

void Link::throwGoodbye(const OpDesc& op, int peer) {
  throw Error(ErrorCode::kPeerLost,
              "rank " + std::to_string(peer) + " closed its communicator while rank " + std::to_string(rank_) +
                  " was still in " + where(op) + " (ranks must issue the same collectives)",
              peer);
}

void Link::throwAbort(const OpDesc& op, int peer, const FrameHeader& h, const std::string& msg) {
  ErrorCode code = static_cast<ErrorCode>(h.code);
  if (h.code == 0 || h.code > static_cast<uint32_t>(ErrorCode::kInternal)) code = ErrorCode::kAborted;
  // Keep the original code and culprit (e.g. the lost rank) so every rank reports the
  // same cause, and say who told us.
  throw Error(code, msg + " (reported to rank " + std::to_string(rank_) + " by rank " + std::to_string(peer) + " during " + where(op) + ")",
              h.root >= 0 ? h.root : peer);
}

void Link::checkHeader(const OpDesc& op, const Xfer& x, const FrameHeader& h) {
  if (h.magic != kFrameMagic || h.version != kProtocolVersion) {
    std::ostringstream s;
    s << "rank " << x.peer << " sent a malformed frame (magic 0x" << std::hex << h.magic << std::dec
      << ", version " << h.version << ") during " << where(op);
    throw Error(ErrorCode::kIo, s.str(), x.peer);
  }
  const auto type = static_cast<FrameType>(h.type);
  if (type == FrameType::kAbort) readAbortFrame(op, x.peer, h);
  if (type == FrameType::kGoodbye) throwGoodbye(op, x.peer);
  if (type != FrameType::kData) throw Error(ErrorCode::kIo, "rank " + std::to_string(x.peer) + " sent an unknown frame type", x.peer);
  if (h.commId != commId_) {
    throw Error(ErrorCode::kIo, "rank " + std::to_string(x.peer) + " sent a frame of communicator " + std::to_string(h.commId) +
                                    " on a connection of communicator " + std::to_string(commId_), x.peer);
  }
  const auto theirKind = static_cast<OpKind>(h.opKind);
  const bool sameOp = h.seq == op.seq && theirKind == op.kind && h.dtype == static_cast<uint8_t>(op.dtype) &&
                      h.count == op.count && h.root == op.root &&
                      (op.kind != OpKind::kAllReduce && op.kind != OpKind::kReduceTo && op.kind != OpKind::kReduceScatter ? true : h.reduceOp == static_cast<uint8_t>(op.reduceOp));
  if (!sameOp) {
    const DType theirType = validDType(h.dtype) ? static_cast<DType>(h.dtype) : DType::kUint8;
    const ReduceOp theirOp = validReduceOp(h.reduceOp) ? static_cast<ReduceOp>(h.reduceOp) : ReduceOp::kSum;
    throw Error(ErrorCode::kMismatch,
                "collective mismatch: rank " + std::to_string(rank_) + " is at seq " + std::to_string(op.seq) + " in " +
                    describeOp(op.kind, op.dtype, op.reduceOp, op.root, op.count) + " but rank " + std::to_string(x.peer) +
                    " is at seq " + std::to_string(h.seq) + " in " + describeOp(theirKind, theirType, theirOp, h.root, h.count),
                x.peer);
  }
  const size_t expected = x.frameEnd - x.done;
  if (h.step != x.step || h.payloadBytes != expected) {
    throw Error(ErrorCode::kMismatch,
                "collective mismatch in " + where(op) + ": rank " + std::to_string(x.peer) + " sent step " + std::to_string(h.step) +
                    " with " + std::to_string(h.payloadBytes) + " bytes, rank " + std::to_string(rank_) + " expected step " +
                    std::to_string(x.step) + " with " + std::to_string(expected) +
                    " bytes (different SHOAL_MAX_FRAME_BYTES or algorithm settings on the two ranks?)",
                x.peer);
  }
}

bool Link::progressRecv(const OpDesc& op, Xfer& x) {
  Peer& p = peers_[static_cast<size_t>(x.peer)];
  if (p.fd < 0) failPeer(op, x.peer, "no connection (closed earlier)");
  bool progressed = false;
  while (!x.complete) {
    if (!x.started) startFrame(op, x);
    if (x.headerDone < kHeaderBytes) {
      const size_t n = readSome(op, x.peer, reinterpret_cast<uint8_t*>(&x.header) + x.headerDone, kHeaderBytes - x.headerDone, false);
      if (n == 0) return progressed;
      x.headerDone += n;
      progressed = true;
      if (x.headerDone == kHeaderBytes) checkHeader(op, x, x.header);
      continue;
    }
    if (x.done < x.frameEnd) {
      const size_t n = readSome(op, x.peer, x.data + x.done, x.frameEnd - x.done, true);
      if (n == 0) return progressed;
      x.done += n;
      progressed = true;
      if (x.onSegment && x.segmentBytes) {
        while (x.done - x.segmentsDone >= x.segmentBytes) {
          x.onSegment(x.segmentsDone, x.segmentBytes);
          x.segmentsDone += x.segmentBytes;
        }
      }
    }
    if (x.done == x.frameEnd) {
      if (x.done == x.bytes) {
        if (x.onSegment && x.done > x.segmentsDone) {
          x.onSegment(x.segmentsDone, x.done - x.segmentsDone);
          x.segmentsDone = x.done;
        }
        x.complete = true;
      } else {
        x.started = false;
      }
    }
  }
  return progressed;
}

// A peer we are not talking to in this step hung up. If nothing of theirs is left to
// read, the connection died without a goodbye: that rank is lost. If data is queued
// (frames we need later, or a goodbye/abort), deal with it when we get there.
void Link::checkBystander(const OpDesc& op, int peer) {
  Peer& p = peers_[static_cast<size_t>(peer)];
  if (p.shm) {
    drainControl(peer);
    if (p.closing == Peer::Closing::kEof && p.shm->in().readable() == 0) failPeer(op, peer, p.closingText);
    if (p.closing != Peer::Closing::kNone) p.hangupPending = true;
    return;
  }
  uint8_t byte;
  const ssize_t n = ::recv(p.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) failPeer(op, peer, "connection closed (the process exited or was killed)");
  if (n < 0 && !wouldBlock(errno)) failPeer(op, peer, "connection error: " + errnoText(errno));
  if (n > 0) p.hangupPending = true;
}

bool Link::findQueues(const Xfer* xfers, size_t n, int* queuedBehind) {
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    queuedBehind[i] = -1;
    for (size_t k = i; k-- > 0;) {
      if (xfers[k].peer == xfers[i].peer && xfers[k].isSend == xfers[i].isSend) {
        queuedBehind[i] = static_cast<int>(k);
        any = true;
        break;
      }
    }
  }
  return any;
}

void Link::run(const OpDesc& op, Xfer* xfers, size_t n, const Deadline& deadline) {
  runUntil(op, xfers, n, deadline, std::chrono::steady_clock::time_point::max());
}

bool Link::runUntil(const OpDesc& op, Xfer* xfers, size_t n, const Deadline& deadline, std::chrono::steady_clock::time_point until,
                    int spinUs) {
  using Clock = std::chrono::steady_clock;
  if (spinUs < 0) spinUs = spinUs_;
  // Without a clock read here a spinning rank stamps its start at its first clock read.
  auto lastProgress = oversubscribed_ ? Clock::now() : Clock::time_point{};
  std::vector<pollfd> fds;
  std::vector<int> fdPeer;
  // Xfers to one peer in one direction share a byte stream: each waits for the one listed
  // before it (queuedBehind) to complete. Steps of distinct peers (the usual case) find none.
  int small[16];
  std::vector<int> large(n > 16 ? n : 0);
  int* queuedBehind = n > 16 ? large.data() : small;
  const bool queued = findQueues(xfers, n, queuedBehind);
  auto waiting = [&](size_t i) { return queued && queuedBehind[i] >= 0 && !xfers[queuedBehind[i]].complete; };
  // A rank with a core of its own spins with a CPU pause and reads the clock only every
  // kClockEveryPasses idle passes: in some VMs a clock read costs ~250 ns and sched_yield() a
  // syscall, and either, paid on every pass, delays noticing the peer's data.
  unsigned idlePasses = 0;
  bool progressUnstamped = !oversubscribed_;
  while (true) {
    bool progressed = false;
    bool allDone = true;
    for (size_t i = 0; i < n; ++i) {
      Xfer& x = xfers[i];
      if (x.complete) continue;
      if (waiting(i)) {
        allDone = false;
        continue;
      }
      progressed |= x.isSend ? progressSend(op, x) : progressRecv(op, x);
      if (!x.complete) allDone = false;
    }
    flushWakes();
    if (allDone) return true;
    if (aborted_->load(std::memory_order_acquire)) {
      throw Error(abortStatus_.code, abortStatus_.message, abortStatus_.peer);
    }
    if (progressed) {
      idlePasses = 0;
      if (oversubscribed_) lastProgress = Clock::now();  // yieldOnce's pauses need the exact time
      else progressUnstamped = true;
      continue;
    }
    if (!oversubscribed_ && spinUs > 0 && ++idlePasses % kClockEveryPasses != 0) {
      cpuRelax();
      continue;
    }
    const auto now = Clock::now();
    if (progressUnstamped) {
      lastProgress = now;  // late by at most kClockEveryPasses passes
      progressUnstamped = false;
    }
    if (now >= until) return false;
    if (std::chrono::duration_cast<std::chrono::microseconds>(now - lastProgress).count() < spinUs && now >= yieldPausedUntil_) {
      if (oversubscribed_) {
        yieldOnce(now);
      } else {
        cpuRelax();
      }
      continue;
    }
    if (deadline.expired()) {
      std::ostringstream s;
      s << where(op) << " timed out after " << deadline.timeoutMs() << " ms on rank " << rank_ << " waiting for";
      int culprit = -1;
      for (size_t i = 0; i < n; ++i) {
        if (xfers[i].complete) continue;
        s << (xfers[i].isSend ? " send to rank " : " data from rank ") << xfers[i].peer << " (" << xfers[i].done << "/"
          << xfers[i].bytes << " bytes)";
        if (culprit < 0) culprit = xfers[i].peer;
      }
      throw Error(ErrorCode::kTimeout, s.str(), culprit);
    }
    // Shared-memory rings to wait for, and not waiting long yet: sleep on one ring's flag,
    // which the peer wakes with one FUTEX_WAKE (no wake frame, no poll() over every connection).
    if (Xfer* sole = futexTarget(xfers, n, queuedBehind, queued)) {
      const int64_t waitedUs = std::chrono::duration_cast<std::chrono::microseconds>(now - lastProgress).count();
      if (waitedUs < kFutexWindowUs) {
        int64_t sleepUs = std::min<int64_t>(kFutexWindowUs - waitedUs, int64_t{deadline.remainingMs(1000)} * 1000);
        if (until != Clock::time_point::max()) {
          sleepUs = std::min<int64_t>(sleepUs, std::chrono::duration_cast<std::chrono::microseconds>(until - now).count());
        }
        // Without progress lastProgress stays: past the window, the poll() path below takes over.
        if (futexSleep(op, *sole, sleepUs)) lastProgress = Clock::now();
        continue;
      }
    }
    // Shared-memory peers wake us over their TCP connection once they see our flag; data
    // may have moved before the flag went up, so look once more after raising it.
    if (armShmWaits(op, xfers, n, true)) {
      bool moved = false;
      for (size_t i = 0; i < n; ++i) {
        if (!xfers[i].complete && !waiting(i)) moved |= xfers[i].isSend ? progressSend(op, xfers[i]) : progressRecv(op, xfers[i]);
      }
      flushWakes();
      if (moved) {
        armShmWaits(op, xfers, n, false);
        lastProgress = Clock::now();
        continue;
      }
    }
    // Sleep until a socket we need is ready, a bystander hangs up, or we are woken.
    fds.clear();
    fdPeer.clear();
    fds.push_back(pollfd{wakeFd_, POLLIN, 0});
    fdPeer.push_back(-1);
    std::vector<short> want(static_cast<size_t>(size_), 0);
    for (size_t i = 0; i < n; ++i) {
      const Xfer& x = xfers[i];
      const bool shm = peers_[static_cast<size_t>(x.peer)].shm != nullptr;
      // A send that has only to wait for its own data (Xfer::available, advanced by this
      // thread's receives) must not wake on a writable socket: that would spin.
      const bool waitsForData = x.isSend && x.available && x.started && x.headerDone == kHeaderBytes && x.done >= std::min(*x.available, x.frameEnd);
      if (!x.complete && !waitsForData && !waiting(i)) want[static_cast<size_t>(x.peer)] |= x.isSend && !shm ? POLLOUT : POLLIN;
    }
    for (int r = 0; r < size_; ++r) {
      const Peer& p = peers_[static_cast<size_t>(r)];
      if (r == rank_ || p.fd < 0) continue;
      short events = want[static_cast<size_t>(r)];
      if (!events && p.hangupPending) continue;
      events |= POLLRDHUP;
      fds.push_back(pollfd{p.fd, events, 0});
      fdPeer.push_back(r);
    }
    // Sleep no longer than the deadline (capped: bystanders are re-checked) or `until`.
    auto sleep = std::chrono::microseconds(int64_t{deadline.remainingMs(1000)} * 1000);
    if (until - Clock::now() < sleep) sleep = std::max(std::chrono::microseconds(0), std::chrono::duration_cast<std::chrono::microseconds>(until - Clock::now()));
    const timespec ts{static_cast<time_t>(sleep.count() / 1000000), static_cast<long>(sleep.count() % 1000000) * 1000};
    const int rc = ppoll(fds.data(), fds.size(), &ts, nullptr);
    if (rc < 0 && errno != EINTR) throw Error(ErrorCode::kIo, "poll failed: " + errnoText(errno));
    if (rc > 0) {
      if (fds[0].revents & POLLIN) {
        uint64_t v;
        (void)!::read(wakeFd_, &v, sizeof(v));
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        const int r = fdPeer[i];
        const bool shm = peers_[static_cast<size_t>(r)].shm != nullptr;
        if (!want[static_cast<size_t>(r)] && (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
          checkBystander(op, r);
        } else if (shm && fds[i].revents) {
          drainControl(r);  // eat the wake frames; a close is raised by the next pass
        }
      }
    }
    armShmWaits(op, xfers, n, false);
    lastProgress = Clock::now() - std::chrono::microseconds(spinUs / 2);  // spin a little after a wake-up
  }
}

void Link::setOversubscribed(int yieldUs) {
  oversubscribed_ = true;
  spinUs_ = yieldUs;
}

void Link::yieldOnce(std::chrono::steady_clock::time_point before) {
  using Clock = std::chrono::steady_clock;
  sched_yield();
  const auto after = Clock::now();
  if (std::chrono::duration_cast<std::chrono::microseconds>(after - before).count() < kSlowYieldUs) {
    yieldPauseUs_ = kFirstYieldPauseUs;
    return;
  }
  yieldPausedUntil_ = after + std::chrono::microseconds(yieldPauseUs_);
  yieldPauseUs_ = std::min(yieldPauseUs_ * 2, kMaxYieldPauseUs);
}

Xfer* Link::futexTarget(Xfer* xfers, size_t n, const int* queuedBehind, bool queued) {
  Xfer* firstRecv = nullptr;
  Xfer* send = nullptr;
  size_t waited = 0;
  for (size_t i = 0; i < n; ++i) {
    Xfer& x = xfers[i];
    if (x.complete || (queued && queuedBehind[i] >= 0 && !xfers[queuedBehind[i]].complete)) continue;
    // A send waiting only for its own data (Xfer::available) moves when this thread's
    // receives do; it needs no wake-up of its own.
    if (x.isSend && x.available && x.started && x.headerDone == kHeaderBytes && x.done >= std::min(*x.available, x.frameEnd)) continue;
    const Peer& p = peers_[static_cast<size_t>(x.peer)];
    if (!p.shm || p.closing != Peer::Closing::kNone) return nullptr;
    ++waited;
    if (x.isSend) {
      send = &x;
    } else if (!firstRecv) {
      firstRecv = &x;
    }
  }
  // Only receives left: sleeping until the first one moves is enough, since the other peers
  // need nothing from us to write theirs (a full ring's writer waits for our next pass).
  if (!send) return firstRecv;
  // A send that waits for ring space: only alone, or two ranks sending to each other would
  // sleep on their send flags while neither reads.
  return waited == 1 ? send : nullptr;
}

bool Link::futexSleep(const OpDesc& op, Xfer& x, int64_t sleepUs) {
  Peer& p = peers_[static_cast<size_t>(x.peer)];
  drainControl(x.peer);  // a goodbye, abort or EOF there: the next pass raises it
  if (p.closing != Peer::Closing::kNone) return true;
  auto& flag = x.isSend ? p.shm->out().control().writerWaiting : p.shm->in().control().readerWaiting;
  flag.store(kWaitOnFutex, std::memory_order_seq_cst);
  futexWord_.store(&flag, std::memory_order_seq_cst);
  struct Disarm {
    Link* link;
    std::atomic<uint32_t>& flag;
    ~Disarm() {
      link->futexWord_.store(nullptr, std::memory_order_seq_cst);
      flag.store(kNotWaiting, std::memory_order_seq_cst);
    }
  } disarm{this, flag};
  // The peer may have moved the ring, or an abort may have come, before the flag went up.
  if (aborted_->load(std::memory_order_seq_cst)) return false;
  const bool moved = x.isSend ? progressSend(op, x) : progressRecv(op, x);
  flushWakes();
  if (moved) return true;
  futexWait(flag, kWaitOnFutex, sleepUs);
  return false;
}

bool Link::armShmWaits(const OpDesc& op, Xfer* xfers, size_t n, bool arm) {
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    Xfer& x = xfers[i];
    Peer& p = peers_[static_cast<size_t>(x.peer)];
    if (!p.shm || (arm && x.complete)) continue;
    if (arm && p.closing != Peer::Closing::kNone && (x.isSend || p.shm->in().readable() == 0)) raiseClosing(op, x.peer);
    auto& flag = x.isSend ? p.shm->out().control().writerWaiting : p.shm->in().control().readerWaiting;
    flag.store(arm ? kWaitInPoll : kNotWaiting, std::memory_order_seq_cst);
    any = true;
  }
  return any;
}

void Link::sendControl(FrameType type, const Error* reason) {
  for (int r = 0; r < size_; ++r) {
    Peer& p = peers_[static_cast<size_t>(r)];
    if (r == rank_ || p.fd < 0 || p.toldClosing) continue;
    p.toldClosing = true;
    if (!p.midFrame) {
      FrameHeader h{};
      h.magic = kFrameMagic;
      h.version = kProtocolVersion;
      h.type = static_cast<uint8_t>(type);
      h.commId = commId_;
      h.root = -1;
      std::string msg;
      if (reason) {
        msg = reason->what();
        if (msg.size() > kMaxAbortMessage) msg.resize(kMaxAbortMessage);
        h.code = static_cast<uint32_t>(reason->code());
        h.root = reason->peer();
      }
      h.payloadBytes = static_cast<uint32_t>(msg.size());
      std::string frame(reinterpret_cast<const char*>(&h), sizeof(h));
      frame += msg;
      try {
        writeAll(p.fd, frame.data(), frame.size(), Deadline(200), "control frame");
      } catch (const Error&) {
        // The peer is gone or stuck; it will learn from the half-close below.
      }
    }
    if (p.shm) {
      // A peer asleep on one of our rings' futexes reads its connection as soon as it wakes.
      wakeFutexSleeper(p.shm->out().control().readerWaiting);
      wakeFutexSleeper(p.shm->in().control().writerWaiting);
    }
    ::shutdown(p.fd, SHUT_WR);
  }
}

void Link::sendAbortToAll(const Error& reason) { sendControl(FrameType::kAbort, &reason); }
void Link::sendGoodbyeToAll() { sendControl(FrameType::kGoodbye, nullptr); }

bool Link::hungUp(int peer) {
  Peer& p = peers_[static_cast<size_t>(peer)];
  if (p.fd < 0) return true;
  if (!p.shm) return false;
  drainControl(peer);
  return p.closing != Peer::Closing::kNone;
}

void Link::closeAll() {
  for (Peer& p : peers_) {
    closeFd(p.fd);
    p.shm.reset();
  }
}

}  // namespace transport
}  // namespace shoal
