#include "psnet/server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "psnet/inject_hook.h"
#include "psnet/json.h"
#include "psnet/snapshot.h"
#include "psnet/table_spec.h"
#include "runtime/handshake.h"
#include "runtime/handshake_acceptor.h"
#include "transport/socket.h"

namespace shoal {
namespace psnet {

namespace {
constexpr size_t kMaxParkedPulls = 1024;     // per connection (BSP/SSP pulls waiting for a clock)
constexpr uint32_t kOk = 0;

uint32_t code(ErrorCode c) { return static_cast<uint32_t>(c); }
}  // namespace

PsServer::PsServer(const PsServerConfig& config) : config_(config), fullRing_(config.vnodes), liveRing_(config.vnodes) {
  if (config_.replication > config_.numServers) config_.replication = config_.numServers;
  if (config_.replication < 1) config_.replication = 1;
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) throw Error(ErrorCode::kIo, "eventfd failed: " + transport::errnoText(errno));
  listenFd_ = transport::listenTcp(config_.bindHost, 0, &port_);
  peers_.assign(static_cast<size_t>(config_.numServers), PeerState::kAlive);
  joiner_.assign(static_cast<size_t>(config_.numServers), false);
  replicaConn_.assign(static_cast<size_t>(config_.numServers), 0);
  clocks_.assign(static_cast<size_t>(config_.numWorkers), 0);
  for (int s = 0; s < config_.numServers; ++s) {
    fullRing_.addServer(static_cast<uint32_t>(s));
    liveRing_.addServer(static_cast<uint32_t>(s));
  }
  restoring_ = config_.restore;
  const int workers = config_.numWorkers;
  // Workers, and servers (kServerIdBase + index; elastic: an added server's index is beyond ours).
  runtime::AcceptorConfig accept{config_.token, kPsCommId, config_.rank, kPsHandshakeSize, [workers](int r) {
    return (r >= 0 && r < workers) || (r >= kServerIdBase && r < kServerIdBase + kMaxServers);
  }};
  acceptor_ = std::make_unique<runtime::HandshakeAcceptor>(listenFd_, std::move(accept));
}

PsServer::~PsServer() {
  stop();
  transport::closeFd(listenFd_);
  transport::closeFd(wakeFd_);
}

void PsServer::start(const std::vector<runtime::PeerAddress>& servers) {
  if (static_cast<int>(servers.size()) != config_.numServers) {
    throw Error(ErrorCode::kInvalidArgument, "start: " + std::to_string(servers.size()) + " server addresses for " +
                                                 std::to_string(config_.numServers) + " servers");
  }
  if (thread_.joinable()) throw Error(ErrorCode::kInvalidUsage, "start: the server is already running");
  servers_ = servers;
  // Slots no server holds (servers that left): on neither ring.
  for (int s = 0; s < config_.numServers; ++s) {
    if (s == config_.rank || servers_[static_cast<size_t>(s)].port != 0) continue;
    peers_[static_cast<size_t>(s)] = PeerState::kAbsent;
    fullRing_.removeServer(static_cast<uint32_t>(s));
    liveRing_.removeServer(static_cast<uint32_t>(s));
  }
  // An added server owns its ranges on the new ring already; clients route to it only once it
  // announced itself (finishRestore puts it on its own routing ring then).
  if (config_.join) liveRing_.removeServer(static_cast<uint32_t>(config_.rank));
  restoreStartMs_ = nowMs();
  if (restoring_) setRestoreState("restoring", "");
  thread_ = std::thread([this] { loop(); });
}

void PsServer::serverLost(int rank) { postPeerEvent(rank, PeerEvent::kLost); }

void PsServer::serverJoined(int rank) { postPeerEvent(rank, PeerEvent::kJoined); }

void PsServer::serverLeft(int rank) { postPeerEvent(rank, PeerEvent::kLeft); }

void PsServer::drain() {
  setDrainState("draining", "");
  postPeerEvent(config_.rank, PeerEvent::kDrain);
}

// Called from JS threads: queue the event for the I/O thread and wake it.
void PsServer::postPeerEvent(int rank, PeerEvent event) {
  {
    std::lock_guard<std::mutex> lock(lostMutex_);
    peerEvents_.emplace_back(rank, event);
  }
  wake();
}

void PsServer::wake() {
  const uint64_t one = 1;
  (void)!::write(wakeFd_, &one, sizeof(one));
}

void PsServer::stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (linkThread_.joinable()) linkThread_.join();
  conns_.clear();
  acceptor_.reset();  // closes connections still in their handshake
}

void PsServer::setCustomUpdaters(std::vector<uint32_t> known, CustomUpdater fn) {
  customKnown_ = std::move(known);  // set before start(): the thread reads it
  custom_ = std::move(fn);
}

std::string PsServer::stats() {
  std::lock_guard<std::mutex> lock(statsMutex_);
  return statsJson_;
}

