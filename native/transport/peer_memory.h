// Reading a same-host peer's memory directly: Linux cross-memory attach (process_vm_readv)
// copies bytes from another process's address space into ours in one kernel copy, where a
// shared ring takes two (the sender's copy in, the receiver's copy out). It needs permission
// to ptrace-read the peer (same uid and Yama ptrace_scope 0, or CAP_SYS_PTRACE) and one PID
// namespace; whether a communicator uses it is agreed by all its ranks at connect
// (runtime/peer_memory_select.h), so every rank picks the same algorithm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shoal {
namespace transport {

struct PeerMemory {
  bool enabled = false;   // every rank of the communicator may read every other rank's memory
  std::vector<int> pids;  // process id of each rank (by rank) when enabled
};

// Copies `bytes` from address `remote` of process `pid` to `local`, resuming short reads.
// Returns 0, or the errno that stopped it (ESRCH: no such process; EFAULT: the range is not
// mapped there; EPERM: not allowed; ENOSYS: not supported).
int readPeerMemory(int pid, uint64_t remote, void* local, size_t bytes);

}  // namespace transport
}  // namespace shoal
