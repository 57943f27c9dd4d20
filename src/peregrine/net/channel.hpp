// Byte channels between the two parties (DESIGN.md §5 "Transport").
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "peregrine/core/error.hpp"

namespace peregrine::net {

/// Traffic counters of one endpoint. bytes_* count payload bytes as written to / read from the
/// underlying transport (frame headers included). A round is a change of direction: it is counted
/// when this endpoint sends after having received (and for its very first send).
struct ChannelStats {
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t rounds = 0;
};

/// Options common to every channel.
struct ChannelOptions {
  /// A receive that sees no byte for this long throws Error(kTimeout).
  std::chrono::milliseconds read_timeout{30000};
  /// Largest frame accepted by recv_frame (checked before any allocation).
  std::size_t max_frame_bytes = std::size_t{1} << 30;
  /// Optional link emulation: bandwidth in bits/s (0 = unlimited) and one-way delay.
  std::uint64_t emulate_bits_per_second = 0;
  std::chrono::microseconds emulate_one_way_delay{0};
};

/// A reliable, ordered, bidirectional byte stream to the peer, with buffering, explicit flush,
/// length-prefixed frames and counters. One endpoint is used by one thread at a time
/// (not thread-safe); the two endpoints of a pair may run in different threads or processes.
///
/// Errors (all typed, never a hang or a crash): Error(kPeerClosed) when the peer closed or the
/// connection broke, Error(kTimeout) after ChannelOptions::read_timeout without progress,
/// Error(kSizeLimit) for a frame above max_frame_bytes, Error(kMalformedInput) for a bad frame.
class Channel {
 public:
  virtual ~Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Queues n bytes for the peer (sent at flush, when the buffer fills, or before a receive).
  void send(const void* data, std::size_t n);
  /// Receives exactly n bytes; flushes pending output first.
  void recv(void* data, std::size_t n);
  /// Pushes queued bytes to the transport.
  void flush();

  /// A frame: u64 little-endian length, then the bytes.
  void send_frame(std::span<const std::uint8_t> bytes);
  /// Receives one frame; throws Error(kSizeLimit) before allocating if its declared length
  /// exceeds min(max_bytes, options().max_frame_bytes).
  std::vector<std::uint8_t> recv_frame(std::size_t max_bytes = SIZE_MAX);

  /// Typed helpers for trivially copyable values and arrays (little-endian host assumed).
  template <class T>
  void send_value(const T& v) { send(&v, sizeof(T)); }
  template <class T>
  T recv_value() { T v; recv(&v, sizeof(T)); return v; }
  template <class T>
  void send_span(std::span<const T> v) { send(v.data(), v.size_bytes()); }
  template <class T>
  void recv_span(std::span<T> v) { recv(v.data(), v.size_bytes()); }

  const ChannelStats& stats() const noexcept { return stats_; }
  const ChannelOptions& options() const noexcept { return opts_; }

 protected:
  explicit Channel(ChannelOptions opts) : opts_(std::move(opts)) {}
  /// Writes all n bytes to the transport or throws.
  virtual void write_raw(const std::uint8_t* data, std::size_t n) = 0;
  /// Reads exactly n bytes from the transport or throws (kPeerClosed / kTimeout).
  virtual void read_raw(std::uint8_t* data, std::size_t n) = 0;

 private:
  ChannelOptions opts_;
  ChannelStats stats_;
  std::vector<std::uint8_t> out_;
  bool last_was_recv_ = true;
};

/// Two connected in-memory endpoints (tests and the one-process run). Closing (destroying) one
/// makes the other's reads throw Error(kPeerClosed).
std::pair<std::unique_ptr<Channel>, std::unique_ptr<Channel>> make_memory_pair(
    const ChannelOptions& opts = {});

/// TCP (POSIX sockets, TCP_NODELAY). `connect` retries until `connect_timeout`.
std::unique_ptr<Channel> tcp_connect(const std::string& host, std::uint16_t port,
                                     std::chrono::milliseconds connect_timeout,
                                     const ChannelOptions& opts = {});

/// A listening TCP socket. accept() waits up to `timeout` for one peer.
class TcpListener {
 public:
  /// Binds host:port (port 0 picks a free port; see port()).
  TcpListener(const std::string& host, std::uint16_t port);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  std::uint16_t port() const noexcept { return port_; }
  std::unique_ptr<Channel> accept(std::chrono::milliseconds timeout, const ChannelOptions& opts = {});

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace peregrine::net