PsServer::Table& PsServer::addTable(uint32_t id, const std::string& name, const TableSpec& spec) {
  Table t;
  t.name = name;
  t.spec = spec;
  t.store = std::make_unique<ps::ShardStore>(toTableConfig(spec));
  t.staleness = stalenessOf(spec);
  return tables_.emplace(id, std::move(t)).first->second;
}

PsServer::Table* PsServer::findTable(uint32_t id) {
  auto it = tables_.find(id);
  return it == tables_.end() ? nullptr : &it->second;
}

// Links to the other servers carry replicated pushes. Every server dials every other one
// (links are one-directional: requests go out on our link, come in on theirs). Dialing runs
// on its own thread because the peer accepts in its I/O loop, which must keep running.
void PsServer::dialReplicas() {
  const runtime::HandshakeIdentity self{config_.token, kPsCommId, kServerIdBase + config_.rank, kPsHandshakeSize};
  for (int s = 0; s < config_.numServers && !stopping_.load(); ++s) {
    if (s == config_.rank || servers_[static_cast<size_t>(s)].port == 0) continue;
    const auto& a = servers_[static_cast<size_t>(s)];
    int fd = -1;
    try {
      fd = transport::connectTcp(a.host, a.port, Deadline(10000));
      runtime::handshakeAsClient(fd, self, s, Deadline(10000));
    } catch (const Error&) {
      transport::closeFd(fd);  // unreachable: the loop treats it as lost
    }
    std::lock_guard<std::mutex> lock(lostMutex_);
    dialed_.emplace_back(s, fd);
  }
  wake();
}

void PsServer::adoptReplicaLinks() {
  std::vector<std::pair<int, int>> links;
  {
    std::lock_guard<std::mutex> lock(lostMutex_);
    links.swap(dialed_);
  }
  for (auto [s, fd] : links) {
    if (fd < 0) {
      applyServerLoss(s);
      continue;
    }
    const uint64_t id = nextConnId_++;
    const auto& a = servers_[static_cast<size_t>(s)];
    conns_[id] = std::make_unique<Connection>(fd, kServerIdBase + s, a.host + ":" + std::to_string(a.port));
    replicaConn_[static_cast<size_t>(s)] = id;
  }
  if (linksReady_) return;
  for (int s = 0; s < config_.numServers; ++s) {
    const PeerState p = peers_[static_cast<size_t>(s)];
    if (s != config_.rank && p != PeerState::kLost && p != PeerState::kAbsent && replicaConn_[static_cast<size_t>(s)] == 0) return;
  }
  linksReady_ = true;
  std::deque<std::pair<uint64_t, Message>> parked;
  parked.swap(parkedPushes_);
  for (auto& [connId, m] : parked) handleRequest(connId, std::move(m));
}

void PsServer::loop() {
  if (config_.replication > 1) {
    linkThread_ = std::thread([this] { dialReplicas(); });
  } else {
    linksReady_ = true;
  }
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  uint64_t tick = 0;
  while (!stopping_.load()) {
    {
      std::vector<std::pair<int, PeerEvent>> events;
      {
        std::lock_guard<std::mutex> lock(lostMutex_);
        events.swap(peerEvents_);
      }
      for (auto [r, kind] : events) {
        if (kind == PeerEvent::kJoined) {
          applyServerJoin(r);
        } else if (kind == PeerEvent::kLeft) {
          applyServerLeave(r);
        } else if (kind == PeerEvent::kDrain) {
          startDrain();
        } else if (r >= 0 && r < config_.numServers && peers_[static_cast<size_t>(r)] == PeerState::kJoining) {
          // The coordinator's notice can arrive after the replacement's kSync overtook it on
          // TCP: it is about the old process. The replacement's own death drops its link.
        } else {
          applyServerLoss(r);
        }
      }
    }
    adoptReplicaLinks();
    if (restoring_ && linksReady_ && !syncsSent_) requestSyncs();
    fds.clear();
    ids.clear();
    fds.push_back(pollfd{wakeFd_, POLLIN, 0});
    ids.push_back(0);
    acceptor_->addPollFds(&fds);
    ids.resize(fds.size(), 0);
    const size_t firstConn = fds.size();
    for (auto& [id, c] : conns_) {
      const short in = c->readable(queueLimit(*c)) ? POLLIN : 0;
      fds.push_back(pollfd{c->fd(), static_cast<short>(in | (c->wantsWrite() ? POLLOUT : 0)), 0});
      ids.push_back(id);
    }
    const int rc = poll(fds.data(), fds.size(), 200);
    if (rc < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wakeFd_, &v, sizeof(v));
    }
    // Handshakes advance on every pass; a stranger gets a bounded slot, never the thread.
    adoptAccepted();
    for (size_t i = firstConn; i < fds.size(); ++i) {
      const uint64_t id = ids[i];
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      std::string err;
      if ((fds[i].events & POLLIN) && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        const bool ok = it->second->receive([&](Message&& m) { onMessage(id, std::move(m)); }, config_.maxMessageBytes, &err,
                                            queueLimit(*it->second));
        if (!ok) {
          // A peer that half-closed still gets the answers to what it sent (best effort).
          std::string ignored;
          it->second->flush(&ignored);
          dropConnection(id, err);
          continue;
        }
      }
    }
    flushAll();
    if ((++tick & 63) == 0) {
      const std::string json = statsJson();
      std::lock_guard<std::mutex> lock(statsMutex_);
      statsJson_ = json;
    }
  }
}

