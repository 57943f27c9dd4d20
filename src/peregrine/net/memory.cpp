// In-memory duplex pair: each direction is a queue of byte chunks (one per flushed write), so
// hundreds of MB move with one copy in and one copy out.
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>

#include "peregrine/net/channel.hpp"

namespace peregrine::net {

namespace {

/// One direction of the pipe.
struct Pipe {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<std::uint8_t>> chunks;
  std::size_t head_offset = 0;  ///< bytes of chunks.front() already consumed
  bool writer_closed = false;
  bool reader_closed = false;
};

class MemoryChannel final : public Channel {
 public:
  MemoryChannel(std::shared_ptr<Pipe> out, std::shared_ptr<Pipe> in, const ChannelOptions& o)
      : Channel(o), out_pipe_(std::move(out)), in_pipe_(std::move(in)) {}
  ~MemoryChannel() override {
    close_output();
    {
      std::lock_guard<std::mutex> g(out_pipe_->mu);
      out_pipe_->writer_closed = true;
    }
    out_pipe_->cv.notify_all();
    {
      std::lock_guard<std::mutex> g(in_pipe_->mu);
      in_pipe_->reader_closed = true;
      in_pipe_->chunks.clear();  // nobody will read them
      in_pipe_->head_offset = 0;
    }
    in_pipe_->cv.notify_all();
  }

 protected:
  void write_raw(const std::uint8_t* p, std::size_t n) override {
    if (n == 0) return;
    std::vector<std::uint8_t> chunk(p, p + n);  // copy outside the lock
    {
      std::lock_guard<std::mutex> g(out_pipe_->mu);
      if (out_pipe_->reader_closed) throw Error(ErrorCode::kPeerClosed, "peer closed the channel");
      out_pipe_->chunks.push_back(std::move(chunk));
    }
    out_pipe_->cv.notify_all();
  }

  void read_raw(std::uint8_t* p, std::size_t n) override {
    Pipe& in = *in_pipe_;
    std::unique_lock<std::mutex> lk(in.mu);
    std::size_t got = 0;
    while (got < n) {
      const bool ok = in.cv.wait_for(lk, options().read_timeout,
                                     [&] { return !in.chunks.empty() || in.writer_closed; });
      if (!ok) throw Error(ErrorCode::kTimeout, "no data from the peer within the read timeout");
      if (in.chunks.empty()) throw Error(ErrorCode::kPeerClosed, "peer closed the channel");
      while (got < n && !in.chunks.empty()) {
        const auto& front = in.chunks.front();
        const std::size_t take = std::min(n - got, front.size() - in.head_offset);
        std::memcpy(p + got, front.data() + in.head_offset, take);
        got += take;
        in.head_offset += take;
        if (in.head_offset == front.size()) {
          in.chunks.pop_front();
          in.head_offset = 0;
        }
      }
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
