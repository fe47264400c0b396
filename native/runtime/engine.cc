#include "runtime/engine.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "collectives/step_plan.h"
#include "runtime/handshake.h"
#include "runtime/handshake_acceptor.h"
#include "runtime/host_topology.h"
#include "runtime/peer_memory_select.h"
#include "transport/socket.h"

namespace shoal {
namespace runtime {

// A small collective started by runHere: its op description, deadline and plan stay together
// so the comm thread can finish it where the calling thread stopped.
struct SmallRun {
  SmallRun(transport::Link& link, const transport::OpDesc& d, int64_t timeoutMs, std::chrono::steady_clock::time_point now,
           collectives::Scratch& scratch, const collectives::Tuning& tuning, const collectives::Topology* topology)
      : desc(d), deadline(timeoutMs, now), ctx{link, desc, deadline, scratch, tuning, topology} {}
  transport::OpDesc desc;
  Deadline deadline;
  collectives::Context ctx;
  collectives::StepPlan plan;
};

namespace {
// What every frame of the op says about it (Link checks the peers' frames against it).
transport::OpDesc describe(const Op& op) {
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
  return desc;
}

// Keeps the calling thread on one CPU (cpu >= 0) until it goes out of scope, then restores the
// thread's own mask. Two ranks' spinning threads that the scheduler put on one core slow each
// other down by an order of magnitude; the comm threads are pinned for the same reason. A
// thread already on that CPU is left alone: pinning and restoring cost ~5 us here, as much as
// the op, and a thread that spins is not moved in the microseconds the op takes.
class ScopedCpu {
 public:
  explicit ScopedCpu(int cpu) {
    if (cpu < 0 || sched_getcpu() == cpu) return;
    if (pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_) != 0 || !CPU_ISSET(cpu, &saved_)) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pinned_ = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
  }
  ~ScopedCpu() {
    if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
  }
  ScopedCpu(const ScopedCpu&) = delete;
  ScopedCpu& operator=(const ScopedCpu&) = delete;

 private:
  cpu_set_t saved_;
  bool pinned_ = false;
};

int usableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return CPU_COUNT(&set);
}

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
  cpus_ = usableCpus();  // before the comm thread pins itself
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
  link_.interrupt();
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
      cv_.wait(lock, [this] { return (!queue_.empty() && !callerRuns_) || stopping_; });
      if (queue_.empty()) return;  // stopping and drained
      op = std::move(queue_.front());
      queue_.pop_front();
      queued_.fetch_sub(1, std::memory_order_release);
      running_ = true;
    }
    const Status status = execute(*op);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_ = false;  // before done(): the caller's next small op may then run at once (runHere)
    }
    op->done(status);
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

Status Engine::execute(Op& op) {
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
    status = guarded([&] {
      switch (op.type) {
        case Op::Type::kConnect: connectMesh(op); break;
        case Op::Type::kCollective: op.started ? finishStarted(op) : runCollective(op); break;
        case Op::Type::kClose: closeMesh(); break;
      }
    });
  }
  return status;
}

Status Engine::guarded(const std::function<void()>& body) {
  try {
    body();
    return Status{};
  } catch (const Error& e) {
    // Our own failure (not one a peer told us about): tell the others why we stop. An abort
    // from JS that asked for it is told too (tellPeersPending_).
    poison(e, e.code() != ErrorCode::kAborted || tellPeersPending_.exchange(false));
    return Status{e.code(), e.what(), e.peer()};
  } catch (const std::exception& e) {
    Status status{ErrorCode::kInternal, std::string("internal error: ") + e.what(), -1};
    poison(Error(ErrorCode::kInternal, status.message), true);
    return status;
  }
}

