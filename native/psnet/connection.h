// One non-blocking TCP connection carrying PS messages (protocol.h) in both directions:
// an outbound queue written as the socket allows, and an inbound parser that hands each
// complete message (header + payload) to a callback. Used by the PS server and client,
// each on its own single I/O thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "psnet/protocol.h"

namespace shoal {
namespace psnet {

// Leaves the bytes a resize() adds uninitialised: a received message is overwritten by the
// socket and a hot-path message by its builder, so zeroing them first is a wasted pass over
// every byte (Message::make zeroes unless told the caller writes every byte).
template <typename T>
struct UninitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <typename U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};

// A message being built or received: the 48-byte header followed by the payload, in one
// buffer, so a response is filled in place and written without another copy.
struct Message {
  using Bytes = std::vector<uint8_t, UninitAllocator<uint8_t>>;
  Bytes bytes;
  // A message that sends another one's payload where it lies (a primary's forward of a push
  // to its replicas): `bytes` is then the header alone and the payload is header().payloadBytes
  // bytes of *body from bodyOffset. Only Connection::send reads it; payload() is not valid.
  std::shared_ptr<const Bytes> body;
  size_t bodyOffset = 0;

  // The payload is zeroed unless `filledByCaller` (the caller writes every payload byte).
  static Message make(MsgType type, uint32_t tableId, uint64_t requestId, size_t payloadBytes, bool filledByCaller = false);
  PsHeader& header() { return *reinterpret_cast<PsHeader*>(bytes.data()); }
  const PsHeader& header() const { return *reinterpret_cast<const PsHeader*>(bytes.data()); }
  uint8_t* payload() { return bytes.data() + sizeof(PsHeader); }
  const uint8_t* payload() const { return bytes.data() + sizeof(PsHeader); }
  size_t payloadBytes() const { return bytes.size() - sizeof(PsHeader); }
  // Bytes on the wire: header and payload, wherever the payload lies.
  size_t wireBytes() const { return body ? sizeof(PsHeader) + header().payloadBytes : bytes.size(); }

  // A header-only message of `type` whose payload is `payloadBytes` bytes of *body from
  // `offset` (which must stay unchanged until sent; the message keeps it alive).
  static Message sharing(MsgType type, uint32_t tableId, std::shared_ptr<const Bytes> body, size_t offset, size_t payloadBytes);
};

// Takes a received message's buffer for sharing (Message::sharing): the buffer returns to
// this thread's pool (recycleBuffer) once its last sharer is gone.
std::shared_ptr<const Message::Bytes> shareBuffer(Message::Bytes&& bytes);

// Buffers of large messages are reused per thread (sent ones, and received ones given back):
// a fresh ~1 MiB buffer from malloc is often new memory whose pages the kernel faults in
// and zeroes on first touch, a few ns per key on the push path. takeBuffer returns an empty
// buffer, with capacity for `bytes` when the pool had one; recycleBuffer keeps it if large.
Message::Bytes takeBuffer(size_t bytes);
void recycleBuffer(Message::Bytes&& bytes);

// A response to `request` with status and payload size set.
Message makeResponse(const PsHeader& request, uint32_t status, size_t payloadBytes, bool filledByCaller = false);
Message makeError(const PsHeader& request, uint32_t status, const std::string& message);

class Connection {
 public:
  Connection(int fd, int peer, std::string address) : fd_(fd), peer_(peer), address_(std::move(address)) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  int peer() const { return peer_; }
  const std::string& address() const { return address_; }
  bool wantsWrite() const { return !out_.empty() || !deferred_.empty(); }
  size_t queuedBytes() const { return queuedBytes_; }

