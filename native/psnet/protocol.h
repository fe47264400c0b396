// The parameter-server wire format: requests from workers (and from a primary server to
// its replica) and their responses. Like the collectives' frames, every message is a
// fixed header followed by a bounded payload; unlike them, messages are request/response
// pairs matched by requestId, so many requests can be in flight on one connection.
//
// Payloads (little-endian, host order like the collectives):
//   kCreateTable  TableSpec + name bytes                    -> empty
//   kPull         uint64 keys[count]                        -> float values[count * dim]
//   kPush         uint64 keys[count], float values[count * pushFloats]   -> empty
//   kReplicate    same as kPush, server to server; applied without forwarding
//   kClock        empty (header.newClock() is the worker's new clock)   -> empty
//   kSave / kLoad directory path bytes                      -> empty (kSave: JSON shard list)
//   kStats        empty                                      -> JSON text
//   kVector       ps::VectorInstr program[count] (24 bytes each) on a vector table
//                 -> JSON array of this server's partial sums, one per reduction
//                 (ps/vector_program.h; %.17g, so every double survives the text)
// Server to server, when a replacement server restores a lost one's data (server_sync.cc):
//   kSync         empty (header.syncPeer(): the joiner's rank) -> uint64 clocks[numWorkers], sent
//                 after the holder's kCreateTable, kSyncRows and kSyncApplied messages
//   kSyncRows     uint64 keys[count], float rows[count * rowFloats]   (no response)
//   kSyncApplied  uint64 (worker, update id) pairs[count]   (no response)
//                 kSync's header.syncMode(): kSyncReplace (0), kSyncAdd (1: a new server
//                 joining the ring), kSyncDrain (2: header.syncPeer() is then the leaving server, and
//                 the holder streams on its own link to the asker, ending with kSyncEnd)
//   kSyncEnd      uint64 clocks[numWorkers]: a drain copy from this holder is complete (no response)
//   kDrain        empty (header.leavingServer()) -> empty once the receiver holds every key it
//                 owns on the ring without the leaving server (header.rowsCopied())
// A failed request is answered with status != 0 and a UTF-8 message as payload.
#pragma once

#include <cstdint>

namespace shoal {
namespace psnet {

constexpr uint32_t kPsMagic = 0x53504853;  // "SHPS"
constexpr uint16_t kPsVersion = 1;
constexpr uint32_t kResponseBit = 0x80;

enum class MsgType : uint8_t {
  kCreateTable = 1,
  kPull = 2,
  kPush = 3,
  kReplicate = 4,
  kClock = 5,
  kSave = 6,
  kLoad = 7,
  kStats = 8,
  kSync = 9,
  kSyncRows = 10,
  kSyncApplied = 11,
  kSyncEnd = 12,
  kDrain = 13,
  kVector = 14,
};

// PsHeader.flags bits (kPush only). A worker that sets kAckOnPrimary lets the primary
// acknowledge once it has applied the push, before its replicas confirm: that response
// carries kReplicaPending, and a second response to the same request id, with
// kReplicatedNotice, follows when every replica has applied it (its status says whether
// they did). Until then the worker keeps the push and, if the primary is lost, re-sends it
// to the keys' new owners under the same update id (applied at most once). A primary
// acknowledges early only while fewer than kMaxUnconfirmedPushes of that worker's pushes
// await their replicas (bounded lag); beyond that it answers once they confirm, as without
// the flag. Pushes to vector tables are never acknowledged early (mayAckOnPrimary, below).
// docs/parameter_server.md, "Replication and acknowledgement".
constexpr uint8_t kAckOnPrimary = 1;
constexpr uint8_t kReplicaPending = 2;
constexpr uint8_t kReplicatedNotice = 4;
constexpr uint32_t kMaxUnconfirmedPushes = 64;

constexpr uint32_t kSyncReplace = 0;
constexpr uint32_t kSyncAdd = 1;
constexpr uint32_t kSyncDrain = 2;

#pragma pack(push, 1)
// One header for every message. `arg` and `count` mean different things per message type:
// read and write them through the accessor named for the message at hand, never raw.
//
//   message               arg (uint64)                          count (uint32)
//   kPull                 pullClock: the worker's clock (SSP)   keys in the payload
//   kPush, kReplicate     updateId: exactly-once id of the push keys in the payload
//   kClock                newClock: the worker's new clock      0
//   kVector               vectorLost: servers the worker knows  instructions in the payload
//                         are lost
//   kSave                 saveLost: the same, for a save        0
//   kSync (request)       syncPeer: the joiner's rank, or in    syncMode: kSyncReplace,
//                         mode kSyncDrain the leaving server    kSyncAdd or kSyncDrain
//   kSyncRows             rowsAnnounced: rows of this table     rows in the payload
//                         still to come, this message's incl.
//   kSyncApplied          0                                     (worker, id) pairs in the payload
//   kDrain (request)      leavingServer                         0
//   kDrain (response)     rowsCopied: rows the receiver copied  0
//   other messages        0                                     0 (responses echo count)
struct PsHeader {
  uint32_t magic;
  uint16_t version;
  uint8_t type;          // MsgType, | kResponseBit on responses
  uint8_t flags;         // kPush: kAckOnPrimary / kReplicaPending / kReplicatedNotice, else 0
  uint32_t tableId;
  uint32_t status;       // 0 ok, else shoal::ErrorCode (responses)
  uint64_t requestId;    // echoed in the response
  uint64_t arg;          // per message type, see the table above
  uint32_t worker;       // sender's worker rank (servers: 0xFFFFFFFF)
  uint32_t count;        // entries in the payload (kSync: the mode), see the table above
  uint64_t payloadBytes;