std::string PsServer::statsJson() const {
  std::ostringstream s;
  size_t keys = 0, bytes = 0;
  s << "{\"rank\":" << config_.rank << ",\"pid\":" << ::getpid() << ",\"tables\":[";
  bool first = true;
  for (auto& [tid, t] : tables_) {
    keys += t.store->size();
    bytes += t.store->memoryBytes();
    s << (first ? "" : ",") << "{\"name\":" << jsonString(t.name) << ",\"keys\":" << t.store->size()
      << ",\"memoryBytes\":" << t.store->memoryBytes() << "}";
    first = false;
  }
  const bool allAlive = std::all_of(peers_.begin(), peers_.end(), [](PeerState p) { return p == PeerState::kAlive || p == PeerState::kAbsent; });
  const uint64_t slowest = clocks_.empty() ? 0 : *std::min_element(clocks_.begin(), clocks_.end());
  const uint64_t fastest = clocks_.empty() ? 0 : *std::max_element(clocks_.begin(), clocks_.end());
  s << "],\"keys\":" << keys << ",\"memoryBytes\":" << bytes << ",\"pulls\":" << pulls_ << ",\"pushes\":" << pushes_
    << ",\"keysPulled\":" << keysPulled_ << ",\"keysPushed\":" << keysPushed_ << ",\"minClock\":" << slowest
    << ",\"maxClock\":" << fastest << ",\"deferredPulls\":" << deferred_.size()
    << ",\"replicating\":" << (config_.replication > 1 && allAlive ? "true" : "false")
    << ",\"restoring\":" << (restoring_ ? "true" : "false") << ",\"servers\":" << liveRing_.servers()
    << ",\"syncedRows\":" << restoredRows_ << ",\"rowsSent\":" << rowsSent_ << ",\"rowsPruned\":" << rowsPruned_
    << ",\"changing\":" << (pendingRing_ ? "true" : "false") << "}";
  return s.str();
}

// Answers a worker may leave unread before the server stops reading its requests. Server
// links are always read: each one carries requests one way and answers the other, so
// throttling them could stall two servers on each other.
size_t PsServer::queueLimit(const Connection& c) const {
  return c.peer() >= kServerIdBase ? SIZE_MAX : static_cast<size_t>(config_.maxMessageBytes);
}

void PsServer::adoptAccepted() {
  for (const auto& a : acceptor_->step()) {
    const uint64_t id = nextConnId_++;
    conns_[id] = std::make_unique<Connection>(a.fd, a.peer, a.from);
  }
}

void PsServer::dropConnection(uint64_t connId, const std::string& why) {
  auto it = conns_.find(connId);
  if (it == conns_.end()) return;
  conns_.erase(it);
  earlyAcked_.erase(connId);
  for (int s = 0; s < config_.numServers; ++s) {
    if (replicaConn_[static_cast<size_t>(s)] == connId) {
      replicaConn_[static_cast<size_t>(s)] = 0;
      applyServerLoss(s);
    }
  }
  (void)why;
  // Deferred pulls of a vanished worker can never be answered: forget them.
  deferred_.erase(std::remove_if(deferred_.begin(), deferred_.end(), [&](const DeferredPull& d) { return d.connId == connId; }),
                  deferred_.end());
}

int PsServer::serverOf(uint64_t connId) const {
  auto it = conns_.find(connId);
  if (it == conns_.end() || it->second->peer() < kServerIdBase) return -1;
  return it->second->peer() - kServerIdBase;
}

