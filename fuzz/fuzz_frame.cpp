// Fuzz target: the frame decoder (net::Channel::recv_frame) fed with whatever a peer sends.
// Input: the raw byte stream from the peer; the decoder reads frames (limit 64 KiB) until a typed
// error (kSizeLimit, kPeerClosed, kTimeout).
#include <cstring>

#include "fuzz_target.hpp"
#include "raw_peer.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/net/channel.hpp"

namespace peregrine::fuzz {

std::string name() { return "frame"; }

void run_one(const std::uint8_t* data, std::size_t size) {
  against_raw_peer(data, size, std::chrono::milliseconds(200), [](net::Channel& ch) {
    for (;;) (void)ch.recv_frame(std::size_t{1} << 16);
  });
}

std::vector<std::vector<std::uint8_t>> seeds() {
  std::vector<std::vector<std::uint8_t>> out;
  for (std::uint64_t len : {0u, 1u, 5u, 300u}) {
    std::vector<std::uint8_t> b(8 + len, 0x5a);
    std::memcpy(b.data(), &len, 8);
    out.push_back(b);
  }
  std::vector<std::uint8_t> two = out[2];
  two.insert(two.end(), out[3].begin(), out[3].end());
  out.push_back(two);
  return out;
}

}  // namespace peregrine::fuzz
