// Fuzz target: the base-OT messages that carry ristretto255 group elements (ot/base_ot.hpp), as a
// peer would send them. Byte 0 picks the side: even = we are the base-OT receiver and the input is
// the sender's A; odd = we are the sender and the input is the receiver's B_0..B_3. Invalid points
// must be rejected with a typed error.
#include <array>
#include <chrono>

#include "fuzz_target.hpp"
#include "raw_peer.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/net/channel.hpp"
#include "peregrine/ot/base_ot.hpp"

namespace peregrine::fuzz {

namespace {
constexpr std::size_t kN = 4;

Prg fixed_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  return Prg::from_seed(s);
}
}  // namespace

std::string name() { return "base_ot"; }

void run_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  // The peer follows the message order, so no side waits on the other beyond the input.
  const bool we_receive = data[0] % 2 == 0;
  auto peer = [&](net::Channel& c) {
    std::array<std::uint8_t, 32 * kN> sink;
    if (!we_receive) c.recv(sink.data(), 32);  // our A
    c.send(data + 1, size - 1);
    c.flush();
    if (we_receive && size - 1 >= 32) c.recv(sink.data(), 32 * kN);  // our B
  };
  with_peer(std::chrono::milliseconds(200), peer, [&](net::Channel& ch) {
    Prg prg = fixed_prg(1);
    if (we_receive) {
      const std::array<std::uint8_t, kN> choices = {0, 1, 1, 0};
      ot::BaseOtReceiver r(prg, choices, "fuzz");
      r.receive_a_send_b(ch);
      std::array<ot::Block, kN> keys;
      r.derive(keys);
    } else {
      ot::BaseOtSender s(prg, kN, "fuzz");
      s.send_a(ch);
      ch.flush();
      std::array<std::array<ot::Block, 2>, kN> keys;
      s.receive_and_derive(ch, keys);
    }
  });
}

std::vector<std::vector<std::uint8_t>> seeds() {
  // Real messages: A from a sender, B_0..B_3 from a receiver, captured off an in-memory channel.
  std::vector<std::vector<std::uint8_t>> out;
  auto pr = net::make_memory_pair();
  Prg p0 = fixed_prg(2), p1 = fixed_prg(3);
  ot::BaseOtSender s(p0, kN, "fuzz");
  s.send_a(*pr.first);
  pr.first->flush();
  std::vector<std::uint8_t> a(1 + 32, 0);
  pr.second->recv(a.data() + 1, 32);
  out.push_back(a);
  const std::array<std::uint8_t, kN> choices = {1, 0, 1, 1};
  ot::BaseOtReceiver r(p1, choices, "fuzz");
  auto pr2 = net::make_memory_pair();
  pr2.first->send(a.data() + 1, 32);
  pr2.first->flush();
  r.receive_a_send_b(*pr2.second);
  pr2.second->flush();
  std::vector<std::uint8_t> b(1 + 32 * kN, 1);
  pr2.first->recv(b.data() + 1, 32 * kN);
  out.push_back(b);
  return out;
}

}  // namespace peregrine::fuzz