// After a server is lost its keys belong to the next servers on the ring, which hold the
// replicas. Keys it co-owned have one copy fewer until a replacement restores it; every
// other key keeps full replication.
void PsServer::applyServerLoss(int rank) {
  if (rank < 0 || rank >= config_.numServers || rank == config_.rank || peers_[static_cast<size_t>(rank)] == PeerState::kLost) return;
  // A server that left (drained) is on no ring: only what waited on its link is settled.
  const bool left = peers_[static_cast<size_t>(rank)] == PeerState::kAbsent;
  if (!left) peers_[static_cast<size_t>(rank)] = PeerState::kLost;
  joiner_[static_cast<size_t>(rank)] = false;
  if (!left && liveRing_.hasServer(static_cast<uint32_t>(rank))) liveRing_.removeServer(static_cast<uint32_t>(rank));
  // A server change in progress that involved it is off (an added server that died
  // before announcing itself; the leaving server itself).
  if (!left && pendingRing_ && (changeJoining_ == rank || changeLeaving_ == rank)) {
    pendingRing_.reset();
    changeJoining_ = changeLeaving_ = -1;
  }
  // A drain whose copies needed it fails, naming it (the leaving server keeps serving).
  if (!left && drainAsked_ && drainSyncPending_.count(rank)) {
    reply(drainConn_, makeError(drainRequest_, code(ErrorCode::kPeerLost), "parameter server " + std::to_string(rank) + " was lost during the drain"));
    drainAsked_ = false;
    drainSyncPending_.clear();
  }
  if (!left && draining_ && drainAcks_.count(rank)) {
    draining_ = false;
    drainAcks_.clear();
    setDrainState("failed", "parameter server " + std::to_string(rank) + " was lost during the drain");
  }
  // Pushes waiting on that server's acknowledgement need it no more: answer those whose
  // other replicas have all confirmed.
  for (auto it = pendingPushes_.begin(); it != pendingPushes_.end();) {
    auto& w = it->second.waitingOn;
    w.erase(std::remove(w.begin(), w.end(), rank), w.end());
    if (!w.empty()) {
      ++it;
      continue;
    }
    answerReplicated(it->second);
    it = pendingPushes_.erase(it);
  }
  // A holder we were restoring from is gone: ask the others again, so that the next owners
  // of the ranges it was sending (with replication > 2) send them.
  if (restoring_ && syncsSent_ && syncPending_.count(rank)) {
    syncPending_.erase(rank);
    syncsSent_ = false;  // the loop sends the kSync requests again
  }
}

// A replacement announced itself: clients route its keys to it again. An added server
// (not on our ring of all servers) announced itself once every holder had copied its ranges
// to it: both rings take it in, and rows this server no longer owns are dropped.
void PsServer::applyServerJoin(int rank) {
  if (rank < 0 || rank >= kMaxServers || rank == config_.rank) return;
  growTo(rank + 1);
  if (!fullRing_.hasServer(static_cast<uint32_t>(rank))) {
    const ps::HashRing before = liveRing_;
    peers_[static_cast<size_t>(rank)] = PeerState::kAlive;
    fullRing_.addServer(static_cast<uint32_t>(rank));
    if (!liveRing_.hasServer(static_cast<uint32_t>(rank))) liveRing_.addServer(static_cast<uint32_t>(rank));
    if (changeJoining_ == rank) {
      pendingRing_.reset();
      changeJoining_ = -1;
    }
    pruneNotOwned(before);
    return;
  }
  peers_[static_cast<size_t>(rank)] = PeerState::kAlive;
  if (!liveRing_.hasServer(static_cast<uint32_t>(rank))) liveRing_.addServer(static_cast<uint32_t>(rank));
}

// A drained server left: every key it owned is on its other owners and the next server on
// the ring (they copied it during the drain), so both rings just drop it.
void PsServer::applyServerLeave(int rank) {
  if (rank < 0 || rank >= config_.numServers || rank == config_.rank || peers_[static_cast<size_t>(rank)] == PeerState::kAbsent) return;
  peers_[static_cast<size_t>(rank)] = PeerState::kAbsent;
  joiner_[static_cast<size_t>(rank)] = false;
  if (fullRing_.hasServer(static_cast<uint32_t>(rank))) fullRing_.removeServer(static_cast<uint32_t>(rank));
  if (liveRing_.hasServer(static_cast<uint32_t>(rank))) liveRing_.removeServer(static_cast<uint32_t>(rank));
  if (changeLeaving_ == rank) {
    pendingRing_.reset();
    changeLeaving_ = -1;
  }
}

void PsServer::growTo(int servers) {
  if (servers <= config_.numServers) return;
  config_.numServers = servers;
  peers_.resize(static_cast<size_t>(servers), PeerState::kAbsent);
  joiner_.resize(static_cast<size_t>(servers), false);
  replicaConn_.resize(static_cast<size_t>(servers), 0);
  servers_.resize(static_cast<size_t>(servers));
}

// After an add: rows of keys this server owns no more (the added server took its place in
// their owner set) are dropped. Keys it was the primary of stay: with one copy per key,
// workers that have not switched yet still read them here (with two or more copies the old
// primary always stays an owner, so this never applies).
void PsServer::pruneNotOwned(const ps::HashRing& before) {
  const uint32_t me = static_cast<uint32_t>(config_.rank);
  const int copies = std::min<int>(config_.replication, static_cast<int>(fullRing_.servers()));
  std::vector<uint32_t> owners(static_cast<size_t>(copies));
  for (auto& [id, t] : tables_) {
    std::vector<uint64_t> drop;
    t.store->forEach([&](uint64_t key, const float*) {
      fullRing_.owners(key, copies, owners.data());
      if (std::find(owners.begin(), owners.end(), me) != owners.end()) return;
      if (before.servers() > 0 && before.primary(key) == me) return;
      drop.push_back(key);
    });
    for (uint64_t k : drop) t.store->erase(k);
    rowsPruned_ += drop.size();
  }
}

