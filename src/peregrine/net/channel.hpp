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

/// Bytes send_frame adds in front of a frame's payload (its u64 length); cost models count it.
inline constexpr std::size_t kFrameHeaderBytes = 8;

namespace detail {
class LinkEmulator;
}

/// Traffic counters of one endpoint. bytes_* count payload bytes as written to / read from the
/// underlying transport (frame headers included; the emulator adds nothing). A round is a change
/// of direction: it is counted when this endpoint sends after having received (and for its very
/// first send). A ping-pong of k exchanges therefore counts k rounds on each side.
struct ChannelStats {
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t rounds = 0;
};

/// Counters of one endpoint's emulated link (ChannelOptions link emulation; all zero without it).
/// A piece is one part (at most 64 KiB) of a flush, stamped with its due time when pushed.
struct EmulationStats {
  std::uint64_t pieces = 0;            ///< pieces pushed into the link
  std::uint64_t bytes = 0;             ///< bytes pushed into the link
  /// Link time the model assigned, summed over the pieces (ns): for each piece its due time minus
  /// the time it started on the link, i.e. ceil(8 * bytes * 1e9 / bits_per_second) + one_way_delay.
  /// Computed from the model, not measured, so it does not depend on the machine's speed.
  std::uint64_t modelled_ns = 0;
  std::uint64_t delivered_pieces = 0;  ///< pieces handed to the transport
  /// Pieces handed to the transport before their due time (the emulator's clock, checked at each
  /// hand-over): 0 unless the emulator is broken.
  std::uint64_t delivered_early = 0;
};

/// Options common to every channel.
///
/// Link emulation (no root needed; works for every channel kind): when emulate_bits_per_second
/// or emulate_one_way_delay is non-zero, each direction of the endpoint models a serial link.
/// Outgoing bytes are cut into pieces of at most 64 KiB at flush time; piece i becomes available
/// to the peer no earlier than
///     free_i + one_way_delay,  free_i = max(free_{i-1}, t_flush_i) + 8 * bytes_i / bits_per_second
/// i.e. the link transmits one piece after the other at the given rate and every bit travels for
/// one_way_delay. This is implemented on the sending side: flush() stamps the pieces with their
/// due time and returns at once (like a write into a large socket buffer); a delivery thread of
/// the endpoint hands each piece to the transport at its due time. At most 64 MiB may be in flight;
/// beyond that flush() waits (back-pressure). Destroying an endpoint first delivers what is in
/// flight. Only the sender's options matter, so set the same options on both endpoints to emulate
/// a symmetric link. Times come from std::chrono::steady_clock; the real transport's own latency
/// adds to the model, so measured times are lower-bounded by the model, not equal to it.
struct ChannelOptions {
  /// A receive that sees no byte for this long throws Error(kTimeout). Also bounds a TCP send
  /// that makes no progress (peer not reading) and an accept/poll step.
  std::chrono::milliseconds read_timeout{30000};
  /// Whole-session limit (0 = none), counted from the channel's creation: once it has passed,
  /// every wait for the peer throws Error(kTimeout), so a peer that drips one byte just inside
  /// read_timeout cannot hold a session forever. Enforced by the TCP transport.
  std::chrono::milliseconds session_timeout{0};
  /// Largest frame accepted by recv_frame, in bytes (checked before any allocation).
  std::size_t max_frame_bytes = std::size_t{1} << 30;
  /// Optional link emulation: bandwidth in bits/s (0 = unlimited) and one-way delay.
  std::uint64_t emulate_bits_per_second = 0;
  std::chrono::microseconds emulate_one_way_delay{0};
};

/// LAN preset of DESIGN.md §5: 3 Gbit/s, 0.15 ms one-way delay (0.3 ms RTT); other fields default.
ChannelOptions lan_profile();
/// WAN preset of DESIGN.md §5: 400 Mbit/s, 20 ms one-way delay (40 ms RTT); other fields default.
ChannelOptions wan_profile();

