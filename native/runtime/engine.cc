#include "runtime/engine.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <sstream>

#include "runtime/handshake.h"
#include "runtime/handshake_acceptor.h"
#include "runtime/host_topology.h"
#include "transport/socket.h"

namespace shoal {
namespace runtime {

namespace {
// How long an unauthenticated connection may take over its handshake. Generous: handshakes
// no longer wait on each other, and an honest rank may be starved on an overloaded host.
constexpr int kHandshakeMs = 10000;

int makeWakeFd() {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "eventfd failed: " + transport::errnoText(errno));
  return fd;
}
}  // namespace

Engine::Engine(const EngineConfig& config)
    : config_(config),
      wakeFd_(makeWakeFd()),
      link_(config.rank, config.size, config.commId, config.maxFrameBytes, config.spinUs, &aborted_, wakeFd_) {
  if (config.size > 1) {
    try {
      listenFd_ = transport::listenTcp(config.bindHost, 0, &port_);
    } catch (...) {
      transport::closeFd(wakeFd_);
      throw;
    }
  }
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  abort(Status{ErrorCode::kAborted, "communicator destroyed", -1});
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  link_.closeAll();
  transport::closeFd(listenFd_);
  transport::closeFd(wakeFd_);
}

void Engine::submit(std::unique_ptr<Op> op) {
  if (op->type == Op::Type::kCollective) op->seq = nextSeq_++;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(op));
    queued_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_one();
}

void Engine::abort(const Status& why, bool tellPeers) {
  {
    std::lock_guard<std::mutex> lock(abortMutex_);
    if (aborted_.load(std::memory_order_acquire)) return;
    abortStatus_ = why;
    link_.setAbortStatus(why);
    tellPeersPending_.store(tellPeers, std::memory_order_relaxed);
    aborted_.store(true, std::memory_order_release);
  }
  const uint64_t one = 1;
  if (wakeFd_ >= 0) (void)!::write(wakeFd_, &one, sizeof(one));
  cv_.notify_all();
}

void Engine::loop() {
  using Clock = std::chrono::steady_clock;
  if (config_.cpu >= 0) {
    // Ranks sharing a host each get their own core for their comm thread, so two busy comm
    // threads never end up time-slicing one core while another idles.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(config_.cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  }
  while (true) {
    // Wait briefly for the next op before sleeping: back-to-back small collectives then skip
    // a futex wake-up (~25 us here). sched_yield keeps the core available to the JS thread,
    // which is taking the last result and submitting the next op (measured in BENCHMARKS.md).
    const auto spinUntil = Clock::now() + std::chrono::microseconds(config_.queueSpinUs);
    while (queued_.load(std::memory_order_acquire) == 0 && Clock::now() < spinUntil) sched_yield();
    std::unique_ptr<Op> op;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping and drained
      op = std::move(queue_.front());
      queue_.pop_front();
      queued_.fetch_sub(1, std::memory_order_release);
    }
    execute(*op);
    if (op->type == Op::Type::kClose) {
      // Fail anything queued after close() the same way.
      std::unique_lock<std::mutex> lock(mutex_);
      while (!queue_.empty()) {
        auto late = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        late->done(Status{ErrorCode::kInvalidUsage, "communicator is closed", -1});
        lock.lock();
      }
      return;
    }
  }
}

