#include "psnet/client.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>  // for _mm_loadu_ps, _mm_storeu_ps
#endif

#include <algorithm>
#include <chrono>
#include <cstring>

#include "ps/mix64.h"
#include "psnet/server.h"
#include "runtime/handshake.h"
#include "transport/socket.h"

namespace shoal {
namespace psnet {

namespace {

// One key's row into or out of a message, a million times per request: no memcpy call for
// dim 1, nor for rows of up to 64 floats in whole 16-byte groups (dim 16 embeddings), whose
// call costs about as much as the copy (perf: memmove was 3% of a worker's push at dim 16).
inline void copyFloats(float* dst, const float* src, uint32_t n) {
  if (n == 1) {
    *dst = *src;
    return;
  }
#if defined(__SSE2__)
  if (n % 4 == 0 && n <= 64) {
    for (uint32_t j = 0; j < n; j += 4) _mm_storeu_ps(dst + j, _mm_loadu_ps(src + j));
    return;
  }
#endif
  std::memcpy(dst, src, n * sizeof(float));
}

// Shares in the servers' slot order (KeyGrouper::orderForStore) read the caller's values, and
// write its pull answers, at random positions: fetched this many keys ahead, the misses overlap.
constexpr size_t kCallerRowsAhead = 16;
inline void prefetchRow(const float* row, uint32_t n, bool forWrite) {
  if (forWrite) {
    __builtin_prefetch(row, 1);
    __builtin_prefetch(row + n - 1, 1);
  } else {
    __builtin_prefetch(row);
    __builtin_prefetch(row + n - 1);
  }
}

Status statusOf(const Message& m) {
  return Status{static_cast<ErrorCode>(m.header().status), std::string(reinterpret_cast<const char*>(m.payload()), m.payloadBytes()), -1};
}
}  // namespace

PsClient::PsClient(const PsClientConfig& config) : config_(config), ring_(config.vnodes) {
  if (config_.replication > config_.numServers) config_.replication = config_.numServers;
  if (config_.replication < 1) config_.replication = 1;
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) throw Error(ErrorCode::kIo, "eventfd failed: " + transport::errnoText(errno));
  initialServers_ = config_.numServers;
  conns_.resize(static_cast<size_t>(config_.numServers));
  alive_.assign(static_cast<size_t>(config_.numServers), true);
  left_.assign(static_cast<size_t>(config_.numServers), false);
  for (int s = 0; s < config_.numServers; ++s) ring_.addServer(static_cast<uint32_t>(s));
  // Request ids double as push update ids, which servers remember per worker rank (exactly
  // once across failover retries). A replacement worker (shoal run --max-restarts) has the
  // same rank as the process it replaces: start above every id that process can have used
  // (ms since the epoch << 20: it would need over 2^20 requests per ms of its life to reach
  // ours), or the servers drop the replacement's pushes as duplicates.
  nextRequestId_ = (static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count())
                    << 20) + 1;
  thread_ = std::thread([this] { loop(); });
}

PsClient::~PsClient() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  transport::closeFd(wakeFd_);
}

void PsClient::submit(std::unique_ptr<PsOp> op) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(op));
  }
  wake();
}

void PsClient::serverLost(int rank, const std::string& reason) { postPeerEvent(PeerEvent{rank, PeerEvent::Kind::kLost, reason, {}}); }

void PsClient::serverJoined(int rank, const runtime::PeerAddress& address) {
  postPeerEvent(PeerEvent{rank, PeerEvent::Kind::kJoined, std::string(), address});
}

void PsClient::serverLeft(int rank) { postPeerEvent(PeerEvent{rank, PeerEvent::Kind::kLeft, std::string(), {}}); }

void PsClient::postPeerEvent(PeerEvent event) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    peerEvents_.push_back(std::move(event));
  }
  wake();
}

void PsClient::wake() {
  const uint64_t one = 1;
  (void)!::write(wakeFd_, &one, sizeof(one));
}