/// A reliable, ordered, bidirectional byte stream to the peer, with buffering, explicit flush,
/// length-prefixed frames and counters.
///
/// Thread-safety: one endpoint is used by one thread at a time (not thread-safe, including
/// stats()); the two endpoints of a pair may run in different threads or processes.
///
/// Errors (all typed, never a hang or a crash): Error(kPeerClosed) when the peer closed or the
/// connection broke, Error(kTimeout) after ChannelOptions::read_timeout without progress,
/// Error(kSizeLimit) for a frame above the limit. After an error the stream position is undefined;
/// the caller should drop the channel. Destroying an endpoint flushes pending output (best effort,
/// bounded by read_timeout and the emulated link) and then closes it; the peer's reads then throw
/// Error(kPeerClosed) once the delivered bytes are consumed.
class Channel {
 public:
  virtual ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Queues n bytes for the peer (sent at flush, when the 64 KiB buffer fills, or before a
  /// receive). May throw kPeerClosed / kTimeout when the buffer is pushed out.
  void send(const void* data, std::size_t n);
  /// Receives exactly n bytes; flushes pending output first. Throws kPeerClosed / kTimeout.
  void recv(void* data, std::size_t n);
  /// Pushes queued bytes to the transport (or to the link emulator). Throws kPeerClosed / kTimeout.
  void flush();

  /// A frame: u64 little-endian length (kFrameHeaderBytes), then the bytes.
  void send_frame(std::span<const std::uint8_t> bytes);
  /// Receives one frame; throws Error(kSizeLimit) before allocating if its declared length (bytes)
  /// exceeds min(max_bytes, options().max_frame_bytes); kPeerClosed for a truncated frame.
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
  /// The emulated link's counters (zeros without emulation). Does not flush; first waits until every
  /// piece already flushed was handed to the transport, so that the delivery counters are final
  /// (at most the modelled link time). Rethrows a stored delivery error (kPeerClosed / kTimeout).
  EmulationStats emulation_stats();
  const ChannelOptions& options() const noexcept { return opts_; }

 protected:
  explicit Channel(ChannelOptions opts);
  /// Writes all n bytes to the transport or throws. With emulation on, it is called from the
  /// endpoint's delivery thread, possibly concurrently with read_raw (never with itself).
  virtual void write_raw(const std::uint8_t* data, std::size_t n) = 0;
  /// Reads exactly n bytes from the transport or throws (kPeerClosed / kTimeout).
  virtual void read_raw(std::uint8_t* data, std::size_t n) = 0;
  /// Flushes and delivers everything still in flight, then stops the delivery thread; errors are
  /// swallowed. Every derived destructor must call it before tearing its transport down.
  void close_output() noexcept;

 private:
  void emit(const std::uint8_t* data, std::size_t n);

  ChannelOptions opts_;
  ChannelStats stats_;
  std::vector<std::uint8_t> out_;
  bool last_was_recv_ = true;
  std::unique_ptr<detail::LinkEmulator> emu_;
};

/// Two connected in-memory endpoints (tests and the one-process run). Unbounded buffering: a send
/// never blocks. Closing (destroying) one makes the other's reads throw Error(kPeerClosed) once the
/// bytes already sent are consumed, and its writes throw Error(kPeerClosed).
std::pair<std::unique_ptr<Channel>, std::unique_ptr<Channel>> make_memory_pair(
    const ChannelOptions& opts = {});

/// TCP (POSIX sockets, TCP_NODELAY, SIGPIPE suppressed per call). Resolves `host` (numeric or
/// name) and retries refused attempts until `connect_timeout`.
/// Throws Error(kInvalidArgument) when `host` does not resolve, Error(kTimeout) when no
/// connection was made within `connect_timeout` (the message carries the last OS error).
std::unique_ptr<Channel> tcp_connect(const std::string& host, std::uint16_t port,
                                     std::chrono::milliseconds connect_timeout,
                                     const ChannelOptions& opts = {});

/// A listening TCP socket. Not thread-safe: one thread calls accept() at a time.
class TcpListener {
 public:
  /// Binds host:port (port 0 picks a free port; see port()). Throws Error(kInvalidArgument) when
  /// `host` does not resolve, Error(kCrypto) when socket/bind/listen fails (e.g. port in use).
  TcpListener(const std::string& host, std::uint16_t port);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  std::uint16_t port() const noexcept { return port_; }
  /// Waits up to `timeout` for one peer. Throws Error(kTimeout) when none came, Error(kCrypto)
  /// when accept fails for a reason other than a peer aborting its attempt.
  std::unique_ptr<Channel> accept(std::chrono::milliseconds timeout, const ChannelOptions& opts = {});

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace peregrine::net