// The other owners of a key that get its updates: lost servers are skipped, a restoring
// replacement is included (it must see every update made after its copy).
// Whether this server owns `key` now or on the ring being switched to.
bool PsServer::ownsKey(uint64_t key) const {
  uint32_t owners[8];
  const uint32_t me = static_cast<uint32_t>(config_.rank);
  const int n = std::min<int>(config_.replication, static_cast<int>(fullRing_.servers()));
  fullRing_.owners(key, n, owners);
  if (std::find(owners, owners + n, me) != owners + n) return true;
  if (!pendingRing_) return false;
  const int m = std::min<int>(config_.replication, static_cast<int>(pendingRing_->servers()));
  pendingRing_->owners(key, m, owners);
  return std::find(owners, owners + m, me) != owners + m;
}

// Every key's owners are all servers of the ring (so replicaTargets() is the same for all).
bool PsServer::everyServerOwnsEveryKey() const {
  return !pendingRing_ && fullRing_.servers() <= static_cast<size_t>(config_.replication);
}

// During a server change the owners on the pending ring get every update too (an added
// server, or the servers taking over a leaving one's keys), on the link their copy used.
void PsServer::replicaTargets(uint64_t key, std::vector<int>* out) const {
  out->clear();
  uint32_t owners[8];
  const auto take = [&](int n) {
    for (int c = 0; c < n; ++c) {
      const int s = static_cast<int>(owners[c]);
      const PeerState p = peers_[static_cast<size_t>(s)];
      if (s == config_.rank || p == PeerState::kLost || p == PeerState::kAbsent || replicaConn_[static_cast<size_t>(s)] == 0) continue;
      if (std::find(out->begin(), out->end(), s) == out->end()) out->push_back(s);
    }
  };
  const int n = std::min<int>(config_.replication, static_cast<int>(fullRing_.servers()));
  fullRing_.owners(key, n, owners);
  take(n);
  if (pendingRing_) {
    const int m = std::min<int>(config_.replication, static_cast<int>(pendingRing_->servers()));
    pendingRing_->owners(key, m, owners);
    take(m);
  }
}

uint64_t PsServer::sendToServer(int server, Message m) {
  const uint64_t id = nextReplicationId_++;
  sendReplicate(server, std::move(m), id, kServerSender);
  return id;
}

void PsServer::sendReplicate(int server, Message m, uint64_t requestId, uint32_t worker) {
  m.header().requestId = requestId;
  m.header().worker = worker;
  const uint64_t link = replicaConn_[static_cast<size_t>(server)];
  reply(link, std::move(m));
  std::string ignored;  // a failed link is noticed and dropped by the loop
  if (auto it = conns_.find(link); it != conns_.end()) it->second->flush(&ignored);
}

// Only queues: handlers run inside a connection's receive(), so nothing here may destroy a
// connection. The loop flushes (and drops failed connections) once handlers are done.
void PsServer::reply(uint64_t connId, Message m) {
  auto it = conns_.find(connId);
  if (it == conns_.end()) return;
  it->second->send(std::move(m));
}

void PsServer::flushAll() {
  std::vector<std::pair<uint64_t, std::string>> failed;
  for (auto& [id, c] : conns_) {
    std::string err;
    if (c->wantsWrite() && !c->flush(&err)) failed.emplace_back(id, err);
  }
  for (auto& [id, err] : failed) dropConnection(id, err);
}

void PsServer::onMessage(uint64_t connId, Message&& m) {
  const PsHeader& h = m.header();
  const int server = serverOf(connId);
  if (h.type & kResponseBit) {
    if (server >= 0) onResponse(connId, std::move(m));  // workers answer nothing: ignored
    return;
  }
  killAtRequest(config_.killAtRequest, ++requestsReceived_, config_.rank, msgTypeName(static_cast<MsgType>(h.type)));
  // Pushes wait until the replica links are up (replayed by adoptReplicaLinks), and a worker's
  // later messages wait behind them: a worker's requests are handled in the order it sent
  // them (a pull answered first would miss a push sent before it, which the pipelined
  // trainers rely on: algorithms/ps_trainer/step_pipeline.ts).
  if (server < 0 && (!parkedPushes_.empty() || (!linksReady_ && static_cast<MsgType>(h.type) == MsgType::kPush))) {
    parkedPushes_.emplace_back(connId, std::move(m));
    return;
  }
  handleRequest(connId, std::move(m));
}

