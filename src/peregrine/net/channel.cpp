#include "peregrine/net/channel.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>

namespace peregrine::net {

namespace {
constexpr std::size_t kSendBuffer = std::size_t{1} << 16;
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
      write_raw(p, n);
      stats_.bytes_sent += n;
      return;
    }
  }
  out_.insert(out_.end(), p, p + n);
}

void Channel::flush() {
  if (out_.empty()) return;
  write_raw(out_.data(), out_.size());
  stats_.bytes_sent += out_.size();
  out_.clear();
}

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

// ---- in-memory pair ------------------------------------------------------------------------

namespace {

/// One direction of the pipe.
struct Pipe {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::uint8_t> data;
  bool writer_closed = false;
  bool reader_closed = false;
};

class MemoryChannel final : public Channel {
 public:
  MemoryChannel(std::shared_ptr<Pipe> out, std::shared_ptr<Pipe> in, const ChannelOptions& o)
      : Channel(o), out_pipe_(std::move(out)), in_pipe_(std::move(in)) {}
  ~MemoryChannel() override {
    try {
      flush();
    } catch (...) {
    }
    {
      std::lock_guard<std::mutex> g(out_pipe_->mu);
      out_pipe_->writer_closed = true;
    }
    out_pipe_->cv.notify_all();
    {
      std::lock_guard<std::mutex> g(in_pipe_->mu);
      in_pipe_->reader_closed = true;
    }
    in_pipe_->cv.notify_all();
  }

 protected:
  void write_raw(const std::uint8_t* p, std::size_t n) override {
    {
      std::lock_guard<std::mutex> g(out_pipe_->mu);
      if (out_pipe_->reader_closed) throw Error(ErrorCode::kPeerClosed, "peer closed the channel");
      out_pipe_->data.insert(out_pipe_->data.end(), p, p + n);
    }
    out_pipe_->cv.notify_all();
  }
  void read_raw(std::uint8_t* p, std::size_t n) override {
    std::unique_lock<std::mutex> lk(in_pipe_->mu);
    std::size_t got = 0;
    while (got < n) {
      const bool ok = in_pipe_->cv.wait_for(lk, options().read_timeout, [&] {
        return !in_pipe_->data.empty() || in_pipe_->writer_closed;
      });
      if (!ok) throw Error(ErrorCode::kTimeout, "no data from the peer within the read timeout");
      if (in_pipe_->data.empty()) throw Error(ErrorCode::kPeerClosed, "peer closed the channel");
      const std::size_t take = std::min(n - got, in_pipe_->data.size());
      std::copy_n(in_pipe_->data.begin(), take, p + got);
      in_pipe_->data.erase(in_pipe_->data.begin(), in_pipe_->data.begin() + static_cast<std::ptrdiff_t>(take));
      got += take;
    }
  }

 private:
  std::shared_ptr<Pipe> out_pipe_, in_pipe_;
};

}  // namespace

std::pair<std::unique_ptr<Channel>, std::unique_ptr<Channel>> make_memory_pair(const ChannelOptions& opts) {
  auto a_to_b = std::make_shared<Pipe>(), b_to_a = std::make_shared<Pipe>();
  return {std::make_unique<MemoryChannel>(a_to_b, b_to_a, opts),
          std::make_unique<MemoryChannel>(b_to_a, a_to_b, opts)};
}

}  // namespace peregrine::net