void PsClient::loop() {
  std::vector<pollfd> fds;
  std::vector<int> servers;
  while (true) {
    std::deque<std::unique_ptr<PsOp>> ops;
    std::vector<PeerEvent> events;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ops.swap(queue_);
      events.swap(peerEvents_);
      stopping = stopping_;
    }
    for (auto& e : events) {
      if (e.kind == PeerEvent::Kind::kJoined) joinServer(e.rank, e.address);
      else if (e.kind == PeerEvent::Kind::kLeft) leaveServer(e.rank);
      else loseServer(e.rank, e.reason);
    }
    for (auto& op : ops) {
      const uint64_t id = nextOpId_++;
      InFlight& f = inflight_[id];
      f.deadline = Deadline(op->timeoutMs);
      f.op = std::move(op);
      start(id);
    }
    if (stopping) break;
    fds.clear();
    servers.clear();
    fds.push_back(pollfd{wakeFd_, POLLIN, 0});
    servers.push_back(-1);
    for (int s = 0; s < config_.numServers; ++s) {
      const auto& c = conns_[static_cast<size_t>(s)];
      if (!c) continue;
      fds.push_back(pollfd{c->fd(), static_cast<short>(POLLIN | (c->wantsWrite() ? POLLOUT : 0)), 0});
      servers.push_back(s);
    }
    const int rc = poll(fds.data(), fds.size(), inflight_.empty() ? 1000 : 50);
    if (rc < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wakeFd_, &v, sizeof(v));
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      const int s = servers[i];
      if (!conns_[static_cast<size_t>(s)]) continue;
      std::string err;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!conns_[static_cast<size_t>(s)]->receive([&](Message&& m) { onResponse(s, std::move(m)); }, config_.maxMessageBytes, &err)) {
          loseServer(s, err);
          continue;
        }
      }
      auto& c = conns_[static_cast<size_t>(s)];
      if (c && c->wantsWrite() && !c->flush(&err)) loseServer(s, err);
    }
    checkDeadlines();
  }
  // Shutting down: whatever is still in flight fails.
  std::vector<uint64_t> ids;
  for (auto& [id, f] : inflight_) ids.push_back(id);
  for (uint64_t id : ids) fail(id, Status{ErrorCode::kAborted, "parameter-server client closed", -1});
  for (auto& c : conns_) c.reset();
}

// Servers registered with the coordinator only once they were listening, so a refused or
// failed connection means that server is gone: connect with a short deadline and treat a
// failure like a lost server (fine while a replica of its keys is left), rather than retry
// until the op's deadline.
void PsClient::connectAll(InFlight& f) {
  if (static_cast<int>(f.op->servers.size()) != config_.numServers) {
    throw Error(ErrorCode::kInvalidArgument, "connect: " + std::to_string(f.op->servers.size()) + " server addresses for " +
                                                 std::to_string(config_.numServers) + " servers");
  }
  const runtime::HandshakeIdentity self{config_.token, kPsCommId, config_.workerRank, kPsHandshakeSize};
  for (int s = 0; s < config_.numServers; ++s) {
    const auto& a = f.op->servers[static_cast<size_t>(s)];
    if (a.port == 0) {  // a slot no server holds (it left the job)
      left_[static_cast<size_t>(s)] = true;
      alive_[static_cast<size_t>(s)] = false;
      if (ring_.hasServer(static_cast<uint32_t>(s))) ring_.removeServer(static_cast<uint32_t>(s));
      continue;
    }
    const Deadline attempt(std::min<int64_t>(f.deadline.remainingMs(10000), 10000));
    int fd = -1;
    try {
      fd = transport::connectTcp(a.host, a.port, attempt);
      runtime::handshakeAsClient(fd, self, s, attempt);
    } catch (const Error& e) {
      transport::closeFd(fd);
      if (e.code() == ErrorCode::kAuth && std::string(e.what()).find("SHOAL_TOKEN") != std::string::npos) throw;
      loseServer(s, std::string("cannot connect: ") + e.what());
      if (!broken_.ok()) throw Error(broken_.code, broken_.message, s);
      continue;
    }
    conns_[static_cast<size_t>(s)] = std::make_unique<Connection>(fd, s, a.host + ":" + std::to_string(a.port));
  }
}

