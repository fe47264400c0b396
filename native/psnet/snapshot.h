// Snapshot files: one per table per server, holding the rows that server is the primary
// owner of. Layout (version 2): magic "SHOALSNP", u32 version, TableSpec + name, u64 row
// count, u32 row width in floats, then the rows (key, row floats). Written to a temporary
// name and renamed, so a crash never leaves a half-written file under the real name.
//
// A file's integrity comes from the snapshot's manifest, which records each file's size and
// SHA-256 and is MACed with the job secret (lib/ps/snapshot_manifest.ts checks the MAC).
// Loading reads only the files the manifest lists, checks size and SHA-256 before parsing,
// and parses with every size overflow-checked, so a bad, truncated, tampered or foreign
// file is refused with an error naming it, never loaded and never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "ps/shard_store.h"
#include "psnet/protocol.h"

namespace shoal {
namespace psnet {

struct ShardFileInfo {
  std::string file;  // name inside the snapshot directory
  uint64_t keys = 0;
  uint64_t bytes = 0;
  std::string sha256;  // hex, of the whole file
};

// FNV-1a (32 bits) of a table name: the table id every process derives alike (lib/ps too).
uint32_t tableIdOf(const std::string& name);

ShardFileInfo writeShard(const std::string& dir, const std::string& table, const TableSpec& spec, const ps::ShardStore& store,
                         int serverRank, const std::function<bool(uint64_t)>& keep);

// One shard file as the verified manifest lists it.
struct ListedShard {
  std::string file;
  uint64_t bytes = 0;
  Digest sha256{};
};

// What to load: a snapshot directory and the shard files of its manifest.
struct SnapshotListing {
  std::string dir;
  std::vector<ListedShard> shards;
};

// The text form workers send with a load (and server_main passes for a restore):
// "<dir>\n" then one "<sha256 hex> <bytes> <file>\n" per shard. Throws naming the bad line.
SnapshotListing parseSnapshotListing(const std::string& text);

// Where a file's table goes; `file` names the file for errors.
using StoreForTable = std::function<ps::ShardStore*(const std::string& table, const TableSpec& spec, const std::string& file)>;

// Verifies every listed file (size, SHA-256, structure) before inserting any row, so a bad
// snapshot changes nothing; then inserts the rows `keep` accepts into the stores getStore
// returns. A null getStore only verifies. `loaded` counts the inserted rows.
void loadSnapshot(const SnapshotListing& listing, const StoreForTable& getStore, const std::function<bool(uint64_t)>& keep,
                  size_t* loaded);

// What a shard file holds, after its structure was checked (not its checksum).
struct ShardSummary {
  std::string table;
  TableSpec spec{};
  uint64_t rows = 0;
  uint32_t rowFloats = 0;
};

// Parses one file's structure without a manifest (fuzz tests and diagnostics).
ShardSummary inspectShardFile(const std::string& path);

}  // namespace psnet
}  // namespace shoal
