// Direct exchange for tiny messages on a few ranks (p <= Tuning::directMaxRanks, at most
// Tuning::directMaxBytes): every message goes straight to the rank that needs it, so each op is
// one hop, where the binomial tree and recursive doubling take log2(p) dependent hops. Each
// hop that finds its peer not yet there costs a sleep and a wake-up (tens of microseconds
// with more ranks than cores), which is what small ops pay for on one host.
//
//   allReduce: every rank sends its buffer to every other rank and reduces all p buffers in
//              rank order, so every rank computes the same operations on the same operands
//              (bit-identical results). Cost: 1 hop; each rank sends and receives (p-1) n bytes.
//   reduceTo:  every rank sends its buffer to the root, which reduces all p in rank order.
//              Cost: 1 hop; the root receives (p-1) n bytes.
//   bcast:     the root sends to every other rank. Cost: 1 hop; the root sends (p-1) n bytes.
#include <cstring>
#include <vector>

#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

namespace {
// After every block is in place (block j = rank j's data): buf = b0 op b1 op ... in rank order.
std::function<void()> reduceInRankOrder(const Context& c, void* buf, const uint8_t* blocks, size_t count, int p) {
  const DType dtype = c.op.dtype;
  const ReduceOp op = c.op.reduceOp;
  const size_t bytes = count * c.elementBytes();
  return [=] {
    shoal::reduce(dtype, op, buf, blocks, blocks + bytes, count);
    for (int j = 2; j < p; ++j) shoal::reduce(dtype, op, buf, buf, blocks + static_cast<size_t>(j) * bytes, count);
  };
}
}  // namespace

bool directAlgorithm(const Context& c, size_t bytes) {
  return c.size() <= c.tuning.directMaxRanks && bytes <= c.tuning.directMaxBytes;
}

void planAllReduceDirect(Context& c, StepPlan& plan, void* buf, size_t count) {
  const int p = c.size();
  const int r = c.rank();
  const size_t bytes = count * c.elementBytes();
  uint8_t* blocks = c.scratch.get(0, static_cast<size_t>(p) * bytes);
  if (bytes) std::memcpy(blocks + static_cast<size_t>(r) * bytes, buf, bytes);
  std::vector<Xfer> xs;
  for (int j = 0; j < p; ++j) {
    if (j == r) continue;
    xs.push_back(Xfer::send(j, 0, buf, bytes));
    xs.push_back(Xfer::recv(j, 0, blocks + static_cast<size_t>(j) * bytes, bytes));
  }
  plan.add(c, std::move(xs), reduceInRankOrder(c, buf, blocks, count, p));
}

void planReduceToDirect(Context& c, StepPlan& plan, void* buf, size_t count, int root) {
  const int p = c.size();
  const int r = c.rank();
  const size_t bytes = count * c.elementBytes();
  if (r != root) {
    plan.add(c, {Xfer::send(root, 0, buf, bytes)});
    return;
  }
  uint8_t* blocks = c.scratch.get(0, static_cast<size_t>(p) * bytes);
  if (bytes) std::memcpy(blocks + static_cast<size_t>(r) * bytes, buf, bytes);
  std::vector<Xfer> xs;
  for (int j = 0; j < p; ++j) {
    if (j != r) xs.push_back(Xfer::recv(j, 0, blocks + static_cast<size_t>(j) * bytes, bytes));
  }
  plan.add(c, std::move(xs), reduceInRankOrder(c, buf, blocks, count, p));
}

void planBcastDirect(Context& c, StepPlan& plan, void* buf, size_t bytes, int root) {
  const int p = c.size();
  if (c.rank() != root) {
    plan.add(c, {Xfer::recv(root, 0, buf, bytes)});
    return;
  }
  std::vector<Xfer> xs;
  for (int j = 0; j < p; ++j) {
    if (j != root) xs.push_back(Xfer::send(j, 0, buf, bytes));
  }
  plan.add(c, std::move(xs));
}

}  // namespace collectives
}  // namespace shoal
