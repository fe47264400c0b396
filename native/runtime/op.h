// Op: one request from JS, queued on an engine and completed on its comm thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/error.h"
#include "common/sparse_rows.h"
#include "transport/frame.h"

namespace shoal {
namespace runtime {

struct PeerAddress {
  std::string host;
  int port = 0;
};

struct SmallRun;  // engine.cc: a small collective under way, started on the JS thread

struct Op {
  enum class Type { kCollective, kConnect, kClose };
  Type type = Type::kCollective;
  transport::OpKind kind = transport::OpKind::kNone;
  DType dtype = DType::kFloat32;
  ReduceOp reduceOp = ReduceOp::kSum;
  int root = -1;
  void* buf = nullptr;      // in/out buffer (allGather: send buffer)
  void* recv = nullptr;     // allGather receive buffer
  size_t count = 0;         // elements (allGather: per rank)
  int64_t timeoutMs = 0;    // <= 0: no deadline
  uint64_t seq = 0;         // assigned at submit, in call order
  // reduceScatter: elements of each rank's block; allGatherv: elements from each rank.
  std::vector<size_t> counts;
  size_t dim = 0;           // sparse ops: floats per row (buf: uint64 keys, recv: float rows)
  std::shared_ptr<SparseRows> sparseOut;  // sparse ops: the result, read by the binding
  std::vector<PeerAddress> peers;  // kConnect: every rank's address, by rank
  // Called exactly once on the comm thread; must not throw. Not called for an op that
  // Engine::runHere finished on the calling thread (it returns the status instead).
  std::function<void(const Status&)> done;
  // Set when the calling thread started the op and the comm thread is to finish it.
  std::shared_ptr<SmallRun> started;
};

}  // namespace runtime
}  // namespace shoal