void Engine::execute(Op& op) {
  Status status;
  if (aborted_.load(std::memory_order_acquire) && op.type != Op::Type::kClose) {
    {
      std::lock_guard<std::mutex> lock(abortMutex_);
      status = abortStatus_;
    }
    // Peers are told from here, the thread that owns the sockets (abort() runs on JS's).
    if (tellPeersPending_.exchange(false) && connected_) link_.sendAbortToAll(Error(status.code, status.message, status.peer));
  } else if (closed_) {
    status = Status{ErrorCode::kInvalidUsage, "communicator is closed", -1};
  } else {
    try {
      switch (op.type) {
        case Op::Type::kConnect: connectMesh(op); break;
        case Op::Type::kCollective: runCollective(op); break;
        case Op::Type::kClose: closeMesh(); break;
      }
    } catch (const Error& e) {
      status = Status{e.code(), e.what(), e.peer()};
      // Our own failure (not one a peer told us about): tell the others why we stop. An abort
      // from JS that asked for it is told too (tellPeersPending_).
      poison(e, e.code() != ErrorCode::kAborted || tellPeersPending_.exchange(false));
    } catch (const std::exception& e) {
      status = Status{ErrorCode::kInternal, std::string("internal error: ") + e.what(), -1};
      poison(Error(ErrorCode::kInternal, status.message), true);
    }
  }
  op.done(status);
}

void Engine::poison(const Error& e, bool tellPeers) {
  {
    std::lock_guard<std::mutex> lock(abortMutex_);
    if (!aborted_.load(std::memory_order_acquire)) {
      abortStatus_ = Status{e.code(), e.what(), e.peer()};
      link_.setAbortStatus(abortStatus_);
      aborted_.store(true, std::memory_order_release);
    }
  }
  if (tellPeers && connected_) link_.sendAbortToAll(e);
}

void Engine::runCollective(Op& op) {
  if (!connected_ && config_.size > 1) {
    throw Error(ErrorCode::kInvalidUsage, "communicator is not connected yet");
  }
  transport::OpDesc desc;
  desc.kind = op.kind;
  desc.dtype = op.dtype;
  desc.reduceOp = op.reduceOp;
  desc.root = op.root;
  desc.seq = op.seq;
  desc.count = op.count;
  // Variable-size ops: what every rank passes alike (per-rank sizes differ by design).
  if (op.kind == transport::OpKind::kReduceScatter || op.kind == transport::OpKind::kAllGatherv) {
    desc.count = 0;
    for (size_t n : op.counts) desc.count += n;
  }
  if (op.kind == transport::OpKind::kSparseAllReduce || op.kind == transport::OpKind::kSparseReduceScatter) desc.count = op.dim;
  const Deadline deadline(op.timeoutMs);
  collectives::Context ctx{link_, desc, deadline, scratch_, config_.tuning, &topology_};
  switch (op.kind) {
    case transport::OpKind::kAllReduce: collectives::allReduce(ctx, op.buf, op.count); break;
    case transport::OpKind::kReduceTo: collectives::reduceTo(ctx, op.buf, op.count, op.root); break;
    case transport::OpKind::kBcast: collectives::bcast(ctx, op.buf, op.count, op.root); break;
    case transport::OpKind::kAllGather: collectives::allGather(ctx, op.buf, op.recv, op.count); break;
    case transport::OpKind::kBarrier: collectives::barrier(ctx); break;
    case transport::OpKind::kReduceScatter: collectives::reduceScatter(ctx, op.buf, op.recv, op.counts); break;
    case transport::OpKind::kAllGatherv: collectives::allGatherv(ctx, op.buf, op.recv, op.counts); break;
    case transport::OpKind::kSparseAllReduce:
    case transport::OpKind::kSparseReduceScatter:
      collectives::sparseAllReduce(ctx, static_cast<const uint64_t*>(op.buf), static_cast<const float*>(op.recv), op.count, op.dim,
                                   op.kind == transport::OpKind::kSparseReduceScatter, *op.sparseOut);
      break;
    default: throw Error(ErrorCode::kInvalidArgument, "unknown collective kind");
  }
}

