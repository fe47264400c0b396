// Engine: one per communicator. It owns the listening socket, the connections to every
// other rank (a Link) and one comm thread that runs queued ops in call order. JS submits
// ops and gets called back (Op::done) from the comm thread; the binding turns that into a
// Promise. Nothing here knows about N-API.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collectives/context.h"
#include "runtime/op.h"
#include "runtime/transport_select.h"
#include "transport/link.h"
#include "transport/peer_memory.h"

namespace shoal {
namespace runtime {

struct EngineConfig {
  int rank = 0;
  int size = 1;
  uint32_t commId = 0;
  std::string token;           // job secret, proven on every connection
  std::string bindHost = "127.0.0.1";
  size_t maxFrameBytes = 64u << 20;
  int spinUs = 200;            // busy-poll sockets this long before sleeping in poll()
  int cpu = -1;                // pin the comm thread to this CPU (-1: let the kernel choose)
  int queueSpinUs = 20;        // busy-wait (yielding) this long for the next op before sleeping
  int yieldUs = 200;           // more ranks than cores: poll with sched_yield this long before sleeping (0: sleep at once)
  TransportMode transport = TransportMode::kAuto;  // data channel to same-host peers
  size_t shmRingBytes = 0;                         // per direction per same-host pair (0: defaultRingBytes)
  collectives::Tuning tuning;
  bool directReads = true;  // SHOAL_DIRECT_READS=0: never read same-host peers' memory (the ring instead)
  std::string hostId;  // SHOAL_HOST_ID: which ranks share a host (empty: boot id + network namespace)
};

class Engine {
 public:
  explicit Engine(const EngineConfig& config);  // binds the listener; throws shoal::Error
  ~Engine();                                    // aborts what is left and joins the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int port() const { return port_; }
  const EngineConfig& config() const { return config_; }
  // "self" | "tcp" | "shm" per rank once connected (empty before). Thread-safe.
  std::vector<std::string> transports() const;
  // Host index of each rank once connected (ranks sharing a host share an index; empty before).
  std::vector<int> hosts() const;
  // Every rank reads its peers' buffers directly in large allReduces (agreed at connect; false
  // before). Thread-safe.
  bool directReads() const;
  // More ranks on this host than CPUs (false until connected). Thread-safe.
  bool oversubscribed() const { return oversubscribed_.load(std::memory_order_acquire); }
  // Queues an op; collectives get the next sequence number. Thread-safe.
  void submit(std::unique_ptr<Op> op);
  // A small collective (StepPlan: allReduce, bcast and reduceTo up to smallMessageBytes or, on
  // one host, smallAllReduceBytes and smallRootedBytes; barrier)
  // on an idle engine runs right here, on the calling thread, for up to budgetUs: a hand-off
  // to the comm thread and the wake-up that returns the result cost more than the op. Only
  // one thread may call it and submit() (the JS thread).
  enum class Ran { kNotHere, kFinished, kHandedOff };
  //   kNotHere: nothing happened (busy engine, other op): submit() it.
  //   kFinished: done, *status says how; op->done is not called.
  //   kHandedOff: the peers were slower than the budget; the comm thread finishes the op and
  //               calls op->done (op was moved into the queue).
  Ran runHere(std::unique_ptr<Op>& op, int budgetUs, Status* status);
  // Breaks the communicator: the running op and every queued and later op fail with
  // `why`. Thread-safe; the first abort wins. With tellPeers, the comm thread also sends the
  // reason to every peer (at the running or next op), so their ops fail with the same cause.
  void abort(const Status& why, bool tellPeers = false);
  bool broken() const { return aborted_.load(std::memory_order_acquire); }

 private:
  void loop();
  Status execute(Op& op);  // the caller calls op.done with the result
  // Runs `body` with the failure handling every op gets: an error poisons the engine.
  Status guarded(const std::function<void()>& body);
  void finishStarted(Op& op);
  // Ops must reach the link in sequence order, whichever thread runs them (runHere or the
  // comm thread): the peers match frames by seq. Throws (kInternal) on a break of that order.
  void claimSeq(uint64_t seq);
  void runCollective(Op& op);
  void connectMesh(Op& op);
  void closeMesh();
  void poison(const Error& e, bool tellPeers);

  EngineConfig config_;
  int listenFd_ = -1;
  int port_ = 0;
  int wakeFd_ = -1;
  std::atomic<bool> aborted_{false};
  std::atomic<bool> tellPeersPending_{false};
  std::mutex abortMutex_;
  Status abortStatus_;
  bool connected_ = false;
  int cpus_ = 1;                 // CPUs this process may use
  std::atomic<bool> oversubscribed_{false};  // more ranks on this host than CPUs (set by connectMesh)
  mutable std::mutex transportsMutex_;
  std::vector<std::string> transports_;
  collectives::Topology topology_;  // written by connectMesh before connected_, then read-only
  transport::PeerMemory peerMemory_;  // the same
  bool closed_ = false;
  uint64_t nextSeq_ = 0;
  uint64_t linkSeq_ = 0;  // the seq the next collective on the link must have (claimSeq)

  transport::Link link_;
  collectives::Scratch scratch_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Op>> queue_;
  std::atomic<size_t> queued_{0};
  bool running_ = false;    // the comm thread is executing an op (guarded by mutex_)
  bool callerRuns_ = false; // runHere's caller holds the link (guarded by mutex_)
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace runtime
}  // namespace shoal
