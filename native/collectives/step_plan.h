// StepPlan: a latency-optimal collective (recursive-doubling allReduce, binomial bcast and
// reduceTo, the barrier, or their flat forms among 3-4 ranks) written down as its steps before
// a byte moves. The progress of every step lives in the plan, not on a call stack, so the thread driving it may stop between two
// polls and another thread may go on from there: the JS thread runs a small op itself for up
// to a budget (no hand-off to the comm thread, no wake-up to return the result), and if the
// peers are slower than that, the comm thread finishes the same plan (runtime/engine.cc).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <vector>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

class StepPlan {
 public:
  using Clock = std::chrono::steady_clock;

  // Appends a step: `xfers` (peers and step numbers as the context names them) all progress
  // together; `after` runs once they are complete (e.g. reduce what arrived).
  void add(const Context& c, std::initializer_list<Xfer> xfers, std::function<void()> after = nullptr);
  void add(const Context& c, std::vector<Xfer> xfers, std::function<void()> after = nullptr);
  // Runs steps until all are done (true) or `until` passes while waiting on a peer (false:
  // call again, from any thread that holds the link, to go on). Throws like Link::run.
  // spinUs: how long to poll without sleeping (-1: the link's setting).
  bool advance(Context& c, Clock::time_point until, int spinUs = -1);
  // Runs every step to the end.
  void run(Context& c) { advance(c, Clock::time_point::max()); }

 private:
  struct Step {
    std::vector<Xfer> xfers;
    std::function<void()> after;
  };
  std::vector<Step> steps_;
  size_t next_ = 0;
};

// True when allReduce, bcast and reduceTo of `bytes` take a latency-optimal algorithm (a plan
// below); the same answer on every rank.
bool smallAlgorithm(const Context& c, size_t bytes);
// The same for bcast and reduceTo: up to Tuning::smallRootedBytes on one host or between two ranks.
bool smallRootedAlgorithm(const Context& c, size_t bytes);
// The same for allReduce: n ceil(log2 p) up to Tuning::smallAllReduceBytes on one host or between two ranks.
bool smallAllReduceAlgorithm(const Context& c, size_t bytes);
// The plans of the small collectives (the blocking entry points in context.h run them to the
// end). `buf` is the caller's buffer; scratch comes from c.scratch.
void planAllReduceRecursiveDoubling(Context& c, StepPlan& plan, void* buf, size_t count);
void planBcastBinomialTree(Context& c, StepPlan& plan, void* buf, size_t bytes, int root);
void planReduceToBinomialTree(Context& c, StepPlan& plan, void* buf, size_t count, int root);
void planBarrier(Context& c, StepPlan& plan);
// True when the flat (one-hop, star around the root) plans below replace those: 3 to
// kFlatMaxRanks ranks and at most kFlatMaxBytes (small_flat.cc says why). Two ranks keep the
// one-exchange plans; more ranks would make the root's p - 1 messages the critical path.
constexpr int kFlatMaxRanks = 4;
constexpr size_t kFlatMaxBytes = 8 << 10;
bool flatAlgorithm(const Context& c, size_t bytes);
void planAllReduceFlat(Context& c, StepPlan& plan, void* buf, size_t count);
void planBcastFlat(Context& c, StepPlan& plan, void* buf, size_t bytes, int root);
void planReduceToFlat(Context& c, StepPlan& plan, void* buf, size_t count, int root);
void planBarrierFlat(Context& c, StepPlan& plan);
// The plan `kind` takes for this op when it takes one (smallAlgorithm(), no hierarchy): the
// one place that picks the small algorithms, for the comm thread's dispatchers (all_reduce.cc,
// bcast.cc, reduce_to.cc) and the calling thread's runHere alike. False: the op takes a
// large-message or hierarchical algorithm.
bool planSmallOp(Context& c, StepPlan& plan, transport::OpKind kind, void* buf, size_t count, int root);

}  // namespace collectives
}  // namespace shoal