void PsClient::start(uint64_t opId) {
  InFlight& f = inflight_[opId];
  PsOp& op = *f.op;
  try {
    if (!broken_.ok() && op.type != PsOp::Type::kClose) {
      fail(opId, broken_);
      return;
    }
    if (!replicaFailure_.ok() && (op.type == PsOp::Type::kPush || op.type == PsOp::Type::kPull)) {
      const Status s = replicaFailure_;
      replicaFailure_ = Status{};
      fail(opId, s);
      return;
    }
    switch (op.type) {
      case PsOp::Type::kConnect:
        connectAll(f);
        complete(opId);
        return;
      case PsOp::Type::kClose:
        for (auto& c : conns_) {
          if (!c) continue;
          std::string err;
          c->flush(&err);
          c.reset();
        }
        complete(opId);
        return;
      case PsOp::Type::kCreateTable: {
        std::string payload(reinterpret_cast<const char*>(&op.spec), sizeof(TableSpec));
        payload += op.text;
        sendToAll(opId, MsgType::kCreateTable, payload, 0);
        return;
      }
      case PsOp::Type::kClock:
        ++clock_;
        sendToAll(opId, MsgType::kClock, std::string(), clock_);
        return;
      // The servers refuse a save before they have seen the losses this worker knows of
      // (handleSave): they would leave the lost servers' rows out of the snapshot.
      case PsOp::Type::kSave: sendToAll(opId, MsgType::kSave, op.text, static_cast<uint64_t>(lost_)); return;
      case PsOp::Type::kLoad: sendToAll(opId, MsgType::kLoad, op.text, 0); return;
      case PsOp::Type::kStats: sendToAll(opId, MsgType::kStats, std::string(), 0); return;
      case PsOp::Type::kVector: {
        auto t = tables_.find(op.tableId);
        if (t == tables_.end()) throw Error(ErrorCode::kInvalidArgument, "unknown table id (create it with ps.table() first)");
        if (t->second.spec.updater != kVectorUpdater) throw Error(ErrorCode::kInvalidArgument, "vector program on table '" + t->second.name + "', which is not a vector table");
        // Every live server runs the program on every row it holds (replicas too, so they stay
        // equal) and sums the rows it is the primary of on its live ring: after a loss the
        // replicas' holders take the lost server's rows. The header says how many losses this
        // worker knows of, so a server that has not seen them yet refuses (kPeerLost) instead
        // of summing over a ring that still has the dead server. With no replica left the
        // client is broken_ and never gets here.
        sendToAll(opId, MsgType::kVector, op.text, static_cast<uint64_t>(lost_), static_cast<uint32_t>(op.count));
        return;
      }
      case PsOp::Type::kPull:
      case PsOp::Type::kPush: {
        auto t = tables_.find(op.tableId);
        if (t == tables_.end()) throw Error(ErrorCode::kInvalidArgument, "unknown table id (create it with ps.table() first)");
        const bool push = op.type == PsOp::Type::kPush;
        const uint32_t per = push ? t->second.pushFloats : t->second.dim;
        if (op.floats != op.count * per) {
          throw Error(ErrorCode::kInvalidArgument,
                      std::string(push ? "push" : "pull") + " on table '" + t->second.name + "': " + std::to_string(op.count) +
                          " keys need " + std::to_string(op.count * per) + " values (" + std::to_string(per) + " per key), got " +
                          std::to_string(op.floats));
        }
        groupKeys(f, push, per);
        if (f.plan->uniq.empty()) {
          complete(opId);
          return;
        }
        sendShares(opId, f.plan->byServer, 0);
        return;
      }
    }
  } catch (const Error& e) {
    fail(opId, Status{e.code(), e.what(), e.peer()});
  }
}

// Groups the keys (distinct keys per server, in one radix pass; KeyGrouper) into a plan
// taken from the pool, or reuses the last request's plan when the keys are the same (key
// caching). Shares go in the caller's order, or in the servers' slot order for large requests
// of keys the table already holds (orderForStore). A push that repeats keys sends each key
// once with its values summed.
void PsClient::groupKeys(InFlight& f, bool sumValues, uint32_t floatsPerKey) {
  const PsOp& op = *f.op;
  const bool cached = op.count > 0 && cachedPlan_ && cachedKeys_.size() == op.count && cachedServers_ == config_.numServers &&
                      cachedRing_ == ring_.serverIds() && std::memcmp(cachedKeys_.data(), op.keys, op.count * sizeof(uint64_t)) == 0;
  if (cached) {
    // Keys already sent to this table, on the same connections (which the servers read in
    // order), have their rows there: send them in the servers' slot order from now on.
    const bool rowsExist = std::find(cachedTables_.begin(), cachedTables_.end(), op.tableId) != cachedTables_.end();
    if (!rowsExist) cachedTables_.push_back(op.tableId);
    if (!rowsExist || cachedPlan_->uniq.size() < config_.storeOrderMinKeys * static_cast<uint64_t>(config_.numServers)) {
      f.plan = cachedPlan_;
    } else {
      if (!cachedStorePlan_) {
        cachedStorePlan_ = takePlan();
        grouper_.orderForStore(*cachedPlan_, cachedStorePlan_.get());
      }
      f.plan = cachedStorePlan_;
    }
  } else {
    std::shared_ptr<KeyPlan> fresh = takePlan();
    grouper_.group(op.keys, op.count, ring_, config_.numServers, fresh.get());
    if (op.count > 0 && op.count <= kMaxCachedKeys) {
      recyclePlan(std::move(cachedPlan_));
      recyclePlan(std::move(cachedStorePlan_));
      cachedPlan_ = fresh;
      cachedTables_.assign(1, op.tableId);
      cachedKeys_.assign(op.keys, op.keys + op.count);
      cachedRing_ = ring_.serverIds();
      cachedServers_ = config_.numServers;
    }
    f.plan = std::move(fresh);
  }
  const KeyPlan& plan = *f.plan;
  f.summed.clear();
  if (!sumValues || plan.repeats.empty()) return;
  f.summed.resize(plan.uniq.size() * floatsPerKey);
  for (size_t u = 0; u < plan.uniq.size(); ++u) {
    std::memcpy(f.summed.data() + u * floatsPerKey, op.values + static_cast<size_t>(plan.firstOf[u]) * floatsPerKey, floatsPerKey * sizeof(float));
  }
  for (const auto& [i, u] : plan.repeats) {
    float* dst = f.summed.data() + static_cast<size_t>(u) * floatsPerKey;
    const float* src = op.values + static_cast<size_t>(i) * floatsPerKey;
    for (uint32_t j = 0; j < floatsPerKey; ++j) dst[j] += src[j];
  }
}

