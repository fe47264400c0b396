#include "collectives/step_plan.h"

namespace shoal {
namespace collectives {

void StepPlan::add(const Context& c, std::initializer_list<Xfer> xfers, std::function<void()> after) {
  add(c, std::vector<Xfer>(xfers), std::move(after));
}

void StepPlan::add(const Context& c, std::vector<Xfer> xfers, std::function<void()> after) {
  c.map(xfers.data(), xfers.size());
  steps_.push_back(Step{std::move(xfers), std::move(after)});
}

bool StepPlan::advance(Context& c, Clock::time_point until, int spinUs) {
  while (next_ < steps_.size()) {
    Step& s = steps_[next_];
    if (!s.xfers.empty() && !c.link.runUntil(c.op, s.xfers.data(), s.xfers.size(), c.deadline, until, spinUs)) return false;
    if (s.after) s.after();
    ++next_;
  }
  return true;
}

bool smallAlgorithm(const Context& c, size_t bytes) { return bytes <= c.tuning.smallMessageBytes; }

namespace {
bool oneHost(const Context& c) { return c.size() == 2 || (c.topology != nullptr && c.topology->hosts() == 1); }
}  // namespace

bool smallRootedAlgorithm(const Context& c, size_t bytes) {
  return smallAlgorithm(c, bytes) || (oneHost(c) && bytes <= c.tuning.smallRootedBytes);
}

bool smallAllReduceAlgorithm(const Context& c, size_t bytes) {
  size_t steps = 0;  // ceil(log2 p)
  while ((size_t{1} << steps) < static_cast<size_t>(c.size())) ++steps;
  return smallAlgorithm(c, bytes) || (oneHost(c) && bytes * steps <= c.tuning.smallAllReduceBytes);
}

bool flatAlgorithm(const Context& c, size_t bytes) {
  return c.size() >= 3 && c.size() <= kFlatMaxRanks && bytes <= kFlatMaxBytes && smallAlgorithm(c, bytes);
}

bool planSmallOp(Context& c, StepPlan& plan, transport::OpKind kind, void* buf, size_t count, int root) {
  if (kind == transport::OpKind::kBarrier) {
    if (flatAlgorithm(c, 0)) {
      planBarrierFlat(c, plan);
    } else {
      planBarrier(c, plan);
    }
    return true;
  }
  const bool planned = kind == transport::OpKind::kAllReduce || kind == transport::OpKind::kBcast || kind == transport::OpKind::kReduceTo;
  if (!planned || c.useHierarchy()) return false;
  if (c.size() == 1) return true;  // in place: nothing to exchange
  const size_t bytes = count * c.elementBytes();
  if (flatAlgorithm(c, bytes)) {
    if (kind == transport::OpKind::kAllReduce) {
      planAllReduceFlat(c, plan, buf, count);
    } else if (kind == transport::OpKind::kBcast) {
      planBcastFlat(c, plan, buf, bytes, root);
    } else {
      planReduceToFlat(c, plan, buf, count, root);
    }
    return true;
  }
  // Count 0 still exchanges (empty) frames, so a rank that disagrees on the count is caught.
  if (kind == transport::OpKind::kAllReduce && (smallAllReduceAlgorithm(c, bytes) || count < static_cast<size_t>(c.size()))) {
    planAllReduceRecursiveDoubling(c, plan, buf, count);
    return true;
  }
  if (kind == transport::OpKind::kAllReduce || !smallRootedAlgorithm(c, bytes)) return false;
  if (kind == transport::OpKind::kBcast) {
    planBcastBinomialTree(c, plan, buf, bytes, root);
  } else {
    planReduceToBinomialTree(c, plan, buf, count, root);
  }
  return true;
}

}  // namespace collectives
}  // namespace shoal