// A request, counted (kill:server=K:request=N) when it arrived, handled now.
void PsServer::handleRequest(uint64_t connId, Message&& m) {
  const PsHeader h = m.header();  // a copy: handlePush may take m's buffer
  const int server = serverOf(connId);
  try {
    // A worker speaks only for itself: the rank it proved in the handshake.
    auto conn = conns_.find(connId);
    if (server < 0 && conn != conns_.end() && h.worker != static_cast<uint32_t>(conn->second->peer())) {
      throw Error(ErrorCode::kInvalidArgument, "request names worker " + std::to_string(h.worker) + " on the connection of worker " +
                                                   std::to_string(conn->second->peer()));
    }
    switch (static_cast<MsgType>(h.type)) {
      case MsgType::kCreateTable: handleCreateTable(connId, m); break;
      case MsgType::kPull: handlePull(connId, std::move(m)); break;
      case MsgType::kPush:
        handlePush(connId, m, false);
        recycleBuffer(std::move(m.bytes));  // applied and forwarded: the next message reuses it
        break;
      case MsgType::kReplicate:
        if (server < 0) throw Error(ErrorCode::kInvalidUsage, "replicate: only a parameter server may forward pushes");
        handlePush(connId, m, true);
        recycleBuffer(std::move(m.bytes));
        break;
      case MsgType::kClock: handleClock(connId, m); break;
      case MsgType::kSave: handleSave(connId, m); break;
      case MsgType::kLoad: handleLoad(connId, m); break;
      case MsgType::kSync: handleSync(connId, m); break;
      case MsgType::kSyncRows:
        if (serverOf(connId) < 0) throw Error(ErrorCode::kInvalidUsage, "syncRows: only a parameter server may send rows");
        handleSyncRows(serverOf(connId), m);
        break;
      case MsgType::kSyncApplied:
        if (serverOf(connId) < 0) throw Error(ErrorCode::kInvalidUsage, "syncApplied: only a parameter server may send update ids");
        handleSyncApplied(serverOf(connId), m);
        break;
      case MsgType::kSyncEnd:
        if (serverOf(connId) < 0) throw Error(ErrorCode::kInvalidUsage, "syncEnd: only a parameter server may send it");
        handleSyncEnd(serverOf(connId), m);
        break;
      case MsgType::kDrain: handleDrain(connId, m); break;
      case MsgType::kVector: handleVector(connId, m); break;
      case MsgType::kStats: {
        const std::string s = statsJson();
        Message r = makeResponse(h, kOk, s.size());
        std::memcpy(r.payload(), s.data(), s.size());
        reply(connId, std::move(r));
        break;
      }
      default: reply(connId, makeError(h, code(ErrorCode::kInvalidArgument), "unknown request type " + std::to_string(h.type)));
    }
  } catch (const Error& e) {
    reply(connId, makeError(h, code(e.code()), e.what()));
  } catch (const std::exception& e) {
    reply(connId, makeError(h, code(ErrorCode::kInternal), std::string("server error: ") + e.what()));
  }
}

void PsServer::onResponse(uint64_t connId, Message&& m) {
  const PsHeader& h = m.header();
  const int server = serverOf(connId);
  if ((h.type & ~kResponseBit) == static_cast<uint8_t>(MsgType::kSync)) {
    auto d = drainSyncPending_.find(server);
    if (d != drainSyncPending_.end() && d->second == h.requestId) {
      onDrainSyncAnswer(server, m);
    } else {
      onSyncDone(server, m);
    }
    return;
  }
  if ((h.type & ~kResponseBit) == static_cast<uint8_t>(MsgType::kDrain)) {
    onDrainAck(server, m);
    return;
  }
  auto it = pendingPushes_.find(h.requestId);
  if (it == pendingPushes_.end()) return;  // e.g. a forwarded clock or table: nothing waits
  PendingPush& p = it->second;
  auto w = std::find(p.waitingOn.begin(), p.waitingOn.end(), server);
  if (w == p.waitingOn.end()) return;
  p.waitingOn.erase(w);
  if (h.status != kOk && p.error.empty()) {
    p.errorCode = h.status;
    p.error = "replica failed to apply the push: " + std::string(reinterpret_cast<const char*>(m.payload()), m.payloadBytes());
  }
  if (!p.waitingOn.empty()) return;
  answerReplicated(p);
  pendingPushes_.erase(it);
}