// Re-routes a request after a failover: its distinct keys go to their primaries on the ring
// as it is now, under the request's update id (the new owners may have applied it already as
// replicas).
void PsClient::partitionAndSend(uint64_t opId, const std::vector<uint32_t>& uniqIdx, uint64_t updateId) {
  InFlight& f = inflight_[opId];
  std::vector<std::vector<uint32_t>> byServer(static_cast<size_t>(config_.numServers));
  for (uint32_t u : uniqIdx) byServer[ring_.primary(f.plan->uniq[u])].push_back(u);
  sendShares(opId, byServer, updateId);
}

// Sends each server its share (positions in the plan's distinct keys).
// updateId 0: a first attempt (each request's id becomes its update id); otherwise the id of
// the request being re-routed.
// A server's share goes out in messages of about kMessageBytes (a first attempt only: a
// re-routed request keeps its update id, so it stays one message per server). The server
// applies, and its replica applies, the first parts while later ones are still being built
// and sent, instead of the whole request's stages running one after the other.
void PsClient::sendShares(uint64_t opId, const std::vector<std::vector<uint32_t>>& byServer, uint64_t updateId) {
  InFlight& f = inflight_[opId];
  const TableInfo& t = tables_[f.op->tableId];
  const size_t bytesPerKey = 8 + sizeof(float) * std::max(t.dim, t.pushFloats);
  const size_t perMessage = updateId != 0 ? SIZE_MAX : std::max<size_t>(kMessageBytes / bytesPerKey, 1024);
  for (int s = 0; s < config_.numServers; ++s) {
    const auto& all = byServer[static_cast<size_t>(s)];
    if (all.size() <= perMessage) {
      if (!all.empty()) sendKeys(opId, s, all, updateId);
      continue;
    }
    for (size_t from = 0; from < all.size(); from += perMessage) {
      const size_t to = std::min(all.size(), from + perMessage);
      sendKeys(opId, s, std::vector<uint32_t>(all.begin() + static_cast<std::ptrdiff_t>(from), all.begin() + static_cast<std::ptrdiff_t>(to)), updateId);
    }
  }
}

// Registers a request for `uniqIdx` (positions in the op's distinct keys) to `server`; its
// message is built when the connection is about to send it (buildRequest).
void PsClient::sendKeys(uint64_t opId, int server, std::vector<uint32_t> uniqIdx, uint64_t updateId) {
  InFlight& f = inflight_[opId];
  if (!conns_[static_cast<size_t>(server)]) {
    if (f.status.ok()) f.status = Status{ErrorCode::kInvalidUsage, "parameter-server client is not connected", -1};
    return;
  }
  const uint64_t rid = nextRequestId_++;
  if (updateId == 0) updateId = rid;
  requests_[rid] = SubRequest{opId, server, std::move(uniqIdx), updateId, {}};
  ++f.outstanding;
  // A pull carries the clock at which it was issued, not the one when its message is built.
  conns_[static_cast<size_t>(server)]->sendDeferred([this, rid, clock = clock_](Message* m) { return buildRequest(rid, clock, m); });
}

