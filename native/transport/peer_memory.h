// Reading a same-host peer's memory directly: Linux cross-memory attach (process_vm_readv)
// copies bytes from another process's address space into ours in one kernel copy, where a
// shared ring takes two (the sender's copy in, the receiver's copy out). It needs permission
// to ptrace-read the peer (same uid and Yama ptrace_scope 0, or CAP_SYS_PTRACE) and one PID
// namespace; whether a communicator uses it is agreed by all its ranks at connect
// (runtime/peer_memory_select.h), so every rank picks the same algorithm.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace shoal {
namespace transport {

// What a rank publishes to the peers that read its memory, at an address they learn at connect
// (collectives/all_reduce_direct.cc). Peers read it with readPeerMemory as two words.
struct ReadState {
  // key + seq while peers may read our memory for direct allReduce `seq`; 0 once we gave it back.
  std::atomic<uint64_t> lending{0};
  // 1 + the seq of the last direct allReduce whose reads of the peers' memory we finished or gave up.
  std::atomic<uint64_t> readsDone{0};
  ~ReadState() { lending.store(0); }
};
static_assert(sizeof(ReadState) == 16, "peers read ReadState as two 64-bit words");

struct PeerMemory {
  bool enabled = false;         // every rank of the communicator may read every other rank's memory
  std::vector<int> pids;        // process id of each rank (by rank) when enabled
  std::vector<uint64_t> states; // where each rank's ReadState lives in its process
  std::vector<uint64_t> keys;   // each rank's lending key (random: a reused address never passes for it)
  std::unique_ptr<ReadState> own;  // ours (on the heap: its address must outlive moves)
  uint64_t key = 0;
};

// Copies `bytes` from address `remote` of process `pid` to `local`, resuming short reads.
// Returns 0, or the errno that stopped it (ESRCH: no such process; EFAULT: the range is not
// mapped there; EPERM: not allowed; ENOSYS: not supported).
int readPeerMemory(int pid, uint64_t remote, void* local, size_t bytes);

}  // namespace transport
}  // namespace shoal
