// Wall-clock timer for reports and benchmarks.
#pragma once
#include <chrono>

namespace peregrine {

/// Measures elapsed wall time in seconds from construction or the last reset(). Not thread-safe.
class Timer {
 public:
  Timer() : start_(Clock::now()) {}
  void reset() { start_ = Clock::now(); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
};

}  // namespace peregrine