// The message of request `rid`, or false if the request is gone (its op failed, or its
// server was lost and the request re-routed).
bool PsClient::buildRequest(uint64_t rid, uint64_t pullClock, Message* out) {
  auto it = requests_.find(rid);
  if (it == requests_.end()) return false;
  SubRequest& sub = it->second;
  auto fit = inflight_.find(sub.opId);
  if (fit == inflight_.end()) return false;
  const InFlight& f = fit->second;
  const PsOp& op = *f.op;
  const bool push = op.type == PsOp::Type::kPush;
  const TableInfo& t = tables_[op.tableId];
  const size_t n = sub.uniqIdx.size();
  const size_t valueBytes = push ? n * t.pushFloats * sizeof(float) : 0;
  Message m = Message::make(push ? MsgType::kPush : MsgType::kPull, op.tableId, rid, n * 8 + valueBytes, /*filledByCaller=*/true);
  PsHeader& h = m.header();
  h.worker = static_cast<uint32_t>(config_.workerRank);
  h.count = static_cast<uint32_t>(n);
  const bool early = push && config_.ackOnPrimary && config_.replication > 1 && mayAckOnPrimary(t.spec);
  if (push) {
    h.setUpdateId(sub.updateId);
    if (early) h.flags = kAckOnPrimary;
  } else {
    h.setPullClock(pullClock);
  }
  auto* keys = reinterpret_cast<uint64_t*>(m.payload());
  const uint64_t* uniq = f.plan->uniq.data();
  const uint32_t* idx = sub.uniqIdx.data();
  for (size_t j = 0; j < n; ++j) keys[j] = uniq[idx[j]];
  if (push) {
    auto* vals = reinterpret_cast<float*>(m.payload() + n * 8);
    const uint32_t per = t.pushFloats;
    for (size_t j = 0; j < n; ++j) {
      if (j + kCallerRowsAhead < n) prefetchRow(f.valuesOf(idx[j + kCallerRowsAhead], per), per, false);
      copyFloats(vals + j * per, f.valuesOf(idx[j], per), per);
    }
  }
  // The caller may reuse its arrays once the op completes, which an early acknowledgement
  // allows before the replicas have the push: keep the payload for a re-send.
  if (early) sub.pushCopy.assign(m.payload(), m.payload() + m.payloadBytes());
  *out = std::move(m);
  return true;
}

void PsClient::sendToAll(uint64_t opId, MsgType type, const std::string& payload, uint64_t arg, uint32_t count) {
  InFlight& f = inflight_[opId];
  f.outstanding = 1;  // guard: complete only after every send is queued
  for (int s = 0; s < config_.numServers; ++s) {
    if (!conns_[static_cast<size_t>(s)] || left_[static_cast<size_t>(s)]) continue;
    const uint64_t rid = nextRequestId_++;
    Message m = Message::make(type, f.op->tableId, rid, payload.size());
    m.header().worker = static_cast<uint32_t>(config_.workerRank);
    if (type == MsgType::kVector) m.header().setVectorLost(arg);
    else if (type == MsgType::kSave) m.header().setSaveLost(arg);
    else m.header().setNewClock(arg);
    m.header().count = count;
    if (!payload.empty()) std::memcpy(m.payload(), payload.data(), payload.size());
    requests_[rid] = SubRequest{opId, s, {}, 0, {}};
    ++f.outstanding;
    conns_[static_cast<size_t>(s)]->send(std::move(m));
  }
  finishOne(opId);
}

void PsClient::onResponse(int server, Message&& m) {
  auto it = requests_.find(m.header().requestId);
  if (it == requests_.end()) {  // a replication notice, or an answer to a request we already re-routed or failed
    settleUnconfirmed(server, m);
    return;
  }
  SubRequest sub = std::move(it->second);
  requests_.erase(it);
  if ((m.header().flags & kReplicaPending) && m.header().status == 0 && !sub.pushCopy.empty()) {
    unconfirmed_[m.header().requestId] = Unconfirmed{server, m.header().tableId, sub.updateId, std::move(sub.pushCopy)};
  }
  auto fit = inflight_.find(sub.opId);
  if (fit == inflight_.end()) return;
  InFlight& f = fit->second;
  if (m.header().status != 0) {
    Status s = statusOf(m);
    s.message = "parameter server " + std::to_string(server) + ": " + s.message;
    if (f.status.ok()) f.status = s;
  } else if (f.op->type == PsOp::Type::kPull) {
    const uint32_t dim = tables_[f.op->tableId].dim;
    if (m.payloadBytes() != sub.uniqIdx.size() * dim * sizeof(float)) {
      if (f.status.ok()) f.status = Status{ErrorCode::kIo, "parameter server " + std::to_string(server) + " sent a pull answer of the wrong size", -1};
    } else {
      const auto* vals = reinterpret_cast<const float*>(m.payload());
      const size_t n = sub.uniqIdx.size();
      for (size_t j = 0; j < n; ++j) {
        if (j + kCallerRowsAhead < n) prefetchRow(f.pullSlot(sub.uniqIdx[j + kCallerRowsAhead], dim), dim, true);
        copyFloats(f.pullSlot(sub.uniqIdx[j], dim), vals + j * dim, dim);
      }
      recycleBuffer(std::move(m.bytes));  // the next message received reuses it
    }
  } else if (f.op->type == PsOp::Type::kVector) {
    f.answerOf[server].assign(reinterpret_cast<const char*>(m.payload()), m.payloadBytes());
  } else if (m.payloadBytes() > 0) {
    f.answers.emplace_back(reinterpret_cast<const char*>(m.payload()), m.payloadBytes());
  }
  finishOne(sub.opId);
}

