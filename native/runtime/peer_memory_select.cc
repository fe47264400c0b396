#include "runtime/peer_memory_select.h"

#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include "runtime/peer_exchange.h"

namespace shoal {
namespace runtime {

namespace {
constexpr uint32_t kProbeMagic = 0x424F5250;    // "PROB"
constexpr uint32_t kVerdictMagic = 0x54434456;  // "VDCT"

#pragma pack(push, 1)
struct ProbeMessage {
  uint32_t magic;
  int32_t pid;
  uint64_t address;   // where our probe lives in our address space
  uint8_t value[16];  // what a peer must read there
  uint64_t state;     // where our ReadState lives (all_reduce_direct.cc)
  uint64_t key;       // our lending key
};
struct VerdictMessage {
  uint32_t magic;
  uint32_t yes;
};
#pragma pack(pop)
}  // namespace

transport::PeerMemory selectPeerMemory(transport::Link& link, bool wanted, const collectives::Topology& topology,
                                       const Deadline& deadline) {
  transport::PeerMemory out;
  if (link.size() < 2 || topology.hosts() != 1) return out;
  ProbeMessage probe{};
  probe.magic = kProbeMagic;
  probe.pid = static_cast<int32_t>(getpid());
  std::random_device rd;
  for (uint8_t& b : probe.value) b = static_cast<uint8_t>(rd());
  out.own = std::make_unique<transport::ReadState>();
  out.key = (uint64_t{rd()} << 32 | rd()) | (uint64_t{1} << 63);  // key + seq is never 0
  probe.state = reinterpret_cast<uint64_t>(out.own.get());
  probe.key = out.key;
  // Peers read `probe.value` out of this very variable, which lives until every verdict is
  // in (a peer reads before it sends its verdict).
  probe.address = reinterpret_cast<uint64_t>(&probe.value);
  const std::vector<ProbeMessage> probes = exchangeWithPeers(link, probe, kProbeMagic, "memory probe", deadline);

  bool yes = wanted;
  for (int j = 0; j < link.size() && yes; ++j) {
    if (j == link.rank()) continue;
    const ProbeMessage& theirs = probes[static_cast<size_t>(j)];
    uint8_t seen[sizeof(theirs.value)] = {0};
    // A peer on TCP (SHOAL_TRANSPORT=tcp) or in another PID namespace (the read fails or
    // finds other bytes) says no.
    yes = link.transportOf(j) == "shm" && transport::readPeerMemory(theirs.pid, theirs.address, seen, sizeof(seen)) == 0 &&
          std::memcmp(seen, theirs.value, sizeof(seen)) == 0;
  }
  const std::vector<VerdictMessage> verdicts =
      exchangeWithPeers(link, VerdictMessage{kVerdictMagic, yes ? 1u : 0u}, kVerdictMagic, "memory verdict", deadline);
  for (const VerdictMessage& v : verdicts)
    if (!v.yes) return out;
  out.enabled = true;
  for (const ProbeMessage& p : probes) {
    out.pids.push_back(p.pid);
    out.states.push_back(p.state);
    out.keys.push_back(p.key);
  }
  return out;
}

}  // namespace runtime
}  // namespace shoal
