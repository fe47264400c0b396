#include "psnet/connection.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "transport/socket.h"

namespace shoal {
namespace psnet {

namespace {
constexpr size_t kPooledMinBytes = 64 << 10;  // smaller buffers come from malloc's free lists anyway
// Per thread, up to this many bytes: a server holds many received pushes at once while
// their forwards wait for the replica's socket. What the pool cannot keep goes back to
// malloc, whose next large block is often fresh pages again (a first touch cost 11-15 us
// per 4 KiB page on the benchmark VM: docs/parameter_server.md).
constexpr size_t kPooledBytes = 128 << 20;
thread_local std::deque<Message::Bytes> tSpareBuffers;
thread_local size_t tSpareBytes = 0;
}  // namespace

Message::Bytes takeBuffer(size_t bytes) {
  if (bytes >= kPooledMinBytes) {
    for (auto it = tSpareBuffers.begin(); it != tSpareBuffers.end(); ++it) {
      if (it->capacity() < bytes) continue;
      Message::Bytes b = std::move(*it);
      tSpareBuffers.erase(it);
      tSpareBytes -= b.capacity();
      b.clear();
      return b;
    }
  }
  return {};
}

void recycleBuffer(Message::Bytes&& bytes) {
  if (bytes.capacity() < kPooledMinBytes || bytes.capacity() > kPooledBytes) return;
  while (tSpareBytes + bytes.capacity() > kPooledBytes) {  // keep the newest
    tSpareBytes -= tSpareBuffers.front().capacity();
    tSpareBuffers.pop_front();
  }
  tSpareBytes += bytes.capacity();
  tSpareBuffers.push_back(std::move(bytes));
}

Message Message::make(MsgType type, uint32_t tableId, uint64_t requestId, size_t payloadBytes, bool filledByCaller) {
  Message m;
  m.bytes = takeBuffer(sizeof(PsHeader) + payloadBytes);
  m.bytes.resize(sizeof(PsHeader) + payloadBytes);
  if (!filledByCaller && payloadBytes > 0) std::memset(m.payload(), 0, payloadBytes);
  PsHeader& h = m.header();
  std::memset(&h, 0, sizeof(h));
  h.magic = kPsMagic;
  h.version = kPsVersion;
  h.type = static_cast<uint8_t>(type);
  h.tableId = tableId;
  h.requestId = requestId;
  h.payloadBytes = payloadBytes;
  return m;
}

Message Message::sharing(MsgType type, uint32_t tableId, std::shared_ptr<const Bytes> body, size_t offset, size_t payloadBytes) {
  Message m = make(type, tableId, 0, 0);
  m.header().payloadBytes = payloadBytes;
  m.body = std::move(body);
  m.bodyOffset = offset;
  return m;
}

std::shared_ptr<const Message::Bytes> shareBuffer(Message::Bytes&& bytes) {
  return std::shared_ptr<const Message::Bytes>(new Message::Bytes(std::move(bytes)), [](const Message::Bytes* b) {
    recycleBuffer(std::move(*const_cast<Message::Bytes*>(b)));
    delete b;
  });
}

Message makeResponse(const PsHeader& request, uint32_t status, size_t payloadBytes, bool filledByCaller) {
  Message m = Message::make(static_cast<MsgType>(request.type), request.tableId, request.requestId, payloadBytes, filledByCaller);
  PsHeader& h = m.header();
  h.type = static_cast<uint8_t>(request.type | kResponseBit);
  h.status = status;
  h.worker = request.worker;
  h.count = request.count;
  return m;
}

Message makeError(const PsHeader& request, uint32_t status, const std::string& message) {
  Message m = makeResponse(request, status, message.size());
  std::memcpy(m.payload(), message.data(), message.size());
  return m;
}

Connection::~Connection() { transport::closeFd(fd_); }

void Connection::send(Message m) {
  if (!deferred_.empty()) {
    deferred_.push_back(Deferred{std::move(m), nullptr});
    return;
  }
  queuedBytes_ += m.wireBytes();
  out_.emplace_back(std::move(m), 0);
}

void Connection::sendDeferred(std::function<bool(Message*)> build) {
  deferred_.push_back(Deferred{Message{}, std::move(build)});
  buildDeferred();
}

// Moves deferred messages to out_ (building them) while less than kBuildAheadBytes wait there.
void Connection::buildDeferred() {
  while (!deferred_.empty() && queuedBytes_ < kBuildAheadBytes) {
    Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    if (d.build && !d.build(&d.ready)) continue;
    queuedBytes_ += d.ready.wireBytes();
    out_.emplace_back(std::move(d.ready), 0);
  }
}

namespace {
// Writes the unsent rest of m (from byte `done` of its wire bytes): one send(), or for a
// message sharing another's payload one sendmsg() of its header and that payload.
ssize_t sendRest(int fd, const Message& m, size_t done) {
  if (!m.body) return ::send(fd, m.bytes.data() + done, m.bytes.size() - done, MSG_NOSIGNAL);
  iovec iov[2];
  int parts = 0;
  const size_t head = m.bytes.size();
  if (done < head) iov[parts++] = iovec{const_cast<uint8_t*>(m.bytes.data()) + done, head - done};
  const size_t from = done < head ? 0 : done - head;
  iov[parts++] = iovec{const_cast<uint8_t*>(m.body->data()) + m.bodyOffset + from, m.header().payloadBytes - from};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(parts);
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}
}  // namespace

bool Connection::flush(std::string* error) {
  while (true) {
    buildDeferred();
    if (out_.empty()) break;
    auto& [msg, done] = out_.front();
    const ssize_t n = sendRest(fd_, msg, done);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
      *error = "send failed: " + transport::errnoText(errno);
      return false;
    }
    done += static_cast<size_t>(n);
    queuedBytes_ -= static_cast<size_t>(n);
    if (done == msg.wireBytes()) {
      recycleBuffer(std::move(msg.bytes));
      out_.pop_front();
    }
  }
  return true;
}

bool Connection::checkHeader(const PsHeader& h, uint64_t maxPayload, std::string* error) {
  if (h.magic != kPsMagic || h.version != kPsVersion) {
    *error = "malformed message (bad magic or protocol version)";
    return false;
  }
  if (h.payloadBytes > maxPayload) {
    *error = "message of " + std::to_string(h.payloadBytes) + " bytes exceeds the limit of " + std::to_string(maxPayload) +
             " (SHOAL_PS_MAX_MESSAGE_BYTES)";
    return false;
  }
  return true;
}

void Connection::growPayload() {
  const uint64_t have = inMessage_.payloadBytes();
  const uint64_t next = std::min<uint64_t>(inHeader_.payloadBytes, std::max<uint64_t>(2 * have, kFirstChunkBytes));
  inMessage_.bytes.resize(sizeof(PsHeader) + next);
}

bool Connection::readSome(uint8_t* dst, size_t len, size_t* got, std::string* error) {
  const ssize_t n = ::recv(fd_, dst, len, 0);
  if (n > 0) {
    *got = static_cast<size_t>(n);
    return true;
  }
  if (n == 0) {
    *error = "connection closed";
    return false;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    *got = 0;
    return true;
  }
  *error = "recv failed: " + transport::errnoText(errno);
  return false;
}

}  // namespace psnet
}  // namespace shoal