// The final answer for a push acknowledged early (kReplicatedNotice), or for a re-send.
void PsClient::settleUnconfirmed(int server, const Message& m) {
  auto it = unconfirmed_.find(m.header().requestId);
  if (it == unconfirmed_.end() || it->second.server != server) return;
  unconfirmed_.erase(it);
  if (m.header().status != 0 && replicaFailure_.ok()) {
    Status s = statusOf(m);
    s.message = "parameter server " + std::to_string(server) + ", after acknowledging a push: " + s.message;
    replicaFailure_ = s;
  }
}

// The server of an unconfirmed push was lost: its replicas may not have the push. Each key
// goes to its owner on the ring without that server, under the push's update id, so a
// replica that did apply it skips it; the re-send is acknowledged only once applied
// everywhere, and stays unconfirmed until then.
void PsClient::resendUnconfirmed(Unconfirmed u) {
  auto t = tables_.find(u.tableId);
  if (t == tables_.end()) return;
  const uint32_t per = t->second.pushFloats;
  const size_t n = u.payload.size() / (8 + per * sizeof(float));
  const uint8_t* keys = u.payload.data();
  const uint8_t* values = keys + n * 8;
  std::vector<std::vector<uint32_t>> byServer(static_cast<size_t>(config_.numServers));
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t k;
    std::memcpy(&k, keys + i * 8, 8);
    byServer[ring_.primary(k)].push_back(i);
  }
  for (int s = 0; s < config_.numServers; ++s) {
    const auto& idx = byServer[static_cast<size_t>(s)];
    if (idx.empty()) continue;
    if (!conns_[static_cast<size_t>(s)]) {
      if (replicaFailure_.ok()) replicaFailure_ = Status{ErrorCode::kPeerLost, "parameter server " + std::to_string(u.server) + " was lost before its replicas confirmed a push, and server " + std::to_string(s) + " that now owns its keys is not connected", s};
      continue;
    }
    const size_t rowBytes = per * sizeof(float);
    const uint64_t rid = nextRequestId_++;
    Message m = Message::make(MsgType::kPush, u.tableId, rid, idx.size() * (8 + rowBytes), /*filledByCaller=*/true);
    m.header().worker = static_cast<uint32_t>(config_.workerRank);
    m.header().count = static_cast<uint32_t>(idx.size());
    m.header().setUpdateId(u.updateId);
    Unconfirmed part{s, u.tableId, u.updateId, {}};
    uint8_t* k = m.payload();
    uint8_t* v = k + idx.size() * 8;
    for (size_t j = 0; j < idx.size(); ++j) {
      std::memcpy(k + j * 8, keys + static_cast<size_t>(idx[j]) * 8, 8);
      std::memcpy(v + j * rowBytes, values + static_cast<size_t>(idx[j]) * rowBytes, rowBytes);
    }
    part.payload.assign(m.payload(), m.payload() + m.payloadBytes());
    unconfirmed_[rid] = std::move(part);
    conns_[static_cast<size_t>(s)]->send(std::move(m));
  }
}

void PsClient::finishOne(uint64_t opId) {
  auto it = inflight_.find(opId);
  if (it == inflight_.end()) return;
  if (--it->second.outstanding > 0) return;
  if (it->second.status.ok()) {
    complete(opId);
  } else {
    fail(opId, it->second.status);
  }
}

void PsClient::complete(uint64_t opId) {
  auto it = inflight_.find(opId);
  InFlight& f = it->second;
  if (f.op->type == PsOp::Type::kPull && f.plan) {
    // Later occurrences of a key get the answer its first occurrence received.
    const uint32_t dim = tables_[f.op->tableId].dim;
    for (const auto& [i, u] : f.plan->repeats) copyFloats(f.op->out + static_cast<size_t>(i) * dim, f.pullSlot(u, dim), dim);
  }
  for (auto& [server, answer] : f.answerOf) f.answers.push_back(std::move(answer));  // server order: sums add up the same way every run
  std::string text = "[";
  for (size_t i = 0; i < f.answers.size(); ++i) text += (i ? "," : "") + f.answers[i];
  text += "]";
  if (f.op->type == PsOp::Type::kCreateTable) {
    // Known to this client only once every server accepted it.
    TableInfo info;
    info.dim = f.op->spec.dim;
    info.pushFloats = f.op->spec.updater == 4 ? 2 * f.op->spec.dim : f.op->spec.dim;  // ftrl pushes (dz, dn)
    info.name = f.op->text;
    info.spec = f.op->spec;
    tables_[f.op->tableId] = info;
  }
  auto op = std::move(f.op);
  erase(it);
  op->done(Status{}, text);
}

