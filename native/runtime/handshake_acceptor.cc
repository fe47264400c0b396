#include "runtime/handshake_acceptor.h"

#include <sys/socket.h>

#include "common/error.h"
#include "transport/socket.h"

namespace shoal {
namespace runtime {

namespace {
// Connections taken off the listen queue per step, so a flood cannot starve the loop.
constexpr int kAcceptsPerStep = 64;
}  // namespace

HandshakeAcceptor::~HandshakeAcceptor() {
  for (auto& p : pending_) transport::closeFd(p.fd);
}

void HandshakeAcceptor::addPollFds(std::vector<pollfd>* fds) const {
  if (listenFd_ >= 0) fds->push_back(pollfd{listenFd_, POLLIN, 0});
  for (const auto& p : pending_) {
    fds->push_back(pollfd{p.fd, static_cast<short>(POLLIN | (p.handshake->wantsWrite() ? POLLOUT : 0)), 0});
  }
}

void HandshakeAcceptor::reject(Pending& p, const std::string& why) {
  ++rejected_;
  lastRejection_ = why + " (from " + p.from + ")";
  transport::closeFd(p.fd);
}

void HandshakeAcceptor::acceptQueued() {
  for (int i = 0; i < kAcceptsPerStep && listenFd_ >= 0; ++i) {
    std::string from;
    int fd = -1;
    try {
      fd = transport::tryAcceptTcp(listenFd_, &from);
    } catch (const Error& e) {
      lastRejection_ = e.what();  // e.g. EMFILE: the listener stays, we retry next step
      return;
    }
    if (fd < 0) return;
    if (pending_.size() >= config_.maxPending) {
      reject(pending_.front(), "too many unauthenticated connections: the oldest is dropped");
      pending_.pop_front();
    }
    auto hs = std::make_unique<ServerHandshake>(fd, config_.token, config_.commId, config_.rank, config_.size, config_.acceptPeer);
    pending_.push_back(Pending{fd, from, std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.timeoutMs), std::move(hs)});
  }
}

std::vector<HandshakeAcceptor::Accepted> HandshakeAcceptor::step() {
  acceptQueued();
  std::vector<Accepted> done;
  const auto now = std::chrono::steady_clock::now();
  std::deque<Pending> still;
  for (auto& p : pending_) {
    const ServerHandshake::State s = p.handshake->advance();
    if (s == ServerHandshake::State::kDone) {
      done.push_back(Accepted{p.fd, p.handshake->peer(), p.from});
    } else if (s == ServerHandshake::State::kFailed) {
      reject(p, p.handshake->error());
    } else if (now >= p.deadline) {
      reject(p, "no complete handshake within " + std::to_string(config_.timeoutMs) + " ms");
    } else {
      still.push_back(std::move(p));
    }
  }
  pending_.swap(still);
  return done;
}

}  // namespace runtime
}  // namespace shoal
