// PsServer: one parameter-server process's engine. It owns the shard stores of every
// table, a listening socket, a connection per worker and a link to every other server for
// replication, all driven by one I/O thread; no JS runs on its path.
//
// Requests (protocol.h) are applied where the data lives: pulls read rows (waiting under
// BSP/SSP until every worker's clock allows it), pushes run the table's updater. With
// replication on, a push is acknowledged once each other owner of its keys (the next
// servers on the consistent-hash ring) has applied it too, or, if the worker asks for it
// (kAckOnPrimary, protocol.h), as soon as this server has, with a second notice once the
// replicas have (bounded: kMaxUnconfirmedPushes per worker). Pushes carry (worker, request id)
// and each server remembers the recent ones it applied, so a client that retries after a
// failover never applies an update twice.
//
// A lost server's replacement starts in restore mode: it asks every live server for the rows
// it owns (kSync, server_sync.cc); each holder streams them and from then on forwards every
// later update of those keys on the same link, in order, so nothing acknowledged is missed.
// Once every holder has finished, the replacement announces itself (serverJoined on the
// others) and serves its ranges again with full replication.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <deque>
#include <functional>
#include <vector>

#include "common/error.h"
#include "ps/hash_ring.h"
#include "ps/shard_store.h"
#include "psnet/connection.h"
#include "psnet/protocol.h"
#include "runtime/handshake_acceptor.h"
#include "runtime/op.h"

namespace shoal {
namespace psnet {

// Communicator id of parameter-server connections in the handshake.
constexpr uint32_t kPsCommId = 0x50530001;
// Servers identify themselves to each other as kServerIdBase + rank.
constexpr int kServerIdBase = 0x10000;
// Largest number of server slots (elastic servers: indices keep growing, gaps allowed).
constexpr int kMaxServers = 1 << 15;
// The "size" every PS handshake names: the number of servers changes while the job runs.
constexpr int kPsHandshakeSize = kServerIdBase + kMaxServers;

struct PsServerConfig {
  int rank = 0;
  int numServers = 1;
  int numWorkers = 1;
  int replication = 2;           // copies of each key (capped at numServers)
  int vnodes = 1024;         // virtual nodes per server on the ring (same on every process)
  std::string token;
  std::string bindHost = "127.0.0.1";
  uint64_t maxMessageBytes = 1ull << 30;
  bool restore = false;          // a replacement: copy this rank's data from the live servers
  bool join = false;             // an added server (with restore): copy the ranges it takes over
  std::string snapshotListing;   // restore: the ps.save() snapshot for ranges no live server holds (snapshot.h listing)
  uint64_t killAtRequest = 0;    // fault injection: SIGKILL at this request (inject_hook.h); 0 = never
  uint64_t dropForwardsFrom = 0; // fault injection: push forwards not sent from this request on; 0 = never
};

class PsServer {
 public:
  explicit PsServer(const PsServerConfig& config);  // binds the listener
  ~PsServer();
  int port() const { return port_; }
  // Starts serving; `servers` holds every server's address by rank (for replication links);
  // an entry with port 0 is a slot no server holds (a server that left the job).
  void start(const std::vector<runtime::PeerAddress>& servers);
  // Another server is gone (told by the coordinator): stop replicating to it.
  void serverLost(int rank);
  // A replacement of `rank` finished restoring and announced itself: it serves again. A rank
  // this server does not have on its ring is an added server: both rings take it in.
  void serverJoined(int rank);
  // Server `rank` drained and left the job: both rings drop it (no data is lost).
  void serverLeft(int rank);
  // Starts draining this server (elastic remove): every other server copies the keys it will
  // own on the ring without this one. drainStatus() says when that is done.
  void drain();
  // JSON {state: "none"|"draining"|"ready"|"failed", rows, ms, error?}.
  std::string drainStatus();
  // Restore mode: JSON {state: "restoring"|"done"|"failed", error?, rows, fromSnapshot, ms,
  // syncMs (of ms, the time since the links were up: the copy itself)}.
  std::string restoreStatus();
  // Stops the thread and closes everything. Idempotent.
  void stop();
  // JSON: tables, keys, memory, request counters.
  std::string stats();

  // User-defined updaters (written in TS): rows holds the keys' current rows and must be
  // updated in place from grads. Called on the server thread; returns false with *error set
  // to refuse the push. `known` lists the updater ids that may be used by tables.
  using CustomUpdater = std::function<bool(uint32_t updaterId, const std::string& table, const uint64_t* keys, size_t n,
                                           float* rows, const float* grads, uint32_t dim, std::string* error)>;
  void setCustomUpdaters(std::vector<uint32_t> known, CustomUpdater fn);