void PsClient::erase(std::map<uint64_t, InFlight>::iterator it) {
  recyclePlan(std::const_pointer_cast<KeyPlan>(std::move(it->second.plan)));
  inflight_.erase(it);
}

std::shared_ptr<KeyPlan> PsClient::takePlan() {
  if (planPool_.empty()) return std::make_shared<KeyPlan>();
  std::shared_ptr<KeyPlan> plan = std::move(planPool_.back());
  planPool_.pop_back();
  return plan;
}

// A plan no op and no cache uses any more goes back to the pool (its buffers are reused).
void PsClient::recyclePlan(std::shared_ptr<KeyPlan> plan) {
  constexpr size_t kPooledPlans = 4;  // ops in flight at once, typically
  if (plan && plan.use_count() == 1 && planPool_.size() < kPooledPlans) planPool_.push_back(std::move(plan));
}

void PsClient::fail(uint64_t opId, const Status& status) {
  const Status s = status;  // may live in the InFlight erased below
  auto it = inflight_.find(opId);
  if (it == inflight_.end()) return;
  auto op = std::move(it->second.op);
  erase(it);
  for (auto r = requests_.begin(); r != requests_.end();) r = r->second.opId == opId ? requests_.erase(r) : std::next(r);
  op->done(s, std::string());
}

// A server is gone. Its keys now belong to the next servers on the ring, which hold their
// replicas; requests it never answered are sent there. With no replica left, data is lost
// and the client refuses to go on rather than serve initial values as if they were the model.
void PsClient::loseServer(int server, const std::string& reason) {
  if (server < 0 || server >= config_.numServers || !alive_[static_cast<size_t>(server)]) return;
  alive_[static_cast<size_t>(server)] = false;
  conns_[static_cast<size_t>(server)].reset();
  // A server that left (drained) is no loss: its keys are fully replicated elsewhere; only
  // its unanswered requests are re-sent (same update ids) to their owners on the new ring.
  const bool gone = left_[static_cast<size_t>(server)];
  if (!gone) ++lost_;
  const bool dataLost = !gone && (lost_ >= config_.replication || lost_ >= config_.numServers);
  if (gone) {
  } else if (dataLost) {
    broken_ = Status{ErrorCode::kPeerLost,
                     "parameter server " + std::to_string(server) + " lost (" + reason + ")" +
                         (config_.replication > 1 ? "; no replica is left for some keys" : " and tables have no replicas (replication 1)"),
                     server};
  } else {
    ring_.removeServer(static_cast<uint32_t>(server));
  }
  std::vector<Unconfirmed> unconfirmed;
  for (auto u = unconfirmed_.begin(); u != unconfirmed_.end();) {
    if (u->second.server == server) {
      unconfirmed.push_back(std::move(u->second));
      u = unconfirmed_.erase(u);
    } else {
      ++u;
    }
  }
  if (!dataLost) {
    for (auto& u : unconfirmed) resendUnconfirmed(std::move(u));
  }
  std::vector<std::pair<uint64_t, SubRequest>> orphans;
  for (auto r = requests_.begin(); r != requests_.end();) {
    if (r->second.server == server) {
      orphans.emplace_back(r->first, std::move(r->second));
      r = requests_.erase(r);
    } else {
      ++r;
    }
  }
  for (auto& [rid, sub] : orphans) {
    auto fit = inflight_.find(sub.opId);
    if (fit == inflight_.end()) continue;
    if (dataLost) {
      fail(sub.opId, broken_);
      continue;
    }
    const PsOp::Type t = fit->second.op->type;
    if (t == PsOp::Type::kVector) {
      fail(sub.opId, Status{ErrorCode::kPeerLost, "parameter server " + std::to_string(server) + " was lost (" + reason +
                                                      ") during a vector program: its rows' partial sums are missing", server});
      continue;
    }
    if (t == PsOp::Type::kSave) {
      // Its shard is not written; the others may not hold its rows yet (they write only
      // what they are primary of on the ring they know). A retry sees the loss everywhere.
      fail(sub.opId, Status{ErrorCode::kPeerLost, "parameter server " + std::to_string(server) + " was lost (" + reason +
                                                      ") during ps.save: its rows may be missing from the snapshot, so it is not written (save again)", server});
      continue;
    }
    if (t == PsOp::Type::kPull || t == PsOp::Type::kPush) {
      ++fit->second.outstanding;  // keep the op open while re-routing
      partitionAndSend(sub.opId, sub.uniqIdx, sub.updateId);
      finishOne(sub.opId);
    }
    // A lost server needs no clock, table, load or stats request any more.
    finishOne(sub.opId);
  }
}

