// A point in time an operation must finish by; every wait in the core takes one.
#pragma once

#include <chrono>
#include <cstdint>

namespace shoal {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  // timeoutMs <= 0 means "no deadline".
  explicit Deadline(int64_t timeoutMs) : Deadline(timeoutMs, timeoutMs <= 0 ? Clock::time_point{} : Clock::now()) {}
  // From a clock reading the caller already has (a read costs ~250 ns in some VMs).
  Deadline(int64_t timeoutMs, Clock::time_point now)
      : infinite_(timeoutMs <= 0), timeoutMs_(timeoutMs), at_(now + std::chrono::milliseconds(timeoutMs)) {}
  static Deadline never() { return Deadline(0); }
  bool expired() const { return !infinite_ && Clock::now() >= at_; }
  // Milliseconds left, rounded up, clamped to [0, capMs]; capMs when infinite.
  int remainingMs(int capMs) const {
    if (infinite_) return capMs;
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(at_ - Clock::now()).count();
    if (left <= 0) return 0;
    const int64_t ms = (left + 999) / 1000;
    return ms < capMs ? static_cast<int>(ms) : capMs;
  }
  int64_t timeoutMs() const { return timeoutMs_; }

 private:
  bool infinite_;
  int64_t timeoutMs_;
  Clock::time_point at_;
};

}  // namespace shoal
