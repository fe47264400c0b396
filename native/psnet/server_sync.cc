// Restoring a lost server's data into its replacement, while training goes on.
//
// The replacement (restore mode) dials every live server and sends kSync. A holder answers
// in one step of its I/O thread: it queues on that link the table specs, every row it is the
// current primary of among the replacement's keys (both the replacement's primary ranges and
// the ranges it replicated), its recent update ids (exactly-once retries), and last the kSync
// response with the workers' clocks. In the same step it starts treating the replacement as
// a replica of those keys, so every later push it applies is forwarded on the same link,
// behind the copy, and acknowledged to the worker only after the replacement applied it.
// TCP keeps the order, and the replacement applies the link's messages in order, so once the
// kSync response has arrived from every holder it holds every acknowledged update of its
// keys, and receives each later one before the worker hears it succeeded.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "psnet/json.h"
#include "psnet/server.h"
#include "psnet/snapshot.h"
#include "psnet/json.h"
#include "psnet/table_spec.h"

namespace shoal {
namespace psnet {

namespace {

constexpr uint32_t kOkStatus = 0;

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string PsServer::restoreStatus() {
  std::lock_guard<std::mutex> lock(restoreMutex_);
  return restoreJson_;
}

void PsServer::setRestoreState(const std::string& state, const std::string& error) {
  std::ostringstream s;
  s << "{\"state\":" << jsonString(state) << ",\"rows\":" << restoredRows_ << ",\"fromSnapshot\":" << snapshotRows_
    << ",\"ms\":" << (nowMs() - restoreStartMs_) << ",\"syncMs\":" << (syncStartMs_ ? nowMs() - syncStartMs_ : 0);
  if (!error.empty()) s << ",\"error\":" << jsonString(error);
  s << "}";
  std::lock_guard<std::mutex> lock(restoreMutex_);
  restoreJson_ = s.str();
}

// Replacement: ask every live server for its part (again, after a holder was lost).
void PsServer::requestSyncs() {
  syncsSent_ = true;
  if (syncStartMs_ == 0) syncStartMs_ = nowMs();
  for (int s = 0; s < config_.numServers; ++s) {
    const PeerState p = peers_[static_cast<size_t>(s)];
    if (s == config_.rank || p == PeerState::kLost || p == PeerState::kAbsent || replicaConn_[static_cast<size_t>(s)] == 0) continue;
    Message m = Message::make(MsgType::kSync, 0, 0, 0);
    m.header().setSync(config_.join ? kSyncAdd : kSyncReplace, static_cast<uint64_t>(config_.rank));
    syncPending_[s] = sendToServer(s, std::move(m));
  }
  if (syncPending_.empty()) finishRestore();
}

// Holder: stream the joiner's rows, then forward its keys' updates from now on (see top).
// Mode kSyncAdd: the joiner is a new server; its keys are those it owns on the ring with it
// added (only the arcs it takes over). Mode kSyncDrain: see handleDrain.
void PsServer::handleSync(uint64_t connId, const Message& m) {
  const int joiner = serverOf(connId);
  if (joiner < 0 || joiner == config_.rank) throw Error(ErrorCode::kInvalidUsage, "sync: only another parameter server may ask for rows");
  if (restoring_) {
    throw Error(ErrorCode::kInvalidUsage, "parameter server " + std::to_string(config_.rank) + " is itself restoring and holds no complete copy");
  }
  const uint32_t mode = m.header().syncMode();
  const uint32_t me = static_cast<uint32_t>(config_.rank);
  const int copies = config_.replication;
  std::vector<uint32_t> owners(static_cast<size_t>(copies)), pending(static_cast<size_t>(copies));
  const auto has = [](const std::vector<uint32_t>& v, int s) { return std::find(v.begin(), v.end(), static_cast<uint32_t>(s)) != v.end(); };
  if (mode == kSyncDrain) {
    // The asker copies the keys it will own once `leaving` is gone, from their current
    // primary, on the link our updates to it travel (ours to it), ending with kSyncEnd.
    const int leaving = static_cast<int>(m.header().syncPeer());
    if (leaving < 0 || leaving >= config_.numServers || !fullRing_.hasServer(static_cast<uint32_t>(leaving))) {
      throw Error(ErrorCode::kInvalidArgument, "sync: server " + std::to_string(leaving) + " is not on the ring, so it cannot leave it");
    }
    if (replicaConn_[static_cast<size_t>(joiner)] == 0) throw Error(ErrorCode::kPeerLost, "sync: no link to parameter server " + std::to_string(joiner));
    beginChange(-1, leaving);
    const int n = std::min<int>(copies, static_cast<int>(pendingRing_->servers()));
    streamTo(joiner, [&](uint64_t key) {
      if (liveRing_.primary(key) != me) return false;
      pendingRing_->owners(key, n, pending.data());
      if (std::find(pending.begin(), pending.begin() + n, static_cast<uint32_t>(joiner)) == pending.begin() + n) return false;
      fullRing_.owners(key, copies, owners.data());
      return !has(owners, joiner);
    });
    Message end = Message::make(MsgType::kSyncEnd, 0, 0, clocks_.size() * 8);
    std::memcpy(end.payload(), clocks_.data(), clocks_.size() * 8);
    sendToServer(joiner, std::move(end));
    reply(connId, makeResponse(m.header(), kOkStatus, 0));
    return;
  }
  if (mode == kSyncAdd) {
    if (joiner < config_.numServers && fullRing_.hasServer(static_cast<uint32_t>(joiner))) {
      throw Error(ErrorCode::kInvalidArgument, "sync: server " + std::to_string(joiner) + " is already on the ring (a replacement restores, it does not join)");
    }
    growTo(joiner + 1);
    beginChange(joiner, -1);
  } else if (mode != kSyncReplace) {
    throw Error(ErrorCode::kInvalidArgument, "sync: unknown mode " + std::to_string(mode));
  }
  // The asker replaces the process we knew as `joiner`: whatever that one owed is void.
  if (peers_[static_cast<size_t>(joiner)] == PeerState::kAlive) applyServerLoss(joiner);
  peers_[static_cast<size_t>(joiner)] = PeerState::kJoining;
  joiner_[static_cast<size_t>(joiner)] = true;
  replicaConn_[static_cast<size_t>(joiner)] = connId;
  const ps::HashRing& ring = mode == kSyncAdd ? *pendingRing_ : fullRing_;
  streamTo(joiner, [&](uint64_t key) {
    // Its key, and we are the server clients send it to (the one that forwards its updates).
    if (liveRing_.primary(key) != me) return false;
    ring.owners(key, copies, owners.data());
    return has(owners, joiner);
  });
  // Last, on the same link: the workers' clocks. Its arrival means the copy is complete.
  Message done = makeResponse(m.header(), kOkStatus, clocks_.size() * 8);
  std::memcpy(done.payload(), clocks_.data(), clocks_.size() * 8);
  reply(connId, std::move(done));
}

// Queues on the link to `target`: every table's spec, the rows `wanted` picks, then the
// update ids we applied (a worker retrying one of them there must not apply it twice).
void PsServer::streamTo(int target, const std::function<bool(uint64_t)>& wanted) {
  const uint64_t budget = std::min<uint64_t>(config_.maxMessageBytes, 8ull << 20);
  for (auto& [id, t] : tables_) {
    sendTable(target, id, t);  // the spec goes before the rows
    const uint32_t rowFloats = t.store->rowFloats();
    const size_t rowBytes = 8 + static_cast<size_t>(rowFloats) * sizeof(float);
    const size_t perMessage = std::max<size_t>(1, budget / rowBytes);
    std::vector<uint64_t> keys;
    std::vector<float> rows;
    t.store->forEach([&](uint64_t key, const float* row) {
      if (!wanted(key)) return;
      keys.push_back(key);
      rows.insert(rows.end(), row, row + rowFloats);
    });
    // rowsAnnounced: rows of this table still to come from us, this message's included, so
    // the joiner can size its table first. Rows arrive in our table's slot order, which is
    // hash order: inserted into a table smaller than the final one they would pile up in
    // one region (long probe runs, quadratic time: 40 s for 650k rows before this).
    for (size_t first = 0; first < keys.size(); first += perMessage) {
      const size_t n = std::min(perMessage, keys.size() - first);
      Message r = Message::make(MsgType::kSyncRows, id, 0, n * rowBytes);
      r.header().count = static_cast<uint32_t>(n);
      r.header().setRowsAnnounced(keys.size() - first);
      std::memcpy(r.payload(), keys.data() + first, n * 8);
      std::memcpy(r.payload() + n * 8, rows.data() + first * rowFloats, n * rowFloats * sizeof(float));
      sendToServer(target, std::move(r));
    }
    rowsSent_ += keys.size();
  }
  std::vector<uint64_t> pairs;
  const size_t perMessage = std::max<size_t>(1, budget / 16);
  const auto flushIds = [&]() {
    if (pairs.empty()) return;
    Message r = Message::make(MsgType::kSyncApplied, 0, 0, pairs.size() * 8);
    r.header().count = static_cast<uint32_t>(pairs.size() / 2);
    std::memcpy(r.payload(), pairs.data(), pairs.size() * 8);
    sendToServer(target, std::move(r));
    pairs.clear();
  };
  for (auto& [worker, ids] : applied_) {
    for (uint64_t id : ids.second) {
      pairs.push_back(worker);
      pairs.push_back(id);
      if (pairs.size() / 2 == perMessage) flushIds();
    }
  }
  flushIds();
}

// One ring change at a time: the ring with `joining` added or `leaving` removed.
void PsServer::beginChange(int joining, int leaving) {
  if (pendingRing_) {
    if (joining == changeJoining_ && leaving == changeLeaving_) return;
    const std::string now = changeJoining_ >= 0 ? "server " + std::to_string(changeJoining_) + " is joining"
                                                : "server " + std::to_string(changeLeaving_) + " is leaving";
    throw Error(ErrorCode::kInvalidUsage, "parameter server " + std::to_string(config_.rank) + ": another server change is in progress (" + now + ")");
  }
  auto ring = std::make_unique<ps::HashRing>(fullRing_);
  if (joining >= 0) ring->addServer(static_cast<uint32_t>(joining));
  if (leaving >= 0) ring->removeServer(static_cast<uint32_t>(leaving));
  pendingRing_ = std::move(ring);
  changeJoining_ = joining;
  changeLeaving_ = leaving;
}

// Every server but the leaving one, asked by it (kDrain): copy the keys we will own on the
// ring without it from their current primaries (kSync, mode drain); answer once every
// holder's kSyncEnd has arrived, so the copies are applied before anyone switches ring.
void PsServer::handleDrain(uint64_t connId, const Message& m) {
  const int leaving = static_cast<int>(m.header().leavingServer());
  if (leaving < 0 || serverOf(connId) != leaving) throw Error(ErrorCode::kInvalidUsage, "drain: only the leaving server may start its drain");
  if (restoring_) throw Error(ErrorCode::kInvalidUsage, "parameter server " + std::to_string(config_.rank) + " is restoring");
  if (drainAsked_) throw Error(ErrorCode::kInvalidUsage, "parameter server " + std::to_string(config_.rank) + " is already copying for a drain");
  beginChange(-1, leaving);
  drainAsked_ = true;
  drainConn_ = connId;
  drainRequest_ = m.header();
  drainRowsBefore_ = restoredRows_;
  drainSyncPending_.clear();
  for (int s = 0; s < config_.numServers; ++s) {
    if (s == config_.rank || peers_[static_cast<size_t>(s)] != PeerState::kAlive || replicaConn_[static_cast<size_t>(s)] == 0) continue;
    Message r = Message::make(MsgType::kSync, 0, 0, 0);
    r.header().setSync(kSyncDrain, static_cast<uint64_t>(leaving));
    drainSyncPending_[s] = sendToServer(s, std::move(r));
  }
  if (drainSyncPending_.empty()) {
    Message ok = makeResponse(drainRequest_, kOkStatus, 0);
    ok.header().setRowsCopied(0);
    reply(drainConn_, std::move(ok));
    drainAsked_ = false;
  }
}

void PsServer::onDrainSyncAnswer(int server, const Message& m) {
  if (m.header().status == kOkStatus || !drainAsked_) return;  // the copy ends with kSyncEnd
  const std::string why(reinterpret_cast<const char*>(m.payload()), m.payloadBytes());
  reply(drainConn_, makeError(drainRequest_, m.header().status,
                              "parameter server " + std::to_string(config_.rank) + " could not copy from server " + std::to_string(server) + ": " + why));
  drainAsked_ = false;
  drainSyncPending_.clear();
}

// A holder's drain copy is complete (its rows came before this on the same link).
void PsServer::handleSyncEnd(int server, const Message& m) {
  if (m.payloadBytes() == clocks_.size() * 8) {
    const auto* c = reinterpret_cast<const uint64_t*>(m.payload());
    for (size_t w = 0; w < clocks_.size(); ++w) clocks_[w] = std::max(clocks_[w], c[w]);
  }
  if (!drainAsked_ || !drainSyncPending_.erase(server) || !drainSyncPending_.empty()) return;
  Message ok = makeResponse(drainRequest_, kOkStatus, 0);
  ok.header().setRowsCopied(restoredRows_ - drainRowsBefore_);
  reply(drainConn_, std::move(ok));
  drainAsked_ = false;
}

// The leaving server: checks the request, then asks every other live server to copy.
void PsServer::startDrain() {
  const auto fail = [&](const std::string& why) {
    draining_ = false;
    setDrainState("failed", "cannot remove parameter server " + std::to_string(config_.rank) + ": " + why);
  };
  if (draining_) return;
  if (restoring_) return fail("it is still restoring its own data");
  int live = 0;
  for (int s = 0; s < config_.numServers; ++s) live += (s == config_.rank || peers_[static_cast<size_t>(s)] == PeerState::kAlive) ? 1 : 0;
  if (live <= 1) return fail("it is the last parameter server of the job");
  if (live - 1 < config_.replication) {
    return fail("the job would keep " + std::to_string(live - 1) + " server(s) for " + std::to_string(config_.replication) + " copies of each key");
  }
  try {
    beginChange(-1, config_.rank);
  } catch (const Error& e) {
    return fail(e.what());
  }
  draining_ = true;
  drainStartMs_ = nowMs();
  drainRows_ = 0;
  drainAcks_.clear();
  for (int s = 0; s < config_.numServers; ++s) {
    if (s == config_.rank || peers_[static_cast<size_t>(s)] != PeerState::kAlive || replicaConn_[static_cast<size_t>(s)] == 0) continue;
    Message r = Message::make(MsgType::kDrain, 0, 0, 0);
    r.header().setLeavingServer(static_cast<uint64_t>(config_.rank));
    drainAcks_[s] = sendToServer(s, std::move(r));
  }
  if (drainAcks_.empty()) return fail("no other live server is linked to it");
  setDrainState("draining", "");
}

void PsServer::onDrainAck(int server, const Message& m) {
  auto it = drainAcks_.find(server);
  if (!draining_ || it == drainAcks_.end() || it->second != m.header().requestId) return;
  if (m.header().status != kOkStatus) {
    draining_ = false;
    drainAcks_.clear();
    pendingRing_.reset();
    changeLeaving_ = -1;
    setDrainState("failed", "parameter server " + std::to_string(server) + ": " + std::string(reinterpret_cast<const char*>(m.payload()), m.payloadBytes()));
    return;
  }
  drainRows_ += m.header().rowsCopied();
  drainAcks_.erase(it);
  if (drainAcks_.empty()) setDrainState("ready", "");  // the JS side leaves the job now
}

std::string PsServer::drainStatus() {
  std::lock_guard<std::mutex> lock(drainMutex_);
  return drainJson_;
}

void PsServer::setDrainState(const std::string& state, const std::string& error) {
  std::ostringstream s;
  s << "{\"state\":" << jsonString(state) << ",\"rows\":" << drainRows_ << ",\"ms\":" << (drainStartMs_ ? nowMs() - drainStartMs_ : 0);
  if (!error.empty()) s << ",\"error\":" << jsonString(error);
  s << "}";
  std::lock_guard<std::mutex> lock(drainMutex_);
  drainJson_ = s.str();
}

// A table created after a replacement synced reaches it before any update of the table.
void PsServer::forwardTableToJoiners(uint32_t tableId, const Table& t) {
  for (int s = 0; s < config_.numServers; ++s) {
    if (!joiner_[static_cast<size_t>(s)] || peers_[static_cast<size_t>(s)] == PeerState::kLost || replicaConn_[static_cast<size_t>(s)] == 0) continue;
    sendTable(s, tableId, t);
  }
}

void PsServer::sendTable(int s, uint32_t tableId, const Table& t) {
  Message m = Message::make(MsgType::kCreateTable, tableId, 0, sizeof(TableSpec) + t.name.size());
  TableSpec spec = t.spec;
  spec.nameBytes = static_cast<uint32_t>(t.name.size());
  std::memcpy(m.payload(), &spec, sizeof(spec));
  std::memcpy(m.payload() + sizeof(spec), t.name.data(), t.name.size());
  sendToServer(s, std::move(m));
}

void PsServer::handleSyncRows(int server, const Message& m) {
  const PsHeader& h = m.header();
  Table* t = findTable(h.tableId);
  if (!t) throw Error(ErrorCode::kInvalidArgument, "syncRows: unknown table id " + std::to_string(h.tableId));
  const uint32_t rowFloats = t->store->rowFloats();
  if (m.payloadBytes() != static_cast<uint64_t>(h.count) * (8 + rowFloats * sizeof(float))) {
    throw Error(ErrorCode::kInvalidArgument, "syncRows for '" + t->name + "': payload does not hold " + std::to_string(h.count) + " rows");
  }
  if (h.rowsAnnounced() < h.count) throw Error(ErrorCode::kInvalidArgument, "syncRows for '" + t->name + "': fewer rows announced than sent");
  // Room for every row still announced by every holder (see handleSync).
  auto& remaining = syncRemaining_[h.tableId];
  remaining[server] = h.rowsAnnounced();
  size_t announced = 0;
  for (auto& [s, n] : remaining) announced += n;
  t->store->reserve(t->store->size() + announced);
  remaining[server] = h.rowsAnnounced() - h.count;
  const auto* keys = reinterpret_cast<const uint64_t*>(m.payload());
  const auto* rows = reinterpret_cast<const float*>(m.payload() + static_cast<size_t>(h.count) * 8);
  for (uint32_t i = 0; i < h.count; ++i) t->store->putRaw(keys[i], rows + static_cast<size_t>(i) * rowFloats);
  restoredRows_ += h.count;
}

void PsServer::handleSyncApplied(int server, const Message& m) {
  const PsHeader& h = m.header();
  if (m.payloadBytes() != static_cast<uint64_t>(h.count) * 16) throw Error(ErrorCode::kInvalidArgument, "syncApplied: bad payload size");
  const auto* pairs = reinterpret_cast<const uint64_t*>(m.payload());
  auto& ids = inherited_[server];
  for (uint32_t i = 0; i < h.count; ++i) ids[static_cast<uint32_t>(pairs[2 * i])].insert(pairs[2 * i + 1]);
}

// source -1: any holder's (a worker's retry; see inherited_).
bool PsServer::inheritedApplied(int source, uint32_t worker, uint64_t requestId) const {
  for (auto& [server, byWorker] : inherited_) {
    if (source >= 0 && server != source) continue;
    auto it = byWorker.find(worker);
    if (it != byWorker.end() && it->second.count(requestId)) return true;
  }
  return false;
}

// Replacement: holder `server` finished its copy (the kSync response carries its clocks).
void PsServer::onSyncDone(int server, const Message& m) {
  auto it = syncPending_.find(server);
  if (!restoring_ || it == syncPending_.end() || it->second != m.header().requestId) return;  // superseded
  syncPending_.erase(it);
  if (m.header().status != kOkStatus) {
    restoring_ = false;
    setRestoreState("failed", "parameter server " + std::to_string(server) + " could not send its rows: " +
                                  std::string(reinterpret_cast<const char*>(m.payload()), m.payloadBytes()));
    return;
  }
  if (m.payloadBytes() == clocks_.size() * 8) {
    const auto* c = reinterpret_cast<const uint64_t*>(m.payload());
    for (size_t w = 0; w < clocks_.size(); ++w) clocks_[w] = std::max(clocks_[w], c[w]);
  }
  if (syncPending_.empty()) finishRestore();
}

// Every live holder has sent its part. Ranges whose other owners are all lost come from the
// snapshot directory, if one was given; otherwise the restore fails, naming them.
void PsServer::finishRestore() {
  if (config_.join) {
    // An added server: each key it takes over was sent by the key's current primary (a key
    // nobody has touched yet is created on first use). From its announcement on, clients
    // route to it.
    if (!liveRing_.hasServer(static_cast<uint32_t>(config_.rank))) liveRing_.addServer(static_cast<uint32_t>(config_.rank));
    restoring_ = false;
    setRestoreState("done", "");
    return;
  }
  const uint32_t me = static_cast<uint32_t>(config_.rank);
  const int copies = config_.replication;
  const auto orphaned = [&](const uint32_t* owners) {
    bool mine = false, held = false;
    for (int c = 0; c < copies; ++c) {
      if (owners[c] == me) mine = true;
      else if (peers_[owners[c]] != PeerState::kLost) held = true;
    }
    return mine && !held;
  };
  std::vector<std::pair<uint64_t, uint64_t>> arcs;
  fullRing_.forEachArc(copies, [&](uint64_t start, uint64_t end, const uint32_t* owners) {
    if (orphaned(owners)) arcs.emplace_back(start, end);
  });
  if (!arcs.empty()) {
    std::string lost;
    for (int s = 0; s < config_.numServers; ++s) {
      if (peers_[static_cast<size_t>(s)] == PeerState::kLost && s != config_.rank) lost += (lost.empty() ? "" : ", ") + std::to_string(s);
    }
    std::string ranges;
    for (size_t i = 0; i < arcs.size() && i < 3; ++i) ranges += (i ? ", " : "") + std::string("(") + hex64(arcs[i].first) + ", " + hex64(arcs[i].second) + "]";
    if (arcs.size() > 3) ranges += ", ...";
    const std::string what = std::to_string(arcs.size()) + " of its key ranges (ring positions " + ranges + ") have no live replica" +
                             (lost.empty() ? std::string(" (replication 1)") : " (lost: server " + lost + ")");
    if (config_.snapshotListing.empty()) {
      restoring_ = false;
      setRestoreState("failed", "parameter server " + std::to_string(config_.rank) + " cannot be restored: " + what +
                                    " and no snapshot directory was given (SHOAL_PS_SNAPSHOT_DIR, a ps.save() directory)");
      return;
    }
    try {
      std::vector<uint32_t> owners(static_cast<size_t>(copies));
      // snapshotDir holds the manifest's listing (lib/ps/server_main.ts verified its MAC).
      loadSnapshot(parseSnapshotListing(config_.snapshotListing), [&](const std::string& name, const TableSpec& spec, const std::string&) -> ps::ShardStore* {
        const uint32_t id = tableIdOf(name);
        Table* t = findTable(id);
        return (t ? t : &addTable(id, name, spec))->store.get();
      }, [&](uint64_t key) {
        fullRing_.owners(key, copies, owners.data());
        return orphaned(owners.data());
      }, &snapshotRows_);
    } catch (const Error& e) {
      restoring_ = false;
      setRestoreState("failed", "parameter server " + std::to_string(config_.rank) + ": " + what + " and the snapshot in " +
                                    config_.snapshotListing.substr(0, config_.snapshotListing.find('\n')) + " could not be read: " + e.what());
      return;
    }
  }
  restoring_ = false;
  setRestoreState("done", "");
}

}  // namespace psnet
}  // namespace shoal
