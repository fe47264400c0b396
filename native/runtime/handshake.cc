#include "runtime/handshake.h"

#include <errno.h>
#include <sys/socket.h>

#include <cstring>
#include <random>

#include "common/error.h"
#include "common/sha256.h"
#include "transport/frame.h"
#include "transport/socket.h"

namespace shoal {
namespace runtime {

namespace {

constexpr uint32_t kHelloMagic = 0x4F4C4548;  // "HELO"

#pragma pack(push, 1)
struct Hello {
  uint32_t magic;
  uint16_t version;
  uint16_t reserved;
  uint32_t commId;
  int32_t fromRank;
  int32_t toRank;
  int32_t size;
  uint8_t nonce[32];
};
struct Challenge {
  uint8_t nonce[32];
  uint8_t mac[32];
};
#pragma pack(pop)

void randomNonce(uint8_t out[32]) {
  std::random_device rd;  // getrandom() on Linux
  for (int i = 0; i < 32; i += 4) {
    const uint32_t v = rd();
    std::memcpy(out + i, &v, 4);
  }
}

Digest proof(const std::string& token, char label, const Hello& hello, const uint8_t serverNonce[32]) {
  uint8_t msg[1 + sizeof(Hello) + 32];
  msg[0] = static_cast<uint8_t>(label);
  std::memcpy(msg + 1, &hello, sizeof(Hello));
  std::memcpy(msg + 1 + sizeof(Hello), serverNonce, 32);
  return hmacSha256(token, msg, sizeof(msg));
}

Digest toDigest(const uint8_t bytes[32]) {
  Digest d;
  std::memcpy(d.data(), bytes, 32);
  return d;
}

}  // namespace

void handshakeAsClient(int fd, const HandshakeIdentity& self, int peer, const Deadline& deadline) {
  Hello hello{};
  hello.magic = kHelloMagic;
  hello.version = transport::kProtocolVersion;
  hello.commId = self.commId;
  hello.fromRank = self.rank;
  hello.toRank = peer;
  hello.size = self.size;
  randomNonce(hello.nonce);
  transport::writeAll(fd, &hello, sizeof(hello), deadline, "handshake");
  Challenge ch{};
  try {
    transport::readAll(fd, &ch, sizeof(ch), deadline, "handshake");
  } catch (const Error& e) {
    throw Error(ErrorCode::kAuth,
                "rank " + std::to_string(peer) + " refused the handshake from rank " + std::to_string(self.rank) + " (" +
                    e.what() + "); do both ranks belong to the same job and communicator?",
                peer);
  }
  if (!digestEqual(toDigest(ch.mac), proof(self.token, 'S', hello, ch.nonce))) {
    throw Error(ErrorCode::kAuth,
                "authentication failed: the process listening for rank " + std::to_string(peer) +
                    " could not prove it holds the job secret (different SHOAL_TOKEN?)",
                peer);
  }
  const Digest mine = proof(self.token, 'C', hello, ch.nonce);
  transport::writeAll(fd, mine.data(), mine.size(), deadline, "handshake");
  uint8_t ack = 0;
  try {
    transport::readAll(fd, &ack, 1, deadline, "handshake");
  } catch (const Error& e) {
    // No answer at all is not a refusal (a refusing peer writes 0 before it closes): the
    // peer died or hung mid-handshake, which callers treat as a lost peer, not a bad token.
    throw Error(ErrorCode::kIo,
                "rank " + std::to_string(peer) + " went away during the handshake with rank " + std::to_string(self.rank) +
                    " (" + e.what() + ")",
                peer);
  }
  if (ack != 1) {
    throw Error(ErrorCode::kAuth,
                "rank " + std::to_string(peer) + " rejected rank " + std::to_string(self.rank) +
                    "'s credentials (different SHOAL_TOKEN?)",
                peer);
  }
}

ServerHandshake::ServerHandshake(int fd, std::string token, uint32_t commId, int rank, int size,
                                 std::function<bool(int)> acceptPeer)
    : fd_(fd), token_(std::move(token)), commId_(commId), rank_(rank), size_(size), acceptPeer_(std::move(acceptPeer)) {
  static_assert(sizeof(Hello) <= sizeof(in_) && sizeof(Challenge) <= sizeof(out_), "handshake buffers");
}

ServerHandshake::State ServerHandshake::fail(const std::string& why) {
  error_ = why;
  return State::kFailed;
}

bool ServerHandshake::readInto(uint8_t* dst, size_t len) {
  while (inDone_ < len) {
    const ssize_t n = ::recv(fd_, dst + inDone_, len - inDone_, 0);
    if (n > 0) {
      inDone_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    error_ = n == 0 ? "the connection closed during the handshake" : "recv failed during the handshake: " + transport::errnoText(errno);
    return false;
  }
  return true;
}

bool ServerHandshake::writeOut() {
  while (outDone_ < outLen_) {
    const ssize_t n = ::send(fd_, out_ + outDone_, outLen_ - outDone_, MSG_NOSIGNAL);
    if (n > 0) {
      outDone_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    error_ = "send failed during the handshake: " + transport::errnoText(errno);
    return false;
  }
  return true;
}

void ServerHandshake::onHello() {
  Hello hello;
  std::memcpy(&hello, in_, sizeof(hello));
  if (hello.magic != kHelloMagic || hello.version != transport::kProtocolVersion) {
    throw Error(ErrorCode::kIo, "not a Shoal peer (bad handshake magic or protocol version)");
  }
  if (hello.commId != commId_ || hello.toRank != rank_ || hello.size != size_) {
    throw Error(ErrorCode::kIo, "handshake for communicator " + std::to_string(hello.commId) + " rank " +
                                    std::to_string(hello.toRank) + " of " + std::to_string(hello.size) +
                                    " reached communicator " + std::to_string(commId_) + " rank " + std::to_string(rank_) +
                                    " of " + std::to_string(size_));
  }
  const bool allowed = acceptPeer_ ? acceptPeer_(hello.fromRank) : (hello.fromRank > rank_ && hello.fromRank < size_);
  if (!allowed) throw Error(ErrorCode::kIo, "handshake from unexpected rank " + std::to_string(hello.fromRank));
  std::memcpy(hello_, &hello, sizeof(hello));
  Challenge ch{};
  randomNonce(ch.nonce);
  std::memcpy(serverNonce_, ch.nonce, 32);
  const Digest mine = proof(token_, 'S', hello, ch.nonce);
  std::memcpy(ch.mac, mine.data(), 32);
  std::memcpy(out_, &ch, sizeof(ch));
  outLen_ = sizeof(ch);
  outDone_ = 0;
  peer_ = hello.fromRank;
}

void ServerHandshake::onProof() {
  Hello hello;
  std::memcpy(&hello, hello_, sizeof(hello));
  proofOk_ = digestEqual(toDigest(in_), proof(token_, 'C', hello, serverNonce_));
  out_[0] = proofOk_ ? 1 : 0;
  outLen_ = 1;
  outDone_ = 0;
}

ServerHandshake::State ServerHandshake::advance() {
  try {
    while (true) {
      switch (step_) {
        case Step::kReadHello:
          if (!readInto(in_, sizeof(Hello))) return State::kFailed;
          if (inDone_ < sizeof(Hello)) return State::kRunning;
          onHello();
          step_ = Step::kWriteChallenge;
          break;
        case Step::kWriteChallenge:
          if (!writeOut()) return State::kFailed;
          if (wantsWrite()) return State::kRunning;
          inDone_ = 0;
          step_ = Step::kReadProof;
          break;
        case Step::kReadProof:
          if (!readInto(in_, 32)) {
            return fail("rank " + std::to_string(peer_) + " broke off the handshake after our challenge (" + error_ +
                        "): it did not accept this rank's proof (different SHOAL_TOKEN?)");
          }
          if (inDone_ < 32) return State::kRunning;
          onProof();
          step_ = Step::kWriteAck;
          break;
        case Step::kWriteAck:
          // A refusal is told best-effort: the connection is closed either way.
          if (!writeOut() && proofOk_) return State::kFailed;
          if (proofOk_ && wantsWrite()) return State::kRunning;
          if (!proofOk_) return fail("authentication failed (wrong SHOAL_TOKEN)");
          return State::kDone;
      }
    }
  } catch (const Error& e) {
    return fail(e.what());
  }
}

}  // namespace runtime
}  // namespace shoal
