// Shared by the fuzz targets that read a peer's raw byte stream (frame, handshake, base_ot): an
// in-memory channel pair whose peer sends the input and closes, so the reader under test must end with a
// typed error (at the latest kPeerClosed) instead of hanging.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>

#include "peregrine/core/error.hpp"
#include "peregrine/net/channel.hpp"

namespace peregrine::fuzz {

/// Runs read(our_end) while a peer thread runs peer(its_end) and then closes its end (the
/// peer's typed errors are swallowed: only the reader is under test). Whatever `read` throws is
/// rethrown after our end is closed and the peer joined; reads wait at most `read_timeout`.
template <class Peer, class Read>
void with_peer(std::chrono::milliseconds read_timeout, Peer&& peer_fn, Read&& read) {
  net::ChannelOptions o;
  o.read_timeout = read_timeout;
  auto pr = net::make_memory_pair(o);
  std::thread peer([&] {
    try {
      peer_fn(*pr.second);
    } catch (const Error&) {
    }
    pr.second.reset();  // close: the reader must see kPeerClosed, not hang
  });
  try {
    read(*pr.first);
  } catch (...) {
    pr.first.reset();
    peer.join();
    throw;
  }
  pr.first.reset();
  peer.join();
}

/// with_peer whose peer sends data[0, size) and closes.
template <class Read>
void against_raw_peer(const std::uint8_t* data, std::size_t size, std::chrono::milliseconds read_timeout,
                      Read&& read) {
  with_peer(
      read_timeout,
      [&](net::Channel& c) {
        c.send(data, size);
        c.flush();
      },
      std::forward<Read>(read));
}

}  // namespace peregrine::fuzz
