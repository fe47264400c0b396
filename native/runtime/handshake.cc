#include "runtime/handshake.h"

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
  } catch (const Error&) {
    ack = 0;
  }
  if (ack != 1) {
    throw Error(ErrorCode::kAuth,
                "rank " + std::to_string(peer) + " rejected rank " + std::to_string(self.rank) +
                    "'s credentials (different SHOAL_TOKEN?)",
                peer);
  }
}

int handshakeAsServer(int fd, const HandshakeIdentity& self, const Deadline& deadline,
                      const std::function<bool(int)>& acceptPeer) {
  Hello hello{};
  transport::readAll(fd, &hello, sizeof(hello), deadline, "handshake");
  if (hello.magic != kHelloMagic || hello.version != transport::kProtocolVersion) {
    throw Error(ErrorCode::kIo, "not a Shoal peer (bad handshake magic or protocol version)");
  }
  if (hello.commId != self.commId || hello.toRank != self.rank || hello.size != self.size) {
    throw Error(ErrorCode::kIo, "handshake for communicator " + std::to_string(hello.commId) + " rank " +
                                    std::to_string(hello.toRank) + " of " + std::to_string(hello.size) +
                                    " reached communicator " + std::to_string(self.commId) + " rank " +
                                    std::to_string(self.rank) + " of " + std::to_string(self.size));
  }
  const bool allowed = acceptPeer ? acceptPeer(hello.fromRank) : (hello.fromRank > self.rank && hello.fromRank < self.size);
  if (!allowed) {
    throw Error(ErrorCode::kIo, "handshake from unexpected rank " + std::to_string(hello.fromRank));
  }
  Challenge ch{};
  randomNonce(ch.nonce);
  const Digest mine = proof(self.token, 'S', hello, ch.nonce);
  std::memcpy(ch.mac, mine.data(), 32);
  transport::writeAll(fd, &ch, sizeof(ch), deadline, "handshake");
  uint8_t theirs[32];
  try {
    transport::readAll(fd, theirs, 32, deadline, "handshake");
  } catch (const Error& e) {
    throw Error(ErrorCode::kAuth,
                "rank " + std::to_string(hello.fromRank) + " broke off the handshake after our challenge (" + e.what() +
                    "): it did not accept this rank's proof (different SHOAL_TOKEN?)",
                hello.fromRank);
  }
  const bool ok = digestEqual(toDigest(theirs), proof(self.token, 'C', hello, ch.nonce));
  const uint8_t ack = ok ? 1 : 0;
  transport::writeAll(fd, &ack, 1, deadline, "handshake");
  if (!ok) throw Error(ErrorCode::kAuth, "authentication failed (wrong SHOAL_TOKEN)", hello.fromRank);
  return hello.fromRank;
}

}  // namespace runtime
}  // namespace shoal
