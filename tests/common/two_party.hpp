// Runs the two parties of a protocol as threads (tests only).
#pragma once
#include <exception>
#include <functional>
#include <thread>

namespace peregrine::test {

/// Runs f0 (party 0) in this thread and f1 (party 1) in another; rethrows the first exception
/// (party 0's first), after both have finished.
inline void run_parties(const std::function<void()>& f0, const std::function<void()>& f1) {
  std::exception_ptr e0, e1;
  std::thread t([&] {
    try {
      f1();
    } catch (...) {
      e1 = std::current_exception();
    }
  });
  try {
    f0();
  } catch (...) {
    e0 = std::current_exception();
  }
  t.join();
  if (e0) std::rethrow_exception(e0);
  if (e1) std::rethrow_exception(e1);
}

}  // namespace peregrine::test
