// PsClient: a worker's engine for the parameter server. One I/O thread owns a connection
// to every server and runs the worker's requests: it deduplicates keys and partitions them
// by their primary server on the consistent-hash ring (KeyGrouper), sends to all servers in
// parallel, and reassembles responses in the caller's key order, straight into the caller's
// arrays. Pushes its primary acknowledged before the replicas confirmed are kept until they
// do, and re-sent to the keys' new owners if that server is lost.
// When a server is lost it re-routes that server's outstanding requests to the next owners
// (the replicas), keeping each push's update id so nothing is applied twice. When a
// replacement server announces itself (serverJoined), it connects to it and routes its keys
// there again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/deadline.h"
#include "common/error.h"
#include "ps/hash_ring.h"
#include "psnet/connection.h"
#include "psnet/key_grouper.h"
#include "psnet/protocol.h"
#include "runtime/op.h"

namespace shoal {
namespace psnet {

struct PsClientConfig {
  int workerRank = 0;
  int numWorkers = 1;
  int numServers = 1;
  int replication = 2;
  int vnodes = 1024;         // virtual nodes per server on the ring (same on every process)
  std::string token;
  uint64_t maxMessageBytes = 1ull << 30;
  // Pushes may be acknowledged by their primary before the replicas confirm (kAckOnPrimary,
  // protocol.h); the client keeps each such push until they do and re-sends it if the
  // primary is lost. Never for vector tables (mayAckOnPrimary: their programs need every
  // push on every copy first). False: a push completes only once every owner has applied it.
  bool ackOnPrimary = false;
  // Requests of keys a table already holds go in its servers' slot order
  // (KeyGrouper::orderForStore) from this many distinct keys per server on. Below it the
  // sort and the client's random reads cost about what the servers save (bench:ps
  // --ops minibatch, 10^5-2*10^5 keys per worker: equal within noise; BENCHMARKS.md).
  uint64_t storeOrderMinKeys = 65536;
};

struct PsOp {
  enum class Type { kConnect, kCreateTable, kPull, kPush, kClock, kSave, kLoad, kStats, kVector, kClose };
  Type type = Type::kPull;
  uint32_t tableId = 0;
  const uint64_t* keys = nullptr;
  size_t count = 0;
  const float* values = nullptr;   // push: count * pushFloats
  float* out = nullptr;            // pull: count * dim
  size_t floats = 0;               // length of values (push) or out (pull), checked against the table
  TableSpec spec{};                // createTable
  std::string text;                // createTable: name; save/load: directory; vector: the program's bytes
  std::vector<runtime::PeerAddress> servers;  // connect
  int64_t timeoutMs = 0;
  // Called once on the client thread with the outcome and, for save/load/stats, the
  // servers' JSON answers joined as a JSON array.
  std::function<void(const Status&, const std::string&)> done;
};

class PsClient {
 public:
  explicit PsClient(const PsClientConfig& config);
  ~PsClient();
  void submit(std::unique_ptr<PsOp> op);
  // The coordinator says a server died (the socket may not have noticed yet).
  void serverLost(int rank, const std::string& reason);
  // A replacement for server `rank` restored its data and listens at `address`; or an added
  // server (a rank this client has no server for) copied its ranges: it goes on the ring.
  void serverJoined(int rank, const runtime::PeerAddress& address);
  // Server `rank` drained and left the job: off the ring (answers still in flight are taken).
  void serverLeft(int rank);
  int numServers() const { return initialServers_; }

 private:
  // Target size of one pull or push message (partitionAndSend splits a server's share).
  static constexpr size_t kMessageBytes = 1 << 20;
  // Requests up to this many keys are remembered for key caching (cachedPlan_): at 2^22 the
  // copy of the keys and the plan hold about 100 MB.
  static constexpr size_t kMaxCachedKeys = size_t{1} << 22;
  struct TableInfo {
    uint32_t dim = 0;
    uint32_t pushFloats = 0;
    std::string name;
    TableSpec spec{};     // re-sent to a replacement server before the first request
  };
  struct PeerEvent {      // from the coordinator, applied on the client thread in order
    enum class Kind : uint8_t { kLost, kJoined, kLeft };
    int rank;
    Kind kind;
    std::string reason;
    runtime::PeerAddress address;
  };
  void postPeerEvent(PeerEvent event);
  void wake();
  struct InFlight {
    std::unique_ptr<PsOp> op;
    Deadline deadline{0};
    int outstanding = 0;
    Status status;
    std::vector<std::string> answers;
    std::map<int, std::string> answerOf;  // vector: each server's answer, joined in server order
    std::shared_ptr<const KeyPlan> plan;  // pull/push: the keys grouped (KeyGrouper); shared with cachedPlan_
    std::vector<float> summed;         // push with repeated keys: the values of each distinct key, summed
    // Where distinct key u's values come from (push) and its answer goes (pull): the caller's
    // arrays at the key's first occurrence, so distinct keys cost no copy on this side.
    const float* valuesOf(size_t u, uint32_t per) const {
      return summed.empty() ? op->values + static_cast<size_t>(plan->firstOf[u]) * per : summed.data() + u * per;
    }
    float* pullSlot(size_t u, uint32_t dim) const { return op->out + static_cast<size_t>(plan->firstOf[u]) * dim; }
  };
  struct SubRequest {
    uint64_t opId;
    int server;
    std::vector<uint32_t> uniqIdx;     // pull/push: which distinct keys this request carries
    uint64_t updateId = 0;             // push: exactly-once id, kept when re-routed
    std::vector<uint8_t> pushCopy;     // push with kAckOnPrimary: its payload, kept if acknowledged early
  };
  // A push its primary acknowledged before the replicas confirmed (or a re-send of one after
  // that primary was lost): kept until the confirmation, re-sent to the keys' new owners if
  // the server is lost first.
  struct Unconfirmed {
    int server;
    uint32_t tableId;
    uint64_t updateId;
    std::vector<uint8_t> payload;      // keys[n], then values[n * pushFloats]
  };