  void send(Message m);
  // A message built only when the socket is about to need it (less than kBuildAheadBytes
  // queued): build(&m) fills m, or returns false to send nothing (its request was dropped
  // meanwhile). A client's request of many ~1 MiB messages then holds one or two built
  // messages per connection instead of all of them: their buffers come back from the pool,
  // already mapped and cached, instead of fresh pages the kernel faults in and zeroes.
  // Messages keep their order, deferred or not.
  void sendDeferred(std::function<bool(Message*)> build);
  // Writes what the socket takes. Returns false (with *error) if the connection failed.
  bool flush(std::string* error);
  // Reads what is available, calling onMessage(Message&&) per complete message. Returns
  // false (with *error) on EOF or failure. A bad magic or version, or a payload above
  // maxPayload, is a protocol error (the caller drops the connection). Stops early, at a
  // message boundary, while more than maxQueued bytes of answers wait to be written: a peer
  // that sends requests without reading the answers is not read either (readable() says so).
  template <typename F>
  bool receive(F&& onMessage, uint64_t maxPayload, std::string* error, size_t maxQueued = SIZE_MAX);
  bool readable(size_t maxQueued) const { return queuedBytes_ <= maxQueued; }

 private:
  // First payload buffer of a message; it doubles as bytes arrive, up to the announced size.
  // Large enough for a whole request of the clients' ~1 MiB messages (no regrowth copies),
  // small enough that a peer announcing a huge message costs little until it sends it.
  static constexpr uint64_t kFirstChunkBytes = 2 << 20;
  static constexpr size_t kBuildAheadBytes = 1 << 20;
  struct Deferred {
    Message ready;                              // a message sent behind deferred ones
    std::function<bool(Message*)> build;        // or the builder of one
  };
  void buildDeferred();
  static bool checkHeader(const PsHeader& h, uint64_t maxPayload, std::string* error);
  void growPayload();
  bool readSome(uint8_t* dst, size_t len, size_t* got, std::string* error);

  int fd_;
  int peer_;
  std::string address_;
  std::deque<std::pair<Message, size_t>> out_;  // message, bytes already written
  std::deque<Deferred> deferred_;               // after out_, built as it drains
  size_t queuedBytes_ = 0;
  PsHeader inHeader_{};
  size_t inHeaderDone_ = 0;
  Message inMessage_;
  size_t inPayloadDone_ = 0;
};

template <typename F>
bool Connection::receive(F&& onMessage, uint64_t maxPayload, std::string* error, size_t maxQueued) {
  while (true) {
    if (inHeaderDone_ == 0 && !readable(maxQueued)) return true;
    if (inHeaderDone_ < sizeof(PsHeader)) {
      size_t got = 0;
      if (!readSome(reinterpret_cast<uint8_t*>(&inHeader_) + inHeaderDone_, sizeof(PsHeader) - inHeaderDone_, &got, error)) return false;
      if (got == 0) return true;
      inHeaderDone_ += got;
      if (inHeaderDone_ < sizeof(PsHeader)) continue;
      if (!checkHeader(inHeader_, maxPayload, error)) return false;
      // The buffer grows as bytes arrive (growPayload): an announced size costs nothing.
      const size_t first = sizeof(PsHeader) + std::min<uint64_t>(inHeader_.payloadBytes, kFirstChunkBytes);
      inMessage_.bytes = takeBuffer(first);
      inMessage_.bytes.resize(first);
      inMessage_.header() = inHeader_;
      inPayloadDone_ = 0;
    }
    if (inPayloadDone_ < inHeader_.payloadBytes) {
      if (inPayloadDone_ == inMessage_.payloadBytes()) growPayload();
      size_t got = 0;
      if (!readSome(inMessage_.payload() + inPayloadDone_, inMessage_.payloadBytes() - inPayloadDone_, &got, error)) return false;
      if (got == 0) return true;
      inPayloadDone_ += got;
      if (inPayloadDone_ < inHeader_.payloadBytes) continue;
    }
    inHeaderDone_ = 0;
    Message done = std::move(inMessage_);
    inMessage_ = Message{};
    onMessage(std::move(done));
  }
}

}  // namespace psnet
}  // namespace shoal
