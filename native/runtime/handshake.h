// The connection handshake: both ends prove they hold the job secret (HMAC-SHA256 over
// fresh nonces from each side, so nothing replayable and never the secret itself crosses
// the wire) and agree on communicator, ranks and world size before any data flows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "common/deadline.h"

namespace shoal {
namespace runtime {

struct HandshakeIdentity {
  const std::string& token;
  uint32_t commId;
  int rank;
  int size;
};

// Connector side: we are `self.rank` connecting to `peer`. Throws kAuth or kIo.
void handshakeAsClient(int fd, const HandshakeIdentity& self, int peer, const Deadline& deadline);
// Acceptor side, as a non-blocking state machine so one thread can run many handshakes at
// once and a silent or slow stranger holds up nobody else (handshake_acceptor.h drives it).
// Every message is fixed-size: nothing a stranger announces is ever allocated.
// `acceptPeer` says which ranks may dial us; by default (collectives) only higher ranks of
// the same communicator.
class ServerHandshake {
 public:
  enum class State { kRunning, kDone, kFailed };
  ServerHandshake(int fd, std::string token, uint32_t commId, int rank, int size,
                  std::function<bool(int)> acceptPeer = nullptr);
  // Reads and writes what the socket allows without waiting. kDone: peer() authenticated;
  // kFailed: error() says why. The fd stays the caller's either way.
  State advance();
  bool wantsWrite() const { return outDone_ < outLen_; }
  int peer() const { return peer_; }
  const std::string& error() const { return error_; }

 private:
  enum class Step { kReadHello, kWriteChallenge, kReadProof, kWriteAck };
  bool readInto(uint8_t* dst, size_t len);   // false: failed (error_ set)
  bool writeOut();                           // false: failed (error_ set)
  State fail(const std::string& why);
  void onHello();
  void onProof();

  int fd_;
  std::string token_;
  uint32_t commId_;
  int rank_, size_;
  std::function<bool(int)> acceptPeer_;
  Step step_ = Step::kReadHello;
  uint8_t in_[64] = {};    // the message being read: the hello (56 bytes) or the proof (32)
  size_t inDone_ = 0;
  uint8_t out_[64] = {};   // the message being written: the challenge (64) or the ack (1)
  size_t outLen_ = 0, outDone_ = 0;
  uint8_t hello_[64] = {};
  uint8_t serverNonce_[32] = {};
  bool proofOk_ = false;
  int peer_ = -1;
  std::string error_;
};

}  // namespace runtime
}  // namespace shoal