// Rank r dials every lower rank and accepts every higher one. Dialing happens first and
// lower ranks accept as soon as their own dialing is done, so the order cannot deadlock.
void Engine::connectMesh(Op& op) {
  if (connected_) throw Error(ErrorCode::kInvalidUsage, "communicator is already connected");
  const int rank = config_.rank;
  const int size = config_.size;
  if (static_cast<int>(op.peers.size()) != size) {
    throw Error(ErrorCode::kInvalidArgument, "connect: got " + std::to_string(op.peers.size()) + " addresses for " + std::to_string(size) + " ranks");
  }
  const Deadline deadline(op.timeoutMs);
  const HandshakeIdentity self{config_.token, config_.commId, rank, size};
  auto& peers = link_.peers();
  for (int j = 0; j < rank; ++j) {
    const PeerAddress& a = op.peers[static_cast<size_t>(j)];
    int fd = transport::connectTcp(a.host, a.port, deadline);
    try {
      handshakeAsClient(fd, self, j, deadline);
    } catch (...) {
      transport::closeFd(fd);
      throw;
    }
    peers[static_cast<size_t>(j)].fd = fd;
    peers[static_cast<size_t>(j)].address = a.host + ":" + std::to_string(a.port);
  }
  int missing = size - 1 - rank;
  // Handshakes run side by side, each for a bounded time, so a silent stranger on our port
  // delays no higher rank's connection.
  HandshakeAcceptor acceptor(listenFd_, AcceptorConfig{config_.token, config_.commId, rank, size, nullptr, kHandshakeMs});
  std::vector<pollfd> fds;
  while (missing > 0) {
    if (aborted_.load(std::memory_order_acquire)) throw Error(abortStatus_.code, abortStatus_.message, abortStatus_.peer);
    for (const auto& a : acceptor.step()) {
      if (peers[static_cast<size_t>(a.peer)].fd >= 0) {
        int dup = a.fd;
        transport::closeFd(dup);  // the first connection of that rank stays
        continue;
      }
      peers[static_cast<size_t>(a.peer)].fd = a.fd;
      peers[static_cast<size_t>(a.peer)].address = a.from;
      --missing;
    }
    if (missing == 0) break;
    if (deadline.expired()) {
      std::ostringstream s;
      s << "connect: rank" << (missing > 1 ? "s" : "");
      bool first = true;
      for (int j = rank + 1; j < size; ++j) {
        if (peers[static_cast<size_t>(j)].fd >= 0) continue;
        s << (first ? " " : ", ") << j;
        first = false;
      }
      s << " did not connect to rank " << rank << " within " << deadline.timeoutMs() << " ms";
      if (acceptor.rejected()) s << "; " << acceptor.rejected() << " connection attempt(s) rejected, last: " << acceptor.lastRejection();
      throw Error(acceptor.rejected() ? ErrorCode::kAuth : ErrorCode::kTimeout, s.str());
    }
    fds.clear();
    acceptor.addPollFds(&fds);
    poll(fds.data(), fds.size(), deadline.remainingMs(200));
  }
  transport::closeFd(listenFd_);  // the mesh is complete; nobody else may join
  selectTransports(link_, config_.transport, config_.shmRingBytes, deadline);
  collectives::Topology topology = exchangeHostKeys(link_, localHostKey(config_.hostId), deadline);
  std::vector<std::string> kinds;
  for (int r = 0; r < size; ++r) kinds.push_back(link_.transportOf(r));
  {
    std::lock_guard<std::mutex> lock(transportsMutex_);
    transports_ = std::move(kinds);
    topology_ = std::move(topology);
  }
  connected_ = true;
}

std::vector<std::string> Engine::transports() const {
  if (config_.size == 1) return {"self"};
  std::lock_guard<std::mutex> lock(transportsMutex_);
  return transports_;
}

std::vector<int> Engine::hosts() const {
  if (config_.size == 1) return {0};
  std::lock_guard<std::mutex> lock(transportsMutex_);
  return topology_.hostOf;
}

void Engine::closeMesh() {
  if (connected_ && !aborted_.load(std::memory_order_acquire)) link_.sendGoodbyeToAll();
  closed_ = true;
}

}  // namespace runtime
}  // namespace shoal