void PsServer::handleCreateTable(uint64_t connId, const Message& m) {
  const PsHeader& h = m.header();
  if (m.payloadBytes() < sizeof(TableSpec)) throw Error(ErrorCode::kInvalidArgument, "createTable: short request");
  TableSpec spec;
  std::memcpy(&spec, m.payload(), sizeof(spec));
  if (m.payloadBytes() != sizeof(TableSpec) + spec.nameBytes) throw Error(ErrorCode::kInvalidArgument, "createTable: bad name length");
  const std::string name(reinterpret_cast<const char*>(m.payload() + sizeof(TableSpec)), spec.nameBytes);
  validateTableName(name);  // a hostile or buggy client's name never reaches stats or files
  if (h.tableId != tableIdOf(name)) {
    throw Error(ErrorCode::kInvalidArgument, "createTable: table id " + std::to_string(h.tableId) + " is not the id of table '" + name + "'");
  }
  if (spec.consistency > static_cast<uint8_t>(Consistency::kAsp) || spec.staleness < 0) {
    throw Error(ErrorCode::kInvalidArgument, "table '" + name + "': bad consistency " + std::to_string(spec.consistency) +
                                                 " / staleness " + std::to_string(spec.staleness));
  }
  if (Table* t = findTable(h.tableId)) {
    if (t->name != name) {
      throw Error(ErrorCode::kInvalidArgument, "table id " + std::to_string(h.tableId) + " is taken by table '" + t->name +
                                                   "' (hash collision with '" + name + "': rename one)");
    }
    if (!sameSpec(t->spec, spec)) {
      throw Error(ErrorCode::kInvalidArgument, "table '" + name + "' already exists with " + describeSpec(t->spec) +
                                                   "; this worker asked for " + describeSpec(spec));
    }
    reply(connId, makeResponse(h, kOk, 0));
    return;
  }
  if (spec.updater == kCustomUpdater &&
      std::find(customKnown_.begin(), customKnown_.end(), spec.customUpdater) == customKnown_.end()) {
    throw Error(ErrorCode::kInvalidArgument, "table '" + name + "': its custom updater is not loaded on parameter server " +
                                                 std::to_string(config_.rank) + " (start the job with --ps-updaters FILE that exports it)");
  }
  ps::validate(toTableConfig(spec));
  const Table& created = addTable(h.tableId, name, spec);
  forwardTableToJoiners(h.tableId, created);
  reply(connId, makeResponse(h, kOk, 0));
}

bool PsServer::pullReady(const Table& t, uint64_t clock) const {
  if (t.staleness < 0) return true;
  const uint64_t slowest = *std::min_element(clocks_.begin(), clocks_.end());
  // A worker at clock c may read once every worker has finished clock c - s - 1.
  return slowest + static_cast<uint64_t>(t.staleness) >= clock;
}

void PsServer::handlePull(uint64_t connId, Message&& m) {
  const PsHeader& h = m.header();
  Table* t = findTable(h.tableId);
  if (!t) throw Error(ErrorCode::kInvalidArgument, "pull: unknown table id " + std::to_string(h.tableId) + " (call ps.table() first)");
  if (m.payloadBytes() != static_cast<uint64_t>(h.count) * 8) throw Error(ErrorCode::kInvalidArgument, "pull: payload does not hold count keys");
  if (!pullReady(*t, h.pullClock())) {
    parkPull(connId, std::move(m));
    return;
  }
  const uint32_t dim = t->store->dim();
  const uint64_t answerBytes = static_cast<uint64_t>(h.count) * dim * sizeof(float);
  if (answerBytes > config_.maxMessageBytes) {
    // 8 bytes per key in, dim * 4 out: bounded like a request, not by what a client asks for.
    throw Error(ErrorCode::kInvalidArgument, "pull of " + std::to_string(h.count) + " keys from '" + t->name + "': the answer (" +
                                                 std::to_string(answerBytes) + " bytes) exceeds the limit of " +
                                                 std::to_string(config_.maxMessageBytes) + " (SHOAL_PS_MAX_MESSAGE_BYTES); split the pull");
  }
  Message r = makeResponse(h, kOk, answerBytes, /*filledByCaller=*/true);  // every row written below
  t->store->pull(reinterpret_cast<const uint64_t*>(m.payload()), h.count, reinterpret_cast<float*>(r.payload()));
  ++pulls_;
  keysPulled_ += h.count;
  reply(connId, std::move(r));
}

// Pulls waiting for the slowest worker's clock are bounded per connection, in number and
// bytes: an honest worker parks about one per table, a client asking for clocks nobody will
// reach soon gets an error instead of growing the server.
void PsServer::parkPull(uint64_t connId, Message&& m) {
  size_t count = 0, bytes = m.bytes.size();
  for (const auto& d : deferred_) {
    if (d.connId != connId) continue;
    ++count;
    bytes += d.request.bytes.size();
  }
  if (count >= kMaxParkedPulls || bytes > config_.maxMessageBytes) {
    throw Error(ErrorCode::kInvalidArgument, "pull at clock " + std::to_string(m.header().pullClock()) + ": " + std::to_string(count) +
                                                 " pulls of this worker already wait for slower workers (limit " +
                                                 std::to_string(kMaxParkedPulls) + " pulls, SHOAL_PS_MAX_MESSAGE_BYTES bytes)");
  }
  deferred_.push_back(DeferredPull{connId, std::move(m)});
}

void PsServer::releaseDeferredPulls() {
  std::deque<DeferredPull> waiting;
  waiting.swap(deferred_);
  for (auto& d : waiting) {
    Table* t = findTable(d.request.header().tableId);
    if (t && !pullReady(*t, d.request.header().pullClock())) {
      deferred_.push_back(std::move(d));
    } else {
      onMessage(d.connId, std::move(d.request));
    }
  }
}

