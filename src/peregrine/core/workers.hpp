// A party's worker threads (`--threads T`): the local work of one protocol step (HE products and
// NTTs per output ciphertext, encryptions and decryptions per ciphertext, Ferret's LPN rows) spread
// over T threads, the party's own thread included. Results never depend on T: callers give every
// item its own output slot and, where it draws randomness, its own PRG forked in item order
// beforehand (Prg::next_seed), so the bytes on the wire are the same for every T (tests).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>

namespace peregrine::core {

/// A fixed pool of T − 1 background threads plus the calling thread.
///
/// Thread-safety: for_each may be called by one thread at a time (the party's thread); the items
/// of one call run concurrently, so fn must be safe to call concurrently for distinct i.
/// Errors: the constructor throws Error(kInvalidArgument) for threads outside [1, 256];
/// for_each rethrows the first exception an item threw (the remaining items may not run).
class Workers {
 public:
  explicit Workers(std::size_t threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  /// T: the threads that run items (the caller included).
  std::size_t size() const noexcept { return threads_; }
  /// Runs fn(i) for every i < n, items claimed in increasing order by whichever thread is free;
  /// returns when all ran. n = 0: no call. T = 1 or n = 1: inline on the caller.
  void for_each(std::size_t n, const std::function<void(std::size_t)>& fn);

 private:
  struct State;
  std::size_t threads_;
  std::unique_ptr<State> state_;
};

/// fn(i) for every i < n on `w`, or inline in order when w is null.
inline void for_each(Workers* w, std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (w != nullptr) {
    w->for_each(n, fn);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) fn(i);
}

}  // namespace peregrine::core