Engine::Ran Engine::runHere(std::unique_ptr<Op>& op, int budgetUs, Status* status) {
  if (op->type != Op::Type::kCollective) return Ran::kNotHere;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Ops run in call order: only an idle, healthy engine lets the caller go first.
    if (!queue_.empty() || running_ || stopping_ || closed_ || aborted_.load(std::memory_order_acquire) ||
        (!connected_ && config_.size > 1)) {
      return Ran::kNotHere;
    }
    callerRuns_ = true;
  }
  op->seq = nextSeq_;
  // Not oversubscribed: keep this thread on the comm thread's core while it spins on the
  // peers. Oversubscribed: no spinning; poll with sched_yield() for yieldUs (200 us by
  // default, like OpenMPI's yield_when_idle), then sleep. On a quiet host that made np 4
  // bcast 8-11x, allReduce 1.1-1.4x and reduceTo 0.9-1.3x as fast as sleeping at once;
  // beside CPU-bound jobs it is 1.2-2.9x slower (BENCHMARKS.md), where SHOAL_YIELD_US=0
  // sleeps at once.
  const ScopedCpu pin(oversubscribed_ ? -1 : config_.cpu);
  const int spinUs = oversubscribed_ ? config_.yieldUs : config_.spinUs;
  const auto start = std::chrono::steady_clock::now();  // one clock read for the deadline and the budget
  auto run = std::make_shared<SmallRun>(link_, describe(*op), op->timeoutMs, start, scratch_, config_.tuning, &topology_);
  bool planned = false;
  bool finished = false;
  const Status st = guarded([&] {
    planned = collectives::planSmallOp(run->ctx, run->plan, op->kind, op->buf, op->count, op->root);
    if (!planned) return;
    ++nextSeq_;
    claimSeq(op->seq);
    finished = run->plan.advance(run->ctx, start + std::chrono::microseconds(budgetUs), spinUs);
  });
  std::lock_guard<std::mutex> lock(mutex_);
  callerRuns_ = false;
  if (st.ok() && !planned) return Ran::kNotHere;
  if (!st.ok() || finished) {
    *status = st;
    if (!queue_.empty()) cv_.notify_one();
    return Ran::kFinished;
  }
  op->started = std::move(run);
  queue_.push_front(std::move(op));
  queued_.fetch_add(1, std::memory_order_release);
  cv_.notify_one();
  return Ran::kHandedOff;
}

void Engine::claimSeq(uint64_t seq) {
  if (seq != linkSeq_) {
    throw Error(ErrorCode::kInternal, "collective seq " + std::to_string(seq) + " reached the connections out of order (expected seq " +
                                          std::to_string(linkSeq_) + "); stopping before it is matched with another op");
  }
  ++linkSeq_;
}

void Engine::finishStarted(Op& op) { op.started->plan.run(op.started->ctx); }

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
  claimSeq(op.seq);
  const transport::OpDesc desc = describe(op);
  const Deadline deadline(op.timeoutMs);
  collectives::Context ctx{link_, desc, deadline, scratch_, config_.tuning, &topology_};
  ctx.peerMemory = &peerMemory_;
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
  selectTransports(link_, config_.transport, config_.shmRingBytes ? config_.shmRingBytes : defaultRingBytes(size), deadline);
  collectives::Topology topology = exchangeHostKeys(link_, localHostKey(config_.hostId), deadline);
  transport::PeerMemory peerMemory = selectPeerMemory(link_, config_.directReads, topology, deadline);
  std::vector<std::string> kinds;
  for (int r = 0; r < size; ++r) kinds.push_back(link_.transportOf(r));
  const int localRanks = static_cast<int>(std::count(topology.hostOf.begin(), topology.hostOf.end(), topology.hostOf[static_cast<size_t>(rank)]));
  oversubscribed_ = localRanks > cpus_;
  // Oversubscribed, the comm thread spins no more than the caller does (see runHere).
  if (oversubscribed_) link_.setOversubscribed(config_.yieldUs);
  {
    std::lock_guard<std::mutex> lock(transportsMutex_);
    transports_ = std::move(kinds);
    topology_ = std::move(topology);
    peerMemory_ = std::move(peerMemory);
  }
  connected_ = true;
}

std::vector<std::string> Engine::transports() const {
  if (config_.size == 1) return {"self"};
  std::lock_guard<std::mutex> lock(transportsMutex_);
  return transports_;
}

bool Engine::directReads() const {
  std::lock_guard<std::mutex> lock(transportsMutex_);
  return peerMemory_.enabled;
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
