// Internal: the sending-side link model of ChannelOptions (bandwidth + one-way delay).
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "peregrine/net/channel.hpp"

namespace peregrine::net::detail {

/// Delays and rate-limits one direction of a channel; see ChannelOptions for the model.
/// push()/drain() are called by the owning thread; the sink runs on the emulator's own thread.
/// An exception thrown by the sink is stored and rethrown by the next push()/drain().
class LinkEmulator {
 public:
  using Clock = std::chrono::steady_clock;
  using Sink = std::function<void(const std::uint8_t*, std::size_t)>;

  /// Largest piece handed to the sink at once (bytes) and the in-flight cap (bytes).
  static constexpr std::size_t kPieceBytes = std::size_t{1} << 16;
  static constexpr std::size_t kMaxInFlightBytes = std::size_t{64} << 20;

  LinkEmulator(std::uint64_t bits_per_second, std::chrono::nanoseconds one_way_delay, Sink sink);
  /// Stops the delivery thread; whatever was not yet delivered is dropped (call drain() first).
  ~LinkEmulator();
  LinkEmulator(const LinkEmulator&) = delete;
  LinkEmulator& operator=(const LinkEmulator&) = delete;

  /// Copies n bytes into the link, stamped with their due times. Blocks only while more than
  /// kMaxInFlightBytes are in flight. Rethrows a stored delivery error.
  void push(const std::uint8_t* data, std::size_t n);
  /// Waits until everything pushed was handed to the sink; rethrows a stored delivery error.
  void drain();
  /// drain(), then the counters (see EmulationStats).
  EmulationStats stats();

 private:
  struct Piece {
    Clock::time_point due;
    std::vector<std::uint8_t> bytes;
  };
  void run();

  const std::uint64_t bits_per_second_;
  const std::chrono::nanoseconds delay_;
  const Sink sink_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::deque<Piece> queue_;
  std::size_t queued_bytes_ = 0;
  bool delivering_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  Clock::time_point link_free_{};
  EmulationStats stats_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace peregrine::net::detail