 private:
  struct Table {
    std::string name;
    TableSpec spec{};
    std::unique_ptr<ps::ShardStore> store;
    int64_t staleness = -1;
  };
  struct DeferredPull {
    uint64_t connId;
    Message request;
  };
  struct PendingPush {   // a push waiting for its replicas' acknowledgements
    uint64_t connId;
    PsHeader request;
    std::vector<int> waitingOn;   // servers that have not confirmed yet
    uint32_t errorCode = 0;       // first replica failure, reported once all have answered
    std::string error;
    bool ackedEarly = false;      // the worker has its acknowledgement; it gets a kReplicatedNotice
  };
  // How this server sees another one. kJoining: a replacement restoring from us; we forward
  // updates of its keys to it but clients do not route to it yet.
  // kAbsent: no server holds that slot (it left, or is an index this server never heard of).
  enum class PeerState : uint8_t { kAlive, kLost, kJoining, kAbsent };
  enum class PeerEvent : uint8_t { kLost, kJoined, kLeft, kDrain };

  void loop();
  void adoptAccepted();   // connections whose handshake completed become Connections
  size_t queueLimit(const Connection& c) const;
  void dialReplicas();
  void adoptReplicaLinks();
  void onMessage(uint64_t connId, Message&& m);
  void handleRequest(uint64_t connId, Message&& m);  // onMessage's dispatch; parked requests are replayed here
  void onResponse(uint64_t connId, Message&& m);
  void dropConnection(uint64_t connId, const std::string& why);
  void reply(uint64_t connId, Message m);
  void flushAll();
  void handleCreateTable(uint64_t connId, const Message& m);
  void handlePull(uint64_t connId, Message&& m);
  // server_push.cc: a push, split by concern.
  struct PushRows {  // keys[count], values[count * pushFloats] of one push
    uint32_t worker;
    uint64_t updateId;
    uint32_t count;
    uint32_t pushFloats;
    const uint64_t* keys;
    const float* values;
  };
  // May take m's buffer (its payload then goes to the replicas as it is): m.header() is not
  // valid afterwards.
  void handlePush(uint64_t connId, Message& m, bool fromReplica);
  bool isFreshPush(uint64_t connId, const PushRows& push, bool fromReplica);
  const float* runCustomUpdater(Table& t, const PushRows& push, std::vector<float>* rows);
  uint64_t forwardToReplicas(uint32_t tableId, const PushRows& push, Message* source, std::shared_ptr<const Message::Bytes>* shared,
                             std::vector<int>* waitingOn);
  void applyPush(Table& t, const PushRows& push, bool fromReplica);
  void answerReplicated(const PendingPush& p);  // every replica answered: tell the worker
  void handleClock(uint64_t connId, const Message& m);
  void handleSave(uint64_t connId, const Message& m);
  // Throws kPeerLost if the worker knows of more lost servers than this one (kVector, kSave).
  void requireLossesSeen(uint64_t workerLost, const char* op, const char* consequence) const;
  void handleLoad(uint64_t connId, const Message& m);
  bool pullReady(const Table& t, uint64_t clock) const;
  void parkPull(uint64_t connId, Message&& m);
  void releaseDeferredPulls();
  bool alreadyApplied(uint32_t worker, uint64_t requestId);  // server_push.cc
  void markApplied(uint32_t worker, uint64_t requestId);
  Table* findTable(uint32_t id);
  Table& addTable(uint32_t id, const std::string& name, const TableSpec& spec);
  void postPeerEvent(int rank, PeerEvent event);
  void wake();
  void applyServerLoss(int rank);
  void applyServerJoin(int rank);
  void applyServerLeave(int rank);
  void growTo(int servers);     // makes room for server indices < servers (kAbsent)
  void pruneNotOwned(const ps::HashRing& before);  // drops rows this server no longer owns
  int serverOf(uint64_t connId) const;  // the server rank behind a connection, or -1
  bool everyServerOwnsEveryKey() const;
  void replicaTargets(uint64_t key, std::vector<int>* out) const;
  bool ownsKey(uint64_t key) const;
  uint64_t sendToServer(int server, Message m);  // a server-to-server request; returns its id
  void sendReplicate(int server, Message m, uint64_t requestId, uint32_t worker);
  std::string statsJson() const;
  void handleVector(uint64_t connId, const Message& m);  // server_vector.cc
  // server_sync.cc: the holder's and the replacement's side of a restore.
  void handleSync(uint64_t connId, const Message& m);
  void handleSyncRows(int server, const Message& m);
  void handleSyncApplied(int server, const Message& m);
  bool inheritedApplied(int source, uint32_t worker, uint64_t requestId) const;
  void onSyncDone(int server, const Message& m);
  void requestSyncs();
  void finishRestore();
  void setRestoreState(const std::string& state, const std::string& error);
  void forwardTableToJoiners(uint32_t tableId, const Table& t);
  // Elastic servers (server_sync.cc): the ring change in progress and the drain's two sides.
  void beginChange(int joining, int leaving);
  void streamTo(int target, const std::function<bool(uint64_t)>& wanted);
  void handleDrain(uint64_t connId, const Message& m);
  void handleSyncEnd(int server, const Message& m);
  void onDrainSyncAnswer(int server, const Message& m);
  void startDrain();
  void onDrainAck(int server, const Message& m);
  void setDrainState(const std::string& state, const std::string& error);
  void sendTable(int server, uint32_t tableId, const Table& t);
  static uint64_t nowMs() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  }

