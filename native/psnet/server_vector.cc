// A worker's vector program on one of this server's vector tables (ps/vector_program.h):
// validated, run over every row held here, answered with the partial sums as JSON.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "ps/vector_program.h"
#include "psnet/server.h"

namespace shoal {
namespace psnet {

void PsServer::handleVector(uint64_t connId, const Message& m) {
  const PsHeader& h = m.header();
  Table* t = findTable(h.tableId);
  if (!t) throw Error(ErrorCode::kInvalidArgument, "vector: unknown table id " + std::to_string(h.tableId) + " (call ps.table() first)");
  if (t->store->config().updater.kind != ps::UpdaterKind::kVector) {
    throw Error(ErrorCode::kInvalidArgument, "vector: table '" + t->name + "' is not a vector table (updater 'vector')");
  }
  if (m.payloadBytes() != static_cast<uint64_t>(h.count) * sizeof(ps::VectorInstr)) {
    throw Error(ErrorCode::kInvalidArgument, "vector: payload does not hold count instructions of " + std::to_string(sizeof(ps::VectorInstr)) + " bytes");
  }
  requireLossesSeen(h.vectorLost(), "vector", "the sums would miss rows");
  std::vector<ps::VectorInstr> program(h.count);
  if (h.count > 0) std::memcpy(program.data(), m.payload(), m.payloadBytes());
  // With one copy of each key and no ring change under way, every row here is a primary:
  // skip the per-key ring lookup. Otherwise only the primaries' rows count in the sums.
  std::function<bool(uint64_t)> primary;
  if (config_.replication > 1 || pendingRing_) {
    const uint32_t me = static_cast<uint32_t>(config_.rank);
    primary = [this, me](uint64_t key) { return liveRing_.primary(key) == me; };
  }
  std::vector<double> sums;
  try {
    sums = ps::runVectorProgram(*t->store, program.data(), program.size(), primary);
  } catch (const Error& e) {
    throw Error(e.code(), "table '" + t->name + "': " + e.what());
  }
  std::string json = "[";
  char buf[32];
  for (size_t i = 0; i < sums.size(); ++i) {
    // JSON has no NaN or infinity: a diverged sum travels as null (NaN on the JS side).
    if (std::isfinite(sums[i])) std::snprintf(buf, sizeof(buf), "%.17g", sums[i]);
    else std::snprintf(buf, sizeof(buf), "null");
    json += (i ? "," : "") + std::string(buf);
  }
  json += "]";
  Message r = makeResponse(h, 0, json.size());
  std::memcpy(r.payload(), json.data(), json.size());
  reply(connId, std::move(r));
}

}  // namespace psnet
}  // namespace shoal