  void loop();
  void start(uint64_t opId);
  void connectAll(InFlight& f);
  void sendToAll(uint64_t opId, MsgType type, const std::string& payload, uint64_t arg, uint32_t count = 0);  // arg: kClock's newClock, kVector's vectorLost, kSave's saveLost
  void sendKeys(uint64_t opId, int server, std::vector<uint32_t> uniqIdx, uint64_t updateId);
  bool buildRequest(uint64_t rid, uint64_t pullClock, Message* out);
  void partitionAndSend(uint64_t opId, const std::vector<uint32_t>& uniqIdx, uint64_t updateId);
  void sendShares(uint64_t opId, const std::vector<std::vector<uint32_t>>& byServer, uint64_t updateId);
  void onResponse(int server, Message&& m);
  void settleUnconfirmed(int server, const Message& m);
  void resendUnconfirmed(Unconfirmed u);
  void finishOne(uint64_t opId);
  void complete(uint64_t opId);
  void fail(uint64_t opId, const Status& s);
  void loseServer(int server, const std::string& reason);
  void joinServer(int server, const runtime::PeerAddress& address);
  void leaveServer(int server);
  void growTo(int servers);
  void checkDeadlines();
  void groupKeys(InFlight& f, bool sumValues, uint32_t floatsPerKey);
  void erase(std::map<uint64_t, InFlight>::iterator it);  // recycles its plan
  std::shared_ptr<KeyPlan> takePlan();  // from the pool, or new
  void recyclePlan(std::shared_ptr<KeyPlan> plan);

  PsClientConfig config_;
  int wakeFd_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::deque<std::unique_ptr<PsOp>> queue_;
  std::vector<PeerEvent> peerEvents_;
  bool stopping_ = false;

  ps::HashRing ring_;
  std::vector<std::unique_ptr<Connection>> conns_;   // by server rank (null: lost / not connected)
  std::vector<bool> alive_;
  std::vector<bool> left_;                          // slots no server holds (left, or not added yet)
  int initialServers_ = 0;
  int lost_ = 0;
  Status broken_;                                   // set when data was lost: every op fails
  std::map<uint32_t, TableInfo> tables_;
  std::map<uint64_t, InFlight> inflight_;
  std::map<uint64_t, SubRequest> requests_;         // by wire request id
  std::map<uint64_t, Unconfirmed> unconfirmed_;     // by wire request id
  Status replicaFailure_;                           // a replica refused an acknowledged push: the next op reports it
  uint64_t nextOpId_ = 1;
  uint64_t nextRequestId_ = 1;
  uint64_t clock_ = 0;
  KeyGrouper grouper_;
  std::vector<std::shared_ptr<KeyPlan>> planPool_;  // plans of finished ops: their buffers are reused
  // Key caching (the Parameter Server paper's): the last request's keys and their plan. A
  // trainer pushes the keys it just pulled, so the push finds its grouping here after one
  // compare of the keys instead of grouping them again; any ring change misses.
  std::shared_ptr<KeyPlan> cachedPlan_;
  std::vector<uint64_t> cachedKeys_;
  std::vector<uint32_t> cachedRing_;  // ring_.serverIds() when cachedPlan_ was made
  int cachedServers_ = 0;
  std::vector<uint32_t> cachedTables_;        // tables the cached keys have been sent to
  std::shared_ptr<KeyPlan> cachedStorePlan_;  // cachedPlan_ in the servers' slot order (KeyGrouper::orderForStore), once used
};

}  // namespace psnet
}  // namespace shoal
