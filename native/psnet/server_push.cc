// A push on this server (kPush from a worker, kReplicate from another owner of its keys),
// one concern per step: exactly-once check, the user's updater, forwarding to the other
// owners, applying the rows this server owns, and the acknowledgement.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "psnet/inject_hook.h"
#include "psnet/server.h"

namespace shoal {
namespace psnet {

namespace {
constexpr size_t kAppliedWindow = 1 << 16;  // remembered push ids per worker
constexpr uint32_t kOk = 0;

// Copies the rows of `push` at `idx` next to each other into keys[] and values[].
void gatherRows(const uint64_t* keys, const float* values, uint32_t pushFloats, const std::vector<uint32_t>& idx, uint64_t* outKeys,
                float* outValues) {
  for (size_t j = 0; j < idx.size(); ++j) {
    outKeys[j] = keys[idx[j]];
    std::memcpy(outValues + j * pushFloats, values + static_cast<size_t>(idx[j]) * pushFloats, pushFloats * sizeof(float));
  }
}
}  // namespace

void PsServer::handlePush(uint64_t connId, Message& m, bool fromReplica) {
  const PsHeader h = m.header();  // a copy: the forward may take m's buffer
  Table* t = findTable(h.tableId);
  if (!t) throw Error(ErrorCode::kInvalidArgument, "push: unknown table id " + std::to_string(h.tableId) + " (call ps.table() first)");
  PushRows push{h.worker, h.updateId(), h.count, ps::pushFloatsPerKey(t->store->config()), nullptr, nullptr};
  const uint64_t want = static_cast<uint64_t>(push.count) * (8 + push.pushFloats * sizeof(float));
  if (m.payloadBytes() != want) {
    throw Error(ErrorCode::kInvalidArgument, "push to '" + t->name + "': payload of " + std::to_string(m.payloadBytes()) +
                                                 " bytes, expected " + std::to_string(want) + " for " + std::to_string(push.count) + " keys");
  }
  push.keys = reinterpret_cast<const uint64_t*>(m.payload());
  push.values = reinterpret_cast<const float*>(m.payload() + static_cast<size_t>(push.count) * 8);
  const bool fresh = isFreshPush(connId, push, fromReplica);
  std::vector<float> newRows;
  if (t->spec.updater == kCustomUpdater && !fromReplica && fresh) push.values = runCustomUpdater(*t, push, &newRows);
  std::vector<int> waitingOn;
  // The forward can send m's payload as it is unless the user's updater replaced the values.
  // `shared` keeps that buffer, which push.keys and push.values point into, until applied.
  Message* source = newRows.empty() ? &m : nullptr;
  std::shared_ptr<const Message::Bytes> shared;
  const uint64_t replId = (!fromReplica && config_.replication > 1) ? forwardToReplicas(h.tableId, push, source, &shared, &waitingOn) : 0;
  if (fresh) applyPush(*t, push, fromReplica);
  // Acknowledge now, or once every replica has confirmed (onResponse), or both: now because
  // this server has applied it and the worker allows that, and then with a notice.
  if (waitingOn.empty()) {
    reply(connId, makeResponse(h, kOk, 0));
    return;
  }
  PendingPush pending{connId, h, std::move(waitingOn), 0, std::string(), false};
  if ((h.flags & kAckOnPrimary) && !fromReplica && mayAckOnPrimary(t->spec)) {
    uint32_t& early = earlyAcked_[connId];
    if (early < kMaxUnconfirmedPushes) {
      ++early;
      pending.ackedEarly = true;
      Message ack = makeResponse(h, kOk, 0);
      ack.header().flags = kReplicaPending;
      reply(connId, std::move(ack));
    }
  }
  pendingPushes_[replId] = std::move(pending);
}

void PsServer::answerReplicated(const PendingPush& p) {
  Message m = p.error.empty() ? makeResponse(p.request, kOk, 0) : makeError(p.request, p.errorCode, p.error);
  if (p.ackedEarly) {
    m.header().flags = kReplicatedNotice;
    auto it = earlyAcked_.find(p.connId);
    if (it != earlyAcked_.end() && it->second > 0) --it->second;
  }
  reply(p.connId, std::move(m));
}

// Exactly once: every push names the worker's update in (worker, updateId): the id the
// worker gave it, which stays the same when it retries after a failover. A forward from a
// holder is checked against the ids that holder passed on (its rows); a worker's retry
// against every holder's.
bool PsServer::isFreshPush(uint64_t connId, const PushRows& push, bool fromReplica) {
  return !alreadyApplied(push.worker, push.updateId) && !inheritedApplied(fromReplica ? serverOf(connId) : -1, push.worker, push.updateId);
}

bool PsServer::alreadyApplied(uint32_t worker, uint64_t requestId) {
  auto it = applied_.find(worker);
  return it != applied_.end() && it->second.first.count(requestId) > 0;
}

void PsServer::markApplied(uint32_t worker, uint64_t requestId) {
  auto& [set, order] = applied_[worker];
  if (!set.insert(requestId).second) return;
  order.push_back(requestId);
  if (order.size() > kAppliedWindow) {
    set.erase(order.front());
    order.pop_front();
  }
}

// The user's updater turns (current rows, pushed values) into new rows; from here on the
// push is an assignment of those rows, replicated as such. Returns the new rows (in *rows).
const float* PsServer::runCustomUpdater(Table& t, const PushRows& push, std::vector<float>* rows) {
  rows->resize(static_cast<size_t>(push.count) * t.spec.dim);
  t.store->pull(push.keys, push.count, rows->data());
  std::string err;
  if (!custom_ || !custom_(t.spec.customUpdater, t.name, push.keys, push.count, rows->data(), push.values, t.spec.dim, &err)) {
    throw Error(ErrorCode::kInvalidArgument, "custom updater of table '" + t.name + "' failed: " + (err.empty() ? "not loaded" : err));
  }
  return rows->data();
}

// Forwards each key to its other owners first, so the replicas apply it while we do.
// Returns the replication request id the acknowledgements will carry (0: nothing sent) and
// the servers they are awaited from in *waitingOn. A replica that gets every key of the
// push gets `source`'s payload (the push as received, when non-null) without a copy: the
// forward shares its buffer (also returned in *shared, which the caller keeps while it
// reads push.keys and push.values from it).
uint64_t PsServer::forwardToReplicas(uint32_t tableId, const PushRows& push, Message* source, std::shared_ptr<const Message::Bytes>* shared,
                                     std::vector<int>* waitingOn) {
  std::vector<std::vector<uint32_t>> byServer(static_cast<size_t>(config_.numServers));
  std::vector<int> whole;  // servers that get every key of the push
  if (everyServerOwnsEveryKey()) {
    // Every key has the same owners (replication >= servers, no change under way): one
    // lookup instead of one per key, and the push is forwarded as a whole.
    if (push.count > 0) replicaTargets(push.keys[0], &whole);
  } else {
    std::vector<int> targets;
    for (uint32_t i = 0; i < push.count; ++i) {
      replicaTargets(push.keys[i], &targets);
      for (int s : targets) byServer[static_cast<size_t>(s)].push_back(i);
    }
  }
  uint64_t replId = 0;
  for (int s = 0; s < config_.numServers; ++s) {
    const auto& idx = byServer[static_cast<size_t>(s)];
    const bool all = std::find(whole.begin(), whole.end(), s) != whole.end();
    if (idx.empty() && !all) continue;
    const size_t n = all ? push.count : idx.size();
    const size_t bytes = n * (8 + push.pushFloats * sizeof(float));
    Message fwd;
    if (all && source != nullptr) {
      if (!*shared) *shared = shareBuffer(std::move(source->bytes));
      fwd = Message::sharing(MsgType::kReplicate, tableId, *shared, sizeof(PsHeader), bytes);
    } else {
      fwd = Message::make(MsgType::kReplicate, tableId, 0, bytes, /*filledByCaller=*/true);
      auto* fk = reinterpret_cast<uint64_t*>(fwd.payload());
      auto* fv = reinterpret_cast<float*>(fwd.payload() + n * 8);
      if (all) {
        std::memcpy(fk, push.keys, n * 8);
        std::memcpy(fv, push.values, n * push.pushFloats * sizeof(float));
      } else {
        gatherRows(push.keys, push.values, push.pushFloats, idx, fk, fv);
      }
    }
    fwd.header().count = static_cast<uint32_t>(n);
    // One request id for every replica of this push: onResponse tells them apart by link.
    if (replId == 0) replId = nextReplicationId_;
    fwd.header().setUpdateId(push.updateId);
    // Fault injection (kill:server=K:request=N:unreplicated=M): the forward is lost, the
    // push stays waiting for its replica.
    if (!forwardsDropped(config_.dropForwardsFrom, requestsReceived_)) sendReplicate(s, std::move(fwd), replId, push.worker);
    waitingOn->push_back(s);
  }
  if (replId != 0) nextReplicationId_ = replId + 1;
  return replId;
}

// Applies a fresh push to the store and remembers its id. A forward from a server that has
// not switched ring yet may name keys this server owns no more (an add moved them to the
// new server): those are acknowledged but not recreated. Keys it is about to own (a change
// in progress) are applied; their copy follows anyway.
void PsServer::applyPush(Table& t, const PushRows& push, bool fromReplica) {
  const bool ringMayHaveMoved = pendingRing_ || fullRing_.servers() > static_cast<size_t>(config_.replication);
  std::vector<uint32_t> keep;
  if (fromReplica && ringMayHaveMoved) {
    for (uint32_t i = 0; i < push.count; ++i) {
      if (ownsKey(push.keys[i])) keep.push_back(i);
    }
  }
  size_t applied = push.count;
  if (fromReplica && ringMayHaveMoved && keep.size() != push.count) {
    std::vector<uint64_t> k2(keep.size());
    std::vector<float> v2(keep.size() * push.pushFloats);
    gatherRows(push.keys, push.values, push.pushFloats, keep, k2.data(), v2.data());
    if (!k2.empty()) t.store->push(k2.data(), k2.size(), v2.data());
    applied = k2.size();
  } else {
    t.store->push(push.keys, push.count, push.values);
  }
  markApplied(push.worker, push.updateId);
  ++pushes_;
  keysPushed_ += applied;
}

}  // namespace psnet
}  // namespace shoal