// A replacement restored the lost server's data (every holder forwarded it each update made
// meanwhile), so its keys go to it again. Before any request it learns this worker's clock
// and tables on the new connection, which it reads in order.
void PsClient::joinServer(int server, const runtime::PeerAddress& address) {
  if (server < 0 || server >= kMaxServers) return;
  growTo(server + 1);
  // An added server (a slot no server held): no loss to undo.
  const bool added = left_[static_cast<size_t>(server)];
  if (alive_[static_cast<size_t>(server)]) loseServer(server, "replaced by a new server process");
  const runtime::HandshakeIdentity self{config_.token, kPsCommId, config_.workerRank, kPsHandshakeSize};
  int fd = -1;
  try {
    fd = transport::connectTcp(address.host, address.port, Deadline(10000));
    runtime::handshakeAsClient(fd, self, server, Deadline(10000));
  } catch (const Error&) {
    // Unreachable: keep sending its keys to the other owners, which forward them to it.
    transport::closeFd(fd);
    return;
  }
  auto conn = std::make_unique<Connection>(fd, server, address.host + ":" + std::to_string(address.port));
  Message clock = Message::make(MsgType::kClock, 0, nextRequestId_++, 0);  // answers are ignored
  clock.header().worker = static_cast<uint32_t>(config_.workerRank);
  clock.header().setNewClock(clock_);
  conn->send(std::move(clock));
  for (auto& [id, t] : tables_) {
    Message m = Message::make(MsgType::kCreateTable, id, nextRequestId_++, sizeof(TableSpec) + t.name.size());
    m.header().worker = static_cast<uint32_t>(config_.workerRank);
    std::memcpy(m.payload(), &t.spec, sizeof(TableSpec));
    std::memcpy(m.payload() + sizeof(TableSpec), t.name.data(), t.name.size());
    conn->send(std::move(m));
  }
  conns_[static_cast<size_t>(server)] = std::move(conn);
  alive_[static_cast<size_t>(server)] = true;
  left_[static_cast<size_t>(server)] = false;
  if (!added) --lost_;
  if (!ring_.hasServer(static_cast<uint32_t>(server))) ring_.addServer(static_cast<uint32_t>(server));
  // Data had been lost (too many servers down); the replacement restored those ranges from a
  // snapshot, so requests may go on, routed around the servers still missing.
  if (!broken_.ok() && lost_ < config_.replication && lost_ < config_.numServers) {
    broken_ = Status{};
    for (int s = 0; s < config_.numServers; ++s) {
      if (!alive_[static_cast<size_t>(s)] && ring_.hasServer(static_cast<uint32_t>(s))) ring_.removeServer(static_cast<uint32_t>(s));
    }
  }
}

// A drained server left: every key it owned is on its other owners and on the server that
// took its place, so the ring just drops it. The connection stays until the server closes
// it, so answers to requests already sent there still arrive; new ones go elsewhere.
void PsClient::leaveServer(int server) {
  if (server < 0 || server >= config_.numServers || left_[static_cast<size_t>(server)]) return;
  left_[static_cast<size_t>(server)] = true;
  if (!alive_[static_cast<size_t>(server)] && lost_ > 0) --lost_;  // it had been reported lost first
  if (ring_.hasServer(static_cast<uint32_t>(server))) ring_.removeServer(static_cast<uint32_t>(server));
}

void PsClient::growTo(int servers) {
  if (servers <= config_.numServers) return;
  config_.numServers = servers;
  conns_.resize(static_cast<size_t>(servers));
  alive_.resize(static_cast<size_t>(servers), false);
  left_.resize(static_cast<size_t>(servers), true);
}

void PsClient::checkDeadlines() {
  std::vector<uint64_t> late;
  for (auto& [id, f] : inflight_) {
    if (f.deadline.expired()) late.push_back(id);
  }
  for (uint64_t id : late) {
    std::string who;
    for (auto& [rid, sub] : requests_) {
      if (sub.opId == id) who += (who.empty() ? "" : ", ") + std::to_string(sub.server);
    }
    const int64_t ms = inflight_[id].deadline.timeoutMs();
    fail(id, Status{ErrorCode::kTimeout, "parameter-server request timed out after " + std::to_string(ms) + " ms waiting for server(s) " + who, -1});
  }
}

}  // namespace psnet
}  // namespace shoal