void PsServer::handleClock(uint64_t connId, const Message& m) {
  const PsHeader& h = m.header();
  if (h.worker >= clocks_.size()) throw Error(ErrorCode::kInvalidArgument, "clock: worker " + std::to_string(h.worker) + " out of range");
  clocks_[h.worker] = std::max(clocks_[h.worker], h.newClock());
  reply(connId, makeResponse(h, kOk, 0));
  // A replacement learns the workers' clocks from us until every worker talks to it.
  if (serverOf(connId) < 0) {
    for (int s = 0; s < config_.numServers; ++s) {
      if (!joiner_[static_cast<size_t>(s)] || peers_[static_cast<size_t>(s)] == PeerState::kLost || replicaConn_[static_cast<size_t>(s)] == 0) continue;
      Message fwd = Message::make(MsgType::kClock, 0, 0, 0);
      fwd.header().setNewClock(h.newClock());
      sendReplicate(s, std::move(fwd), nextReplicationId_++, h.worker);
    }
  }
  releaseDeferredPulls();
}

void PsServer::requireLossesSeen(uint64_t workerLost, const char* op, const char* consequence) const {
  int lostHere = 0;
  for (PeerState p : peers_) lostHere += p == PeerState::kLost ? 1 : 0;
  if (workerLost > static_cast<uint64_t>(lostHere)) {
    throw Error(ErrorCode::kPeerLost, std::string(op) + ": parameter server " + std::to_string(config_.rank) + " knows of " + std::to_string(lostHere) +
                                          " lost server(s), the worker of " + std::to_string(workerLost) + "; " + consequence + " (retry once it has seen the loss)");
  }
}

void PsServer::handleSave(uint64_t connId, const Message& m) {
  const PsHeader& h = m.header();
  // Before it has seen a loss the worker knows of, this server would write only the rows it
  // is primary of on a ring that still has the dead server: the dead server's rows would be
  // in no shard.
  requireLossesSeen(h.saveLost(), "save", "the snapshot would miss the lost server's rows");
  const std::string dir(reinterpret_cast<const char*>(m.payload()), m.payloadBytes());
  std::ostringstream out;
  out << "[";
  bool first = true;
  for (auto& [id, t] : tables_) {
    // Each server writes the rows it is the primary owner of, so every key is saved once.
    const uint32_t me = static_cast<uint32_t>(config_.rank);
    const ShardFileInfo info = writeShard(dir, t.name, t.spec, *t.store, config_.rank,
                                          [&](uint64_t key) { return liveRing_.primary(key) == me; });
    out << (first ? "" : ",") << "{\"table\":" << jsonString(t.name) << ",\"file\":" << jsonString(info.file)
        << ",\"keys\":" << info.keys << ",\"bytes\":" << info.bytes << ",\"sha256\":" << jsonString(info.sha256) << "}";
    first = false;
  }
  out << "]";
  const std::string s = out.str();
  Message r = makeResponse(h, kOk, s.size());
  std::memcpy(r.payload(), s.data(), s.size());
  reply(connId, std::move(r));
}

void PsServer::handleLoad(uint64_t connId, const Message& m) {
  const PsHeader& h = m.header();
  // The payload lists the manifest's files with their sizes and SHA-256 (snapshot.h).
  const SnapshotListing listing = parseSnapshotListing(std::string(reinterpret_cast<const char*>(m.payload()), m.payloadBytes()));
  const uint32_t me = static_cast<uint32_t>(config_.rank);
  const int copies = config_.replication;
  std::vector<uint32_t> owners(static_cast<size_t>(copies));
  size_t loaded = 0;
  // Every shard file is read by every server, which keeps the rows it owns under the
  // current ring, so a snapshot loads onto a different number of servers too. All files are
  // verified first, so a corrupt snapshot changes nothing.
  loadSnapshot(listing, [&](const std::string& name, const TableSpec& spec, const std::string& file) -> ps::ShardStore* {
    validateTableName(name);
    const uint32_t id = tableIdOf(name);
    Table* t = findTable(id);
    if (!t) {
      t = &addTable(id, name, spec);
    } else if (!sameSpec(t->spec, spec)) {
      throw Error(ErrorCode::kInvalidArgument, "snapshot " + file + " holds table '" + name + "' with " + describeSpec(spec) +
                                                   " but the running table has " + describeSpec(t->spec));
    }
    return t->store.get();
  }, [&](uint64_t key) {
    fullRing_.owners(key, copies, owners.data());
    for (int c = 0; c < copies; ++c) if (owners[static_cast<size_t>(c)] == me) return true;
    return false;
  }, &loaded);
  const std::string s = "{\"rows\":" + std::to_string(loaded) + "}";
  Message r = makeResponse(h, kOk, s.size());
  std::memcpy(r.payload(), s.data(), s.size());
  reply(connId, std::move(r));
}

}  // namespace psnet
}  // namespace shoal