  // kPull
  uint64_t pullClock() const { return arg; }
  void setPullClock(uint64_t c) { arg = c; }
  // kPush, kReplicate: the id the worker gave its update; a retry after a failover reuses it.
  uint64_t updateId() const { return arg; }
  void setUpdateId(uint64_t id) { arg = id; }
  // kVector: how many servers the sender knows are lost (a server that knows fewer answers
  // kPeerLost rather than sum over a ring that still holds a dead server).
  uint64_t vectorLost() const { return arg; }
  void setVectorLost(uint64_t n) { arg = n; }
  // kSave: the same count (a server that knows fewer would leave the lost server's rows out).
  uint64_t saveLost() const { return arg; }
  void setSaveLost(uint64_t n) { arg = n; }
  // kClock
  uint64_t newClock() const { return arg; }
  void setNewClock(uint64_t c) { arg = c; }
  // kSync
  uint32_t syncMode() const { return count; }
  uint64_t syncPeer() const { return arg; }
  void setSync(uint32_t mode, uint64_t peer) { count = mode; arg = peer; }
  // kSyncRows
  uint64_t rowsAnnounced() const { return arg; }
  void setRowsAnnounced(uint64_t n) { arg = n; }
  // kDrain request / response
  uint64_t leavingServer() const { return arg; }
  void setLeavingServer(uint64_t s) { arg = s; }
  uint64_t rowsCopied() const { return arg; }
  void setRowsCopied(uint64_t n) { arg = n; }
};

// Table creation parameters, as sent on the wire (mirrors ps::TableConfig).
struct TableSpec {
  uint32_t dim;
  uint8_t updater;
  uint8_t init;
  uint8_t consistency;   // 0 bsp, 1 ssp, 2 asp
  uint8_t vectorSlots;   // updater 6 (vector): float64 slots per key; else 0
  int32_t staleness;
  float lr, eps, alpha, beta, l1, l2;
  float initMean, initStd, initLow, initHigh;
  uint64_t initSeed;
  uint32_t customUpdater;  // updater kCustomUpdater: FNV-1a of the user updater's name
  uint32_t nameBytes;
};

// Updater code of a user-defined updater written in TS (lib/ps/server_main.ts loads it).
constexpr uint8_t kCustomUpdater = 5;
// Updater code of a vector table (ps::UpdaterKind::kVector): float64 slots, vector programs.
constexpr uint8_t kVectorUpdater = 6;
#pragma pack(pop)

// Whether a push to this table may be acknowledged by its primary before its replicas have
// applied it (kAckOnPrimary). Never for a vector table: its vector programs run on every
// copy and read slots that pushes wrote, so each copy must have every push a program's
// sender may have heard of, from any worker (a rank tells rank 0 "my part is pushed"
// through a collective, not through the servers). Acknowledging a vector table's push only
// once every owner has applied it is that fence: whatever learns of the acknowledgement and
// then sends a program, its program reaches each copy after the push did, and after a
// primary's loss no acknowledged push is missing from the copy that takes over.
// docs/parameter_server.md, "Replication and acknowledgement".
inline bool mayAckOnPrimary(const TableSpec& s) { return s.updater != kVectorUpdater; }

static_assert(sizeof(PsHeader) == 48, "PsHeader must stay 48 bytes");

constexpr uint32_t kServerSender = 0xFFFFFFFFu;

inline const char* msgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kCreateTable: return "createTable";
    case MsgType::kPull: return "pull";
    case MsgType::kPush: return "push";
    case MsgType::kReplicate: return "replicate";
    case MsgType::kClock: return "clock";
    case MsgType::kSave: return "save";
    case MsgType::kLoad: return "load";
    case MsgType::kStats: return "stats";
    case MsgType::kSync: return "sync";
    case MsgType::kSyncRows: return "syncRows";
    case MsgType::kSyncApplied: return "syncApplied";
    case MsgType::kSyncEnd: return "syncEnd";
    case MsgType::kDrain: return "drain";
    case MsgType::kVector: return "vector";
  }
  return "?";
}

}  // namespace psnet
}  // namespace shoal