  PsServerConfig config_;
  int listenFd_ = -1;
  int port_ = 0;
  std::unique_ptr<runtime::HandshakeAcceptor> acceptor_;
  int wakeFd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  std::mutex lostMutex_;
  std::vector<std::pair<int, PeerEvent>> peerEvents_;  // from other threads, in order
  std::vector<std::pair<int, int>> dialed_;  // (server, fd) replica links made by linkThread_
  std::thread linkThread_;
  bool linksReady_ = false;         // every replica link is up (or its server lost)
  std::deque<std::pair<uint64_t, Message>> parkedPushes_;  // workers' pushes that arrived before that, and their messages behind them
  std::vector<PeerState> peers_;    // by server rank
  std::vector<bool> joiner_;        // servers that restored from us: they get clocks forwarded
  ps::HashRing fullRing_;           // every server, dead or alive: owners of a key
  ps::HashRing liveRing_;           // live servers only: where clients send a key
  // A ring change in progress (elastic add or drain): the ring every server switches to once
  // the change is announced. Its owners get every update from now on, besides fullRing_'s.
  std::unique_ptr<ps::HashRing> pendingRing_;
  int changeJoining_ = -1, changeLeaving_ = -1;
  // Drain, on every other server: the leaving server's kDrain waiting for our copies.
  bool drainAsked_ = false;
  uint64_t drainConn_ = 0;
  PsHeader drainRequest_{};
  std::map<int, uint64_t> drainSyncPending_;   // holder -> our kSync (drain) request id
  size_t drainRowsBefore_ = 0;
  // Drain, on the leaving server: servers that have not confirmed yet, and the outcome.
  bool draining_ = false;
  std::map<int, uint64_t> drainAcks_;          // server -> our kDrain request id
  uint64_t drainStartMs_ = 0;
  size_t drainRows_ = 0;
  std::string drainError_;
  std::mutex drainMutex_;
  std::string drainJson_ = "{\"state\":\"none\"}";
  size_t rowsSent_ = 0, rowsPruned_ = 0;
  // Restore mode (replacement): holders whose kSync has not completed, and the outcome.
  bool restoring_ = false;
  bool syncsSent_ = false;
  std::map<int, uint64_t> syncPending_;   // holder -> kSync request id
  uint64_t restoreStartMs_ = 0;
  uint64_t syncStartMs_ = 0;
  std::map<uint32_t, std::map<int, uint64_t>> syncRemaining_;  // table -> holder -> rows announced, not yet received        // when the first kSync went out (links were up)
  size_t restoredRows_ = 0, snapshotRows_ = 0;
  uint64_t requestsReceived_ = 0;  // for config_.killAtRequest
  std::mutex restoreMutex_;
  std::string restoreJson_ = "{\"state\":\"none\"}";
  std::vector<runtime::PeerAddress> servers_;

  uint64_t nextConnId_ = 1;
  std::map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::vector<uint64_t> replicaConn_;   // by server rank: our outbound link (0 = none)
  std::map<uint32_t, Table> tables_;
  std::vector<uint64_t> clocks_;        // by worker
  std::deque<DeferredPull> deferred_;
  std::map<uint64_t, PendingPush> pendingPushes_;   // by replication request id
  std::map<uint64_t, uint32_t> earlyAcked_;         // by worker connection: its pushes acknowledged early, unconfirmed
  uint64_t nextReplicationId_ = 1;
  // Per worker: recently applied push request ids (bounded), for exactly-once retries.
  std::unordered_map<uint32_t, std::pair<std::unordered_set<uint64_t>, std::deque<uint64_t>>> applied_;
  // Replacement: the ids each holder had applied when it sent its rows, kept per holder. An
  // id names one request to one server, but replicas see it for their own subset of its keys,
  // so holder A's id must not suppress holder B's forward of the same id for other keys.
  std::map<int, std::unordered_map<uint32_t, std::unordered_set<uint64_t>>> inherited_;

  std::vector<uint32_t> customKnown_;
  CustomUpdater custom_;

  std::mutex statsMutex_;
  std::string statsJson_ = "{}";
  uint64_t pulls_ = 0, pushes_ = 0, keysPulled_ = 0, keysPushed_ = 0;
};

}  // namespace psnet
}  // namespace shoal
