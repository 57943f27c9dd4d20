#include "peregrine/net/channel.hpp"

#include <algorithm>
#include <string>

#include "peregrine/net/link_emulator.hpp"

namespace peregrine::net {

namespace {
constexpr std::size_t kSendBuffer = std::size_t{1} << 16;
}

ChannelOptions lan_profile() {
  ChannelOptions o;
  o.emulate_bits_per_second = 3'000'000'000ULL;
  o.emulate_one_way_delay = std::chrono::microseconds(150);
  return o;
}

ChannelOptions wan_profile() {
  ChannelOptions o;
  o.emulate_bits_per_second = 400'000'000ULL;
  o.emulate_one_way_delay = std::chrono::microseconds(20'000);
  return o;
}

// ---- Channel base ---------------------------------------------------------------------------

Channel::Channel(ChannelOptions opts) : opts_(std::move(opts)) {
  if (opts_.emulate_bits_per_second != 0 || opts_.emulate_one_way_delay.count() > 0) {
    emu_ = std::make_unique<detail::LinkEmulator>(
        opts_.emulate_bits_per_second,
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::max(opts_.emulate_one_way_delay, std::chrono::microseconds(0))),
        [this](const std::uint8_t* p, std::size_t n) { write_raw(p, n); });
  }
}

// Derived classes have already called close_output(); this only stops a leftover thread.
Channel::~Channel() = default;

void Channel::close_output() noexcept {
  try {
    flush();
    if (emu_) emu_->drain();
  } catch (...) {
  }
  emu_.reset();
}

void Channel::emit(const std::uint8_t* data, std::size_t n) {
  if (emu_)
    emu_->push(data, n);
  else
    write_raw(data, n);
}

void Channel::send(const void* data, std::size_t n) {
  if (last_was_recv_) {
    ++stats_.rounds;
    last_was_recv_ = false;
  }
  const auto* p = static_cast<const std::uint8_t*>(data);
  if (out_.size() + n > kSendBuffer) {
    flush();
    if (n >= kSendBuffer) {
      emit(p, n);
      stats_.bytes_sent += n;
      return;
    }
  }
  out_.insert(out_.end(), p, p + n);
}

void Channel::flush() {
  if (out_.empty()) return;
  try {
    emit(out_.data(), out_.size());
  } catch (...) {
    out_.clear();  // the stream is broken; do not retry these bytes on destruction
    throw;
  }
  stats_.bytes_sent += out_.size();
  out_.clear();
}

EmulationStats Channel::emulation_stats() { return emu_ ? emu_->stats() : EmulationStats{}; }

void Channel::recv(void* data, std::size_t n) {
  flush();
  last_was_recv_ = true;
  read_raw(static_cast<std::uint8_t*>(data), n);
  stats_.bytes_received += n;
}

void Channel::send_frame(std::span<const std::uint8_t> bytes) {
  send_value<std::uint64_t>(bytes.size());
  send(bytes.data(), bytes.size());
}

std::vector<std::uint8_t> Channel::recv_frame(std::size_t max_bytes) {
  const std::uint64_t len = recv_value<std::uint64_t>();
  if (len > max_bytes || len > opts_.max_frame_bytes)
    throw Error(ErrorCode::kSizeLimit, "frame of " + std::to_string(len) + " bytes exceeds the limit");
  std::vector<std::uint8_t> v(static_cast<std::size_t>(len));
  recv(v.data(), v.size());
  return v;
}

// ---- link emulator --------------------------------------------------------------------------

namespace detail {

LinkEmulator::LinkEmulator(std::uint64_t bits_per_second, std::chrono::nanoseconds one_way_delay,
                           Sink sink)
    : bits_per_second_(bits_per_second), delay_(one_way_delay), sink_(std::move(sink)) {
  thread_ = std::thread([this] { run(); });
}

LinkEmulator::~LinkEmulator() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  cv_done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LinkEmulator::push(const std::uint8_t* data, std::size_t n) {
  while (n > 0) {
    const std::size_t m = std::min(n, kPieceBytes);
    Piece piece{Clock::time_point{}, std::vector<std::uint8_t>(data, data + m)};
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_done_.wait(lk, [&] { return error_ || stop_ || queued_bytes_ < kMaxInFlightBytes; });
      if (error_) std::rethrow_exception(error_);
      const auto now = Clock::now();
      if (link_free_ < now) link_free_ = now;
      const auto start = link_free_;
      if (bits_per_second_ != 0) {
        // ceil(8 * m * 1e9 / bps) ns; m <= 2^16 so the product fits in 64 bits.
        const std::uint64_t bits_ns = std::uint64_t{8} * m * 1'000'000'000ULL;
        link_free_ += std::chrono::nanoseconds((bits_ns + bits_per_second_ - 1) / bits_per_second_);
      }
      piece.due = link_free_ + delay_;
      ++stats_.pieces;
      stats_.bytes += m;
      stats_.modelled_ns += static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(piece.due - start).count());
      queued_bytes_ += m;
      queue_.push_back(std::move(piece));
    }
    cv_work_.notify_one();
    data += m;
    n -= m;
  }
}

void LinkEmulator::drain() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_done_.wait(lk, [&] { return error_ || stop_ || (queue_.empty() && !delivering_); });
  if (error_) std::rethrow_exception(error_);
}

EmulationStats LinkEmulator::stats() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_done_.wait(lk, [&] { return error_ || stop_ || (queue_.empty() && !delivering_); });
  if (error_) std::rethrow_exception(error_);
  return stats_;
}

void LinkEmulator::run() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_work_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const auto due = queue_.front().due;
    if (Clock::now() < due) {
      cv_work_.wait_until(lk, due, [&] { return stop_; });
      continue;  // re-check stop and the clock
    }
    // Everything already due goes out in one batch (catches up after a late wake-up).
    std::vector<Piece> batch;
    const auto now = Clock::now();
    while (!queue_.empty() && queue_.front().due <= now) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    delivering_ = true;
    lk.unlock();
    std::exception_ptr err;
    std::uint64_t delivered = 0, early = 0;
    try {
      for (const auto& p : batch) {
        if (Clock::now() < p.due) ++early;
        sink_(p.bytes.data(), p.bytes.size());
        ++delivered;
      }
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    delivering_ = false;
    stats_.delivered_pieces += delivered;
    stats_.delivered_early += early;
    for (const auto& p : batch) queued_bytes_ -= p.bytes.size();
    if (err) {
      error_ = err;
      for (const auto& p : queue_) queued_bytes_ -= p.bytes.size();
      queue_.clear();
    }
    cv_done_.notify_all();
    if (err) return;
  }
}

}  // namespace detail
}  // namespace peregrine::net
