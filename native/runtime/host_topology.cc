#include "runtime/host_topology.h"

#include <unistd.h>

#include <climits>
#include <cstring>
#include <fstream>
#include <vector>

#include "runtime/peer_exchange.h"

namespace shoal {
namespace runtime {

namespace {
constexpr uint32_t kHostMagic = 0x54534F48;  // "HOST"

#pragma pack(push, 1)
struct HostKeyMessage {
  uint32_t magic;
  uint8_t key[32];
};
#pragma pack(pop)
}  // namespace

Digest localHostKey(const std::string& override) {
  std::string id;
  if (!override.empty()) {
    id = "id:" + override;
  } else {
    std::ifstream f("/proc/sys/kernel/random/boot_id");
    std::getline(f, id);
    char ns[PATH_MAX] = {0};
    const ssize_t n = readlink("/proc/self/ns/net", ns, sizeof(ns) - 1);
    if (n > 0) id += "/" + std::string(ns, static_cast<size_t>(n));
    id += "/" + std::to_string(getuid());
  }
  return sha256(id.data(), id.size());
}

collectives::Topology exchangeHostKeys(transport::Link& link, const Digest& key, const Deadline& deadline) {
  HostKeyMessage mine{};
  mine.magic = kHostMagic;
  std::memcpy(mine.key, key.data(), sizeof(mine.key));
  const std::vector<HostKeyMessage> got = exchangeWithPeers(link, mine, kHostMagic, "host key", deadline);
  std::vector<Digest> keys(got.size());
  for (size_t j = 0; j < got.size(); ++j) std::memcpy(keys[j].data(), got[j].key, sizeof(got[j].key));
  return collectives::Topology::fromKeys(keys);
}

}  // namespace runtime
}  // namespace shoal
