#include "transport/link.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
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
    if (x.headerDone < kHeaderBytes) {
      const ssize_t n = ::send(p.fd, reinterpret_cast<const uint8_t*>(&x.header) + x.headerDone,
                               kHeaderBytes - x.headerDone, MSG_NOSIGNAL);
      if (n < 0) {
        if (wouldBlock(errno)) return progressed;
        failPeer(op, x.peer, "send failed: " + errnoText(errno));
      }
      x.headerDone += static_cast<size_t>(n);
      p.midFrame = true;
      progressed = true;
      continue;
    }
    const size_t avail = x.available ? std::min(*x.available, x.frameEnd) : x.frameEnd;
    if (x.done < avail) {
      const ssize_t n = ::send(p.fd, x.data + x.done, avail - x.done, MSG_NOSIGNAL);
      if (n < 0) {
        if (wouldBlock(errno)) return progressed;
        failPeer(op, x.peer, "send failed: " + errnoText(errno));
      }
      x.done += static_cast<size_t>(n);
      progressed = true;
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

void Link::readAbortFrame(const OpDesc& op, int peer, const FrameHeader& h) {
  std::string msg;
  const size_t len = std::min<size_t>(h.payloadBytes, kMaxAbortMessage);
  msg.resize(len);
  try {
    if (len) readAll(peers_[static_cast<size_t>(peer)].fd, msg.data(), len, Deadline(1000), "abort message");
  } catch (const Error&) {
    msg = "(reason unreadable)";
  }
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
  if (type == FrameType::kGoodbye) {
    throw Error(ErrorCode::kPeerLost,
                "rank " + std::to_string(x.peer) + " closed its communicator while rank " + std::to_string(rank_) +
                    " was still in " + where(op) + " (ranks must issue the same collectives)",
                x.peer);
  }
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
      const ssize_t n = ::recv(p.fd, reinterpret_cast<uint8_t*>(&x.header) + x.headerDone, kHeaderBytes - x.headerDone, 0);
      if (n == 0) failPeer(op, x.peer, "connection closed (the process exited or was killed)");
      if (n < 0) {
        if (wouldBlock(errno)) return progressed;
        failPeer(op, x.peer, "recv failed: " + errnoText(errno));
      }
      x.headerDone += static_cast<size_t>(n);
      progressed = true;
      if (x.headerDone == kHeaderBytes) checkHeader(op, x, x.header);
      continue;
    }
    if (x.done < x.frameEnd) {
      const ssize_t n = ::recv(p.fd, x.data + x.done, x.frameEnd - x.done, 0);
      if (n == 0) failPeer(op, x.peer, "connection closed mid-message (the process exited or was killed)");
      if (n < 0) {
        if (wouldBlock(errno)) return progressed;
        failPeer(op, x.peer, "recv failed: " + errnoText(errno));
      }
      x.done += static_cast<size_t>(n);
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
  uint8_t byte;
  const ssize_t n = ::recv(p.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) failPeer(op, peer, "connection closed (the process exited or was killed)");
  if (n < 0 && !wouldBlock(errno)) failPeer(op, peer, "connection error: " + errnoText(errno));
  if (n > 0) p.hangupPending = true;
}

void Link::run(const OpDesc& op, Xfer* xfers, size_t n, const Deadline& deadline) {
  using Clock = std::chrono::steady_clock;
  auto lastProgress = Clock::now();
  std::vector<pollfd> fds;
  std::vector<int> fdPeer;
  while (true) {
    bool progressed = false;
    bool allDone = true;
    for (size_t i = 0; i < n; ++i) {
      Xfer& x = xfers[i];
      if (x.complete) continue;
      progressed |= x.isSend ? progressSend(op, x) : progressRecv(op, x);
      if (!x.complete) allDone = false;
    }
    if (allDone) return;
    if (aborted_->load(std::memory_order_acquire)) {
      throw Error(abortStatus_.code, abortStatus_.message, abortStatus_.peer);
    }
    const auto now = Clock::now();
    if (progressed) {
      lastProgress = now;
      continue;
    }
    if (std::chrono::duration_cast<std::chrono::microseconds>(now - lastProgress).count() < spinUs_) {
      sched_yield();
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
    // Sleep until a socket we need is ready, a bystander hangs up, or we are woken.
    fds.clear();
    fdPeer.clear();
    fds.push_back(pollfd{wakeFd_, POLLIN, 0});
    fdPeer.push_back(-1);
    std::vector<short> want(static_cast<size_t>(size_), 0);
    for (size_t i = 0; i < n; ++i) {
      if (!xfers[i].complete) want[static_cast<size_t>(xfers[i].peer)] |= xfers[i].isSend ? POLLOUT : POLLIN;
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
    const int rc = poll(fds.data(), fds.size(), deadline.remainingMs(1000));
    if (rc < 0 && errno != EINTR) throw Error(ErrorCode::kIo, "poll failed: " + errnoText(errno));
    if (rc > 0) {
      if (fds[0].revents & POLLIN) {
        uint64_t v;
        (void)!::read(wakeFd_, &v, sizeof(v));
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        const int r = fdPeer[i];
        if (!want[static_cast<size_t>(r)] && (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) checkBystander(op, r);
      }
    }
    lastProgress = Clock::now() - std::chrono::microseconds(spinUs_ / 2);  // spin a little after a wake-up
  }
}

void Link::sendControl(FrameType type, const Error* reason) {
  for (int r = 0; r < size_; ++r) {
    Peer& p = peers_[static_cast<size_t>(r)];
    if (r == rank_ || p.fd < 0) continue;
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
    ::shutdown(p.fd, SHUT_WR);
  }
}

void Link::sendAbortToAll(const Error& reason) { sendControl(FrameType::kAbort, &reason); }
void Link::sendGoodbyeToAll() { sendControl(FrameType::kGoodbye, nullptr); }

void Link::closeAll() {
  for (Peer& p : peers_) closeFd(p.fd);
}

}  // namespace transport
}  // namespace shoal
