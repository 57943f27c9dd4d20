#include "peregrine/core/workers.hpp"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "peregrine/core/error.hpp"

namespace peregrine::core {

struct Workers::State {
  std::mutex mu;
  std::condition_variable wake, done;
  const std::function<void(std::size_t)>* fn = nullptr;
  std::size_t n = 0;
  std::atomic<std::size_t> next{0};
  std::size_t generation = 0;  // bumped per for_each: a background thread joins each call once
  std::size_t busy = 0;        // background threads still in the current call
  bool stop = false;
  std::exception_ptr error;
  std::vector<std::thread> threads;

  // Claims and runs items until none is left; the first exception is kept and ends the claiming.
  void drain() {
    for (;;) {
      const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) return;
      try {
        (*fn)(i);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
        next.store(n, std::memory_order_relaxed);
      }
    }
  }

  void loop() {
    std::size_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu);
        wake.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
      }
      drain();
      std::lock_guard lock(mu);
      if (--busy == 0) done.notify_one();
    }
  }
};

Workers::Workers(std::size_t threads) : threads_(threads), state_(std::make_unique<State>()) {
  require(threads >= 1 && threads <= 256, ErrorCode::kInvalidArgument, "workers: threads must be in [1, 256]");
  state_->threads.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) state_->threads.emplace_back([s = state_.get()] { s->loop(); });
}

Workers::~Workers() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_all();
  for (auto& t : state_->threads) t.join();
}

void Workers::for_each(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  if (threads_ == 1 || n == 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  State& s = *state_;
  {
    std::lock_guard lock(s.mu);
    s.fn = &fn;
    s.n = n;
    s.next.store(0, std::memory_order_relaxed);
    s.error = nullptr;
    s.busy = s.threads.size();
    ++s.generation;
  }
  s.wake.notify_all();
  s.drain();
  std::exception_ptr error;
  {
    std::unique_lock lock(s.mu);
    s.done.wait(lock, [&] { return s.busy == 0; });
    s.fn = nullptr;
    error = s.error;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace peregrine::core
