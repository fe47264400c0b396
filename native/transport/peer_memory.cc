#include "transport/peer_memory.h"

#include <errno.h>
#include <sys/uio.h>

namespace shoal {
namespace transport {

int readPeerMemory(int pid, uint64_t remote, void* local, size_t bytes) {
  auto* dst = static_cast<uint8_t*>(local);
  while (bytes > 0) {
    iovec to{dst, bytes};
    iovec from{reinterpret_cast<void*>(remote), bytes};
    const ssize_t n = process_vm_readv(pid, &to, 1, &from, 1, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EFAULT;  // nothing readable at `remote`
    dst += n;
    remote += static_cast<uint64_t>(n);
    bytes -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace transport
}  // namespace shoal
