// Snapshot files: one per table per server, holding the rows that server is the primary
// owner of. Layout: magic "SHOALSNP", version, TableSpec + name, row count and row width,
// the rows (key, then row floats), and a 64-bit checksum of everything before it. Written to
// a temporary name and renamed, so a crash never leaves a half-written file under the real
// name; a truncated or corrupt file is reported, never loaded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ps/shard_store.h"
#include "psnet/protocol.h"

namespace shoal {
namespace psnet {

struct ShardFileInfo {
  std::string file;
  uint64_t keys = 0;
  std::string checksum;  // hex
};

// FNV-1a (32 bits) of a table name: the table id every process derives alike (lib/ps too).
uint32_t tableIdOf(const std::string& name);

ShardFileInfo writeShard(const std::string& dir, const std::string& table, const TableSpec& spec, const ps::ShardStore& store,
                         int serverRank, const std::function<bool(uint64_t)>& keep);

void forEachShardFile(const std::string& dir, const std::function<void(const std::string&)>& fn);

// Verifies the whole file, then inserts the rows `keep` accepts into the store getStore
// returns (a null getStore only verifies).
void readShard(const std::string& file,
               const std::function<ps::ShardStore*(const std::string& table, const TableSpec& spec)>& getStore,
               const std::function<bool(uint64_t)>& keep, size_t* loaded);

}  // namespace psnet
}  // namespace shoal
