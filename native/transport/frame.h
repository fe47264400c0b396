// The wire format. Every message between ranks is one frame: a fixed 48-byte header
// followed by payloadBytes of data. The header carries everything a receiver needs to
// check that both sides are in the same collective (comm id, seq, op kind, dtype, op,
// root, count) before a single payload byte lands in a user's buffer.
//
// Byte order is the host's: a job's ranks must share one architecture (documented).
#pragma once

#include <cstdint>

namespace shoal {
namespace transport {

constexpr uint32_t kFrameMagic = 0x4C4F4853;  // "SHOL" little-endian
constexpr uint16_t kProtocolVersion = 1;

enum class FrameType : uint8_t {
  kData = 1,     // payload of a collective step
  kAbort = 2,    // sender broke its communicator; payload is the reason (UTF-8)
  kGoodbye = 3,  // sender closed its communicator cleanly; no payload
  kWake = 4,     // shared-memory peers only, on the TCP connection: "I moved data or freed space"
};

// Collective kinds; also lib/native.ts OpKind.
enum class OpKind : uint8_t {
  kNone = 0,
  kAllReduce = 1,
  kReduceTo = 2,
  kBcast = 3,
  kAllGather = 4,
  kBarrier = 5,
  kReduceScatter = 6,
  kAllGatherv = 7,
  kSparseAllReduce = 8,
  kSparseReduceScatter = 9,
};

inline const char* opKindName(OpKind k) {
  switch (k) {
    case OpKind::kNone: return "none";
    case OpKind::kAllReduce: return "allReduce";
    case OpKind::kReduceTo: return "reduceTo";
    case OpKind::kBcast: return "bcast";
    case OpKind::kAllGather: return "allGather";
    case OpKind::kBarrier: return "barrier";
    case OpKind::kReduceScatter: return "reduceScatter";
    case OpKind::kAllGatherv: return "allGatherv";
    case OpKind::kSparseAllReduce: return "sparseAllReduce";
    case OpKind::kSparseReduceScatter: return "sparseReduceScatter";
  }
  return "?";
}

#pragma pack(push, 1)
struct FrameHeader {
  uint32_t magic;
  uint16_t version;
  uint8_t type;     // FrameType
  uint8_t opKind;   // OpKind
  uint8_t dtype;    // DType
  uint8_t reduceOp; // ReduceOp
  uint16_t step;    // algorithm step, so a frame from the wrong step is caught too
  int32_t root;     // root rank for rooted ops, -1 otherwise; lost peer for kAbort
  uint32_t commId;
  uint64_t seq;     // op sequence number on this communicator
  uint64_t count;   // element count the sender's op was called with
  uint32_t code;    // error code for kAbort, 0 otherwise
  uint32_t payloadBytes;
  uint32_t reserved;
};
#pragma pack(pop)
static_assert(sizeof(FrameHeader) == 48, "FrameHeader must stay 48 bytes");

}  // namespace transport
}  // namespace shoal
