#include "runtime/transport_select.h"

#include "runtime/host_topology.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "common/error.h"
#include "common/sha256.h"
#include "transport/shm_pipe.h"
#include "transport/socket.h"

namespace shoal {
namespace runtime {

namespace {
constexpr uint32_t kOfferMagic = 0x4F4D4853;   // "SHMO"
constexpr uint32_t kAnswerMagic = 0x414D4853;  // "SHMA"

#pragma pack(push, 1)
struct Offer {
  uint32_t magic;
  uint32_t willing;  // 0: the creator wants TCP (or could not create a segment)
  uint64_t ringBytes;
  uint8_t host[32];  // hash of boot id, network namespace and uid: a cheap "same host?" before trying to open
  char name[64];
  uint8_t cookie[transport::ShmPipe::kCookieBytes];
};
struct Answer {
  uint32_t magic;
  uint32_t accepted;
};
#pragma pack(pop)

std::string rankText(int r) { return "rank " + std::to_string(r); }
}  // namespace

TransportMode parseTransportMode(const std::string& s) {
  if (s == "auto") return TransportMode::kAuto;
  if (s == "tcp") return TransportMode::kTcp;
  if (s == "shm") return TransportMode::kShm;
  throw Error(ErrorCode::kInvalidArgument, "transport must be 'auto', 'tcp' or 'shm', got '" + s + "'");
}

size_t defaultRingBytes(int size) {
  constexpr size_t kMin = size_t{1} << 20;
  constexpr size_t kMax = size_t{4} << 20;
  constexpr uint64_t kHostBudget = uint64_t{48} << 20;
  // A one-host job of `size` ranks has size * (size - 1) rings (two per pair).
  const uint64_t rings = size > 1 ? static_cast<uint64_t>(size) * static_cast<uint64_t>(size - 1) : 1;
  size_t ring = kMax;
  while (ring > kMin && ring * rings > kHostBudget) ring /= 2;
  return ring;
}

// Three phases so no rank waits on another that is itself waiting: (1) offer to every higher
// rank (small writes, never block), (2) answer every lower rank's offer, (3) read the answers.
void selectTransports(transport::Link& link, TransportMode mode, size_t ringBytes, const Deadline& deadline) {
  const int rank = link.rank();
  const int size = link.size();
  auto& peers = link.peers();
  const Digest host = localHostKey("");  // the real host (and network namespace), never SHOAL_HOST_ID
  std::random_device rd;
  struct Created {
    std::string name;
    std::unique_ptr<transport::ShmPipe> pipe;
  };
  std::vector<Created> created(static_cast<size_t>(size));
  // The names exist only until the answers are in, whatever happens.
  struct Unlinker {
    std::vector<Created>& c;
    ~Unlinker() {
      for (auto& e : c)
        if (!e.name.empty()) transport::ShmPipe::unlink(e.name);
    }
  } unlinker{created};

  for (int j = rank + 1; j < size; ++j) {
    Offer offer{};
    offer.magic = kOfferMagic;
    offer.ringBytes = ringBytes;
    std::memcpy(offer.host, host.data(), host.size());
    if (mode != TransportMode::kTcp) {
      for (size_t i = 0; i < sizeof(offer.cookie); i += 4) {
        const uint32_t v = rd();
        std::memcpy(offer.cookie + i, &v, 4);
      }
      Created& c = created[static_cast<size_t>(j)];
      try {
        c.pipe = transport::ShmPipe::create(ringBytes, offer.cookie, &c.name);
      } catch (const Error& e) {
        if (mode == TransportMode::kShm) throw Error(e.code(), std::string("SHOAL_TRANSPORT=shm: ") + e.what());
      }
      offer.willing = c.pipe ? 1 : 0;
      std::snprintf(offer.name, sizeof(offer.name), "%s", c.name.c_str());
    }
    transport::writeAll(peers[static_cast<size_t>(j)].fd, &offer, sizeof(offer), deadline, "transport offer");
  }

  for (int j = 0; j < rank; ++j) {
    const int fd = peers[static_cast<size_t>(j)].fd;
    Offer offer{};
    transport::readAll(fd, &offer, sizeof(offer), deadline, "transport offer");
    if (offer.magic != kOfferMagic) throw Error(ErrorCode::kIo, rankText(j) + " sent a malformed transport offer", j);
    offer.name[sizeof(offer.name) - 1] = '\0';
    std::string why;
    if (mode == TransportMode::kTcp) {
      why = "SHOAL_TRANSPORT=tcp here";
    } else if (!offer.willing) {
      why = rankText(j) + " offered TCP only";
    } else if (mode == TransportMode::kAuto && std::memcmp(offer.host, host.data(), host.size()) != 0) {
      why = "another host";
    } else {
      try {
        peers[static_cast<size_t>(j)].shm = transport::ShmPipe::open(offer.name, offer.ringBytes, offer.cookie);
      } catch (const Error& e) {
        why = e.what();
      }
    }
    const Answer answer{kAnswerMagic, peers[static_cast<size_t>(j)].shm ? 1u : 0u};
    transport::writeAll(fd, &answer, sizeof(answer), deadline, "transport answer");
    if (mode == TransportMode::kShm && !answer.accepted) {
      throw Error(ErrorCode::kIo, "SHOAL_TRANSPORT=shm but " + rankText(rank) + " cannot share memory with " + rankText(j) + ": " + why, j);
    }
  }

  for (int j = rank + 1; j < size; ++j) {
    Answer answer{};
    transport::readAll(peers[static_cast<size_t>(j)].fd, &answer, sizeof(answer), deadline, "transport answer");
    if (answer.magic != kAnswerMagic) throw Error(ErrorCode::kIo, rankText(j) + " sent a malformed transport answer", j);
    Created& c = created[static_cast<size_t>(j)];
    if (answer.accepted && c.pipe) {
      peers[static_cast<size_t>(j)].shm = std::move(c.pipe);
    } else if (mode == TransportMode::kShm) {
      throw Error(ErrorCode::kIo, "SHOAL_TRANSPORT=shm but " + rankText(j) + " could not open " + rankText(rank) + "'s shared memory", j);
    }
  }
}

}  // namespace runtime
}  // namespace shoal
