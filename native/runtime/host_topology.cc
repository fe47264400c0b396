#include "runtime/host_topology.h"

#include <unistd.h>

#include <climits>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/error.h"
#include "transport/socket.h"

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
  const int rank = link.rank();
  const int size = link.size();
  auto& peers = link.peers();
  HostKeyMessage mine{};
  mine.magic = kHostMagic;
  std::memcpy(mine.key, key.data(), sizeof(mine.key));
  for (int j = 0; j < size; ++j) {
    if (j != rank) transport::writeAll(peers[static_cast<size_t>(j)].fd, &mine, sizeof(mine), deadline, "host key");
  }
  std::vector<Digest> keys(static_cast<size_t>(size));
  keys[static_cast<size_t>(rank)] = key;
  for (int j = 0; j < size; ++j) {
    if (j == rank) continue;
    HostKeyMessage got{};
    transport::readAll(peers[static_cast<size_t>(j)].fd, &got, sizeof(got), deadline, "host key");
    if (got.magic != kHostMagic) throw Error(ErrorCode::kIo, "rank " + std::to_string(j) + " sent a malformed host key", j);
    std::memcpy(keys[static_cast<size_t>(j)].data(), got.key, sizeof(got.key));
  }
  return collectives::Topology::fromKeys(keys);
}

}  // namespace runtime
}  // namespace shoal
