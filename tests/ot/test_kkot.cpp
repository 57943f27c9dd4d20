// KK13 1-out-of-N OT extension (src/peregrine/ot/kkot.hpp): correctness over every m, l and batch
// size that matters (chunk boundaries at 128 OTs), seeded from IKNP random OTs (from_rot) and from
// hand-made base keys; consecutive calls on the same objects; argument checks before any traffic;
// traffic per OT (256 bits up + N·l bits down, one round trip per call); and a wire-level sanity
// check that the receiver's pad unmasks only the chosen message.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ot_test_util.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/ot/derived.hpp"
#include "peregrine/ot/kkot.hpp"

using namespace peregrine;
using namespace peregrine::ot;
using peregrine::ot::test_util::IknpSession;
using peregrine::ot::test_util::run_parties;
using peregrine::ot::test_util::test_seed;

namespace {

std::uint64_t mask_of(int l) { return l >= 64 ? ~0ULL : (1ULL << l) - 1; }

/// Wire bytes of one call: receiver → sender 32 bytes per OT in chunks of 128 OTs.
std::uint64_t up_bytes(std::size_t n) { return 32 * 128 * ((n + 127) / 128); }
/// Sender → receiver: n·N values of l bits, packed.
std::uint64_t down_bytes(std::size_t n, int m, int l) {
  return ((n << m) * static_cast<std::uint64_t>(l) + 7) / 8;
}

std::string error_name_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return error_code_name(e.code());
  } catch (...) {
    return "other exception";
  }
  return "no exception";
}

/// [n][2^m] random l-bit messages, with 0 and 2^l − 1 among them.
std::vector<std::uint64_t> messages(Prg& p, std::size_t n, int m, int l) {
  std::vector<std::uint64_t> v(n << m);
  for (auto& x : v) x = p.next_u64() & mask_of(l);
  if (v.size() >= 2) {
    v[0] = 0;
    v[1] = mask_of(l);
  }
  return v;
}

/// n choices in [0, 2^m): 0 and 2^m − 1 first, then uniform.
std::vector<std::uint8_t> choices(Prg& p, std::size_t n, int m) {
  std::vector<std::uint8_t> c(n);
  for (auto& x : c) x = static_cast<std::uint8_t>(p.uniform_below(std::uint64_t{1} << m));
  if (n >= 1) c[0] = 0;
  if (n >= 2) c[1] = static_cast<std::uint8_t>((1u << m) - 1);
  return c;
}

/// A KKOT sender / receiver pair over a memory channel pair, party 0 = sender.
struct KkotPair {
  std::unique_ptr<net::Channel> ch_s, ch_r;  // sender's and receiver's endpoints
  std::unique_ptr<KkotSender> snd;
  std::unique_ptr<KkotReceiver> rcv;
};

/// Hand-made base OTs: random pairs {k_i^0, k_i^1}, the sender holding k_i^{s_i}. `s_mode`:
/// 0 = random s, 1 = all zero, 2 = all one (degenerate for security but valid for correctness).
KkotPair handmade_pair(std::uint8_t tag, int s_mode = 0, std::uint32_t dom_s = 0, std::uint32_t dom_r = 0) {
  Prg p = Prg::from_seed(test_seed(tag));
  std::vector<std::array<Block, 2>> keys(kKkotColumns);
  std::vector<std::uint8_t> s(kKkotColumns);
  std::vector<Block> chosen(kKkotColumns);
  for (std::size_t i = 0; i < kKkotColumns; ++i) {
    keys[i][0] = Block{p.next_u64(), p.next_u64()};
    keys[i][1] = Block{p.next_u64(), p.next_u64()};
    s[i] = s_mode == 0 ? static_cast<std::uint8_t>(p.next_u64() & 1) : (s_mode == 2 ? 1 : 0);
    chosen[i] = keys[i][s[i]];
  }
  KkotPair kp;
  auto pr = net::make_memory_pair();
  kp.ch_s = std::move(pr.first);
  kp.ch_r = std::move(pr.second);
  kp.snd = std::make_unique<KkotSender>(*kp.ch_s, s, chosen, dom_s);
  kp.rcv = std::make_unique<KkotReceiver>(*kp.ch_r, keys, dom_r);
  return kp;
}

/// One call: checks out[i] == msgs[i·N + c_i] for every i.
void check_call(KkotSender& snd, KkotReceiver& rcv, Prg& p, std::size_t n, int m, int l,
                const std::string& what) {
  const std::size_t N = std::size_t{1} << m;
  auto msgs = messages(p, n, m, l);
  auto c = choices(p, n, m);
  std::vector<std::uint64_t> out(n, 0xdeadbeefULL);
  run_parties([&] { snd.send(msgs, m, l); }, [&] { rcv.recv(c, out, m, l); });
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_EQ(out[i], msgs[i * N + c[i]]) << what << " m=" << m << " l=" << l << " n=" << n << " i=" << i
                                          << " c=" << int{c[i]};
}

void full_grid(KkotSender& snd, KkotReceiver& rcv, std::uint8_t tag, const std::string& what) {
  Prg p = Prg::from_seed(test_seed(tag));
  for (int m : {1, 2, 4, 6, 8})
    for (int l : {1, 2, 37, 64})
      for (std::size_t n : {0, 1, 127, 128, 129, 1000, 5000}) {
        check_call(snd, rcv, p, n, m, l, what);
        if (::testing::Test::HasFatalFailure()) return;
      }
}

/// Reads value `index` of l bits from an LSB-first packed buffer (independent of the library's).
std::uint64_t unpack(const std::vector<std::uint8_t>& buf, std::size_t index, int l) {
  std::uint64_t v = 0;
  const std::size_t bit0 = index * static_cast<std::size_t>(l);
  for (int b = 0; b < l; ++b) {
    const std::size_t bit = bit0 + static_cast<std::size_t>(b);
    v |= static_cast<std::uint64_t>((buf[bit / 8] >> (bit % 8)) & 1) << b;
  }
  return v;
}

}  // namespace

TEST(Kkot, FromRotOverIknpAllShapes) {
  IknpSession s;
  Prg rprg = Prg::from_seed(test_seed(60));
  OtSender rot_s{*s.p0.sender, *s.ch0, 5};
  OtReceiver rot_r{*s.p1.receiver, *s.ch1, rprg, 5};
  std::unique_ptr<KkotReceiver> rcv;  // party 0: ROT sender = KKOT receiver
  std::unique_ptr<KkotSender> snd;    // party 1: ROT receiver = KKOT sender
  run_parties([&] { rcv = KkotReceiver::from_rot(rot_s, *s.ch0, 3); },
              [&] { snd = KkotSender::from_rot(rot_r, *s.ch1, 3); });
  ASSERT_TRUE(rcv && snd);
  full_grid(*snd, *rcv, 61, "from_rot");
}

TEST(Kkot, HandmadeBaseKeysAllShapes) {
  auto kp = handmade_pair(62);
  full_grid(*kp.snd, *kp.rcv, 63, "handmade");
}

TEST(Kkot, DegenerateBaseChoicesStillCorrect) {
  // s = 0…0 and s = 1…1: the sender's rows equal t (or t ⊕ C(c)); correctness must not depend on s.
  for (int mode : {1, 2}) {
    auto kp = handmade_pair(64, mode);
    Prg p = Prg::from_seed(test_seed(65));
    for (int m : {1, 4, 8}) {
      check_call(*kp.snd, *kp.rcv, p, 300, m, 64, "s_mode=" + std::to_string(mode));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(Kkot, BothDirectionsInterleavedWithOtherFlavours) {
  // Each party is KKOT sender in one instance and receiver in the other, over one channel, with
  // additive COTs of derived.hpp between the calls (as MpcSession uses them).
  IknpSession s;
  Prg rprg1 = Prg::from_seed(test_seed(66)), rprg0 = Prg::from_seed(test_seed(67));
  OtSender snd0{*s.p0.sender, *s.ch0, 1};
  OtReceiver rcv1{*s.p1.receiver, *s.ch1, rprg1, 1};
  OtSender snd1{*s.p1.sender, *s.ch1, 1};
  OtReceiver rcv0{*s.p0.receiver, *s.ch0, rprg0, 1};
  std::unique_ptr<KkotReceiver> kr0, kr1;
  std::unique_ptr<KkotSender> ks0, ks1;
  run_parties(
      [&] {
        kr0 = KkotReceiver::from_rot(snd0, *s.ch0, 2);
        ks0 = KkotSender::from_rot(rcv0, *s.ch0, 2);
      },
      [&] {
        ks1 = KkotSender::from_rot(rcv1, *s.ch1, 2);
        kr1 = KkotReceiver::from_rot(snd1, *s.ch1, 2);
      });
  Prg p = Prg::from_seed(test_seed(68));
  for (int round = 0; round < 4; ++round) {
    const int m = 1 + 2 * round, l = round == 3 ? 64 : 2 + 11 * round;
    const std::size_t n = 700 + 129 * static_cast<std::size_t>(round), N = std::size_t{1} << m;
    auto msgs_a = messages(p, n, m, l), msgs_b = messages(p, n, m, l);
    auto ca = choices(p, n, m), cb = choices(p, n, m);
    std::vector<std::uint64_t> delta(n), x(n), y(n), out_a(n), out_b(n);
    std::vector<std::uint8_t> bits(n);
    for (std::size_t i = 0; i < n; ++i) {
      delta[i] = p.next_u64() & 0xffffffffULL;
      bits[i] = static_cast<std::uint8_t>(p.next_u64() & 1);
    }
    run_parties(
        [&] {
          ks0->send(msgs_a, m, l);                 // 0 → 1
          snd0.send_cot_additive(delta, x, 32);    // 0 → 1
          kr0->recv(cb, out_b, m, l);              // 1 → 0
        },
        [&] {
          kr1->recv(ca, out_a, m, l);
          rcv1.recv_cot_additive(bits, y, 32);
          ks1->send(msgs_b, m, l);
        });
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(out_a[i], msgs_a[i * N + ca[i]]) << "round " << round << " i=" << i;
      ASSERT_EQ(out_b[i], msgs_b[i * N + cb[i]]) << "round " << round << " i=" << i;
      ASSERT_EQ(y[i], (x[i] + (bits[i] ? delta[i] : 0)) & 0xffffffffULL) << "round " << round << " i=" << i;
    }
  }
}

TEST(Kkot, InputsWiderThanLAreMasked) {
  auto kp = handmade_pair(69);
  const int m = 2, l = 5;
  std::vector<std::uint64_t> msgs = {~0ULL, 0x40ULL, 0xffffffe1ULL, 0x3ULL};
  for (std::uint8_t c = 0; c < 4; ++c) {
    std::vector<std::uint8_t> ch{c};
    std::vector<std::uint64_t> out(1);
    run_parties([&] { kp.snd->send(msgs, m, l); }, [&] { kp.rcv->recv(ch, out, m, l); });
    EXPECT_EQ(out[0], msgs[c] & 31u) << int{c};
  }
}

TEST(Kkot, InvalidArgumentsRejectedBeforeTraffic) {
  auto kp = handmade_pair(70);
  std::vector<std::uint64_t> msgs(16), out(4);
  std::vector<std::uint8_t> c(4, 0);
  const std::string inv = "invalid_argument";
  // Sender: m, l, msgs not a multiple of 2^m.
  EXPECT_EQ(error_name_of([&] { kp.snd->send(msgs, 0, 8); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.snd->send(msgs, 9, 8); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.snd->send(msgs, 2, 0); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.snd->send(msgs, 2, 65); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.snd->send(std::span<const std::uint64_t>(msgs.data(), 15), 2, 8); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.snd->send(std::span<const std::uint64_t>(msgs.data(), 6), 2, 8); }), inv);
  // Receiver: m, l, choice ≥ 2^m, size mismatch.
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(c, out, 0, 8); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(c, out, 9, 8); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(c, out, 2, 0); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(c, out, 2, 65); }), inv);
  c[3] = 4;
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(c, out, 2, 8); }), inv);
  c[3] = 255;
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(c, out, 7, 8); }), inv);
  c[3] = 1;
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(std::span<const std::uint8_t>(c.data(), 3), out, 2, 8); }), inv);
  EXPECT_EQ(error_name_of([&] { kp.rcv->recv(c, std::span<std::uint64_t>(out.data(), 3), 2, 8); }), inv);
  EXPECT_EQ(kp.ch_s->stats().bytes_sent, 0u);
  EXPECT_EQ(kp.ch_r->stats().bytes_sent, 0u);
  // Constructors: 256 base OTs exactly.
  std::vector<std::uint8_t> s255(255), s256(256);
  std::vector<Block> k255(255), k256(256);
  std::vector<std::array<Block, 2>> kk255(255), kk257(257);
  EXPECT_EQ(error_name_of([&] { KkotSender x(*kp.ch_s, s255, k256); }), inv);
  EXPECT_EQ(error_name_of([&] { KkotSender x(*kp.ch_s, s256, k255); }), inv);
  EXPECT_EQ(error_name_of([&] { KkotReceiver x(*kp.ch_r, kk255); }), inv);
  EXPECT_EQ(error_name_of([&] { KkotReceiver x(*kp.ch_r, kk257); }), inv);
  // The objects still work after the rejected calls.
  Prg p = Prg::from_seed(test_seed(71));
  check_call(*kp.snd, *kp.rcv, p, 200, 4, 9, "after errors");
}

TEST(Kkot, TrafficPerOtAndRounds) {
  // 256 bits receiver → sender per OT (padded to chunks of 128 OTs) and N·l bits sender → receiver,
  // one round trip per call, nothing at all for n = 0.
  auto kp = handmade_pair(72);
  Prg p = Prg::from_seed(test_seed(73));
  struct Case {
    std::size_t n;
    int m, l;
  };
  for (const Case& cs : {Case{1024, 4, 37}, Case{1024, 1, 64}, Case{2048, 8, 1}, Case{1024, 2, 2},
                         Case{129, 4, 2}, Case{1, 8, 64}, Case{5000, 6, 37}, Case{0, 4, 8}}) {
    const auto s0 = kp.ch_s->stats(), r0 = kp.ch_r->stats();
    check_call(*kp.snd, *kp.rcv, p, cs.n, cs.m, cs.l, "traffic");
    if (HasFatalFailure()) return;
    const auto s1 = kp.ch_s->stats(), r1 = kp.ch_r->stats();
    const std::uint64_t up = r1.bytes_sent - r0.bytes_sent, down = s1.bytes_sent - s0.bytes_sent;
    EXPECT_EQ(up, up_bytes(cs.n)) << "n=" << cs.n << " m=" << cs.m << " l=" << cs.l;
    EXPECT_EQ(down, down_bytes(cs.n, cs.m, cs.l)) << "n=" << cs.n << " m=" << cs.m << " l=" << cs.l;
    EXPECT_EQ(s1.bytes_received - s0.bytes_received, up);
    EXPECT_EQ(r1.bytes_received - r0.bytes_received, down);
    if (cs.n % 128 == 0 && cs.n > 0 && ((std::size_t{1} << cs.m) * cs.l) % 8 == 0) {
      // Exactly 32 + N·l/8 bytes per OT.
      const double per_ot = static_cast<double>(up + down) / static_cast<double>(cs.n);
      EXPECT_DOUBLE_EQ(per_ot, 32.0 + static_cast<double>((std::size_t{1} << cs.m) * cs.l) / 8.0)
          << "n=" << cs.n << " m=" << cs.m << " l=" << cs.l;
    }
    const std::uint64_t want_rounds = cs.n == 0 ? 0 : 1;
    EXPECT_EQ(r1.rounds - r0.rounds, want_rounds) << "receiver rounds, n=" << cs.n;
    EXPECT_EQ(s1.rounds - s0.rounds, want_rounds) << "sender rounds, n=" << cs.n;
  }
}

TEST(Kkot, MismatchedDomainsGiveGarbage) {
  // Sanity of the hash tweaks: the sender and receiver must agree on the domain.
  auto kp = handmade_pair(74, 0, /*dom_s=*/1, /*dom_r=*/2);
  Prg p = Prg::from_seed(test_seed(75));
  const std::size_t n = 500;
  const int m = 3, l = 64;
  auto msgs = messages(p, n, m, l);
  auto c = choices(p, n, m);
  std::vector<std::uint64_t> out(n);
  run_parties([&] { kp.snd->send(msgs, m, l); }, [&] { kp.rcv->recv(c, out, m, l); });
  std::size_t equal = 0;
  for (std::size_t i = 0; i < n; ++i) equal += out[i] == msgs[i * 8 + c[i]];
  EXPECT_EQ(equal, 0u);
}

TEST(Kkot, ReceiverPadUnmasksOnlyTheChosenMessage) {
  // A relay between the two endpoints records the masked messages y_{j,x} on the wire. The
  // receiver's pad is p_j = y_{j,c_j} ⊕ out_j; for every x ≠ c_j, y_{j,x} ⊕ p_j must differ from
  // msg_{j,x} (64-bit messages: a coincidence has probability 2^-64 per pair), and no y_{j,x}
  // equals msg_{j,x} (the messages are masked). Two calls with the same inputs must use fresh
  // pads (different wire bytes).
  Prg p = Prg::from_seed(test_seed(76));
  std::vector<std::array<Block, 2>> keys(kKkotColumns);
  std::vector<std::uint8_t> s(kKkotColumns);
  std::vector<Block> chosen(kKkotColumns);
  for (std::size_t i = 0; i < kKkotColumns; ++i) {
    keys[i][0] = Block{p.next_u64(), p.next_u64()};
    keys[i][1] = Block{p.next_u64(), p.next_u64()};
    s[i] = static_cast<std::uint8_t>(p.next_u64() & 1);
    chosen[i] = keys[i][s[i]];
  }
  auto a = net::make_memory_pair(), b = net::make_memory_pair();
  // sender ↔ a.first … a.second ↔ relay ↔ b.first … b.second ↔ receiver
  KkotSender snd(*a.first, s, chosen);
  KkotReceiver rcv(*b.second, keys);
  const int m = 4, l = 64;
  const std::size_t n = 300, N = 16;
  auto msgs = messages(p, n, m, l);
  auto c = choices(p, n, m);
  std::vector<std::vector<std::uint8_t>> wire(2);
  std::vector<std::vector<std::uint64_t>> outs(2, std::vector<std::uint64_t>(n));
  std::string relay_error;
  std::thread relay([&] {
    try {
      for (int call = 0; call < 2; ++call) {
        std::vector<std::uint8_t> up(up_bytes(n));
        b.first->recv(up.data(), up.size());
        a.second->send(up.data(), up.size());
        a.second->flush();
        wire[call].resize(down_bytes(n, m, l));
        a.second->recv(wire[call].data(), wire[call].size());
        b.first->send(wire[call].data(), wire[call].size());
        b.first->flush();
      }
    } catch (const std::exception& e) {
      relay_error = e.what();
    }
  });
  run_parties(
      [&] {
        snd.send(msgs, m, l);
        snd.send(msgs, m, l);
      },
      [&] {
        rcv.recv(c, outs[0], m, l);
        rcv.recv(c, outs[1], m, l);
      });
  relay.join();
  ASSERT_EQ(relay_error, "");
  for (int call = 0; call < 2; ++call)
    for (std::size_t j = 0; j < n; ++j) {
      ASSERT_EQ(outs[call][j], msgs[j * N + c[j]]) << "call " << call << " j=" << j;
      const std::uint64_t pad = unpack(wire[call], j * N + c[j], l) ^ outs[call][j];
      for (std::size_t x = 0; x < N; ++x) {
        const std::uint64_t y = unpack(wire[call], j * N + x, l);
        ASSERT_NE(y, msgs[j * N + x]) << "unmasked message on the wire: call " << call << " j=" << j << " x=" << x;
        if (x == c[j]) continue;
        ASSERT_NE(y ^ pad, msgs[j * N + x]) << "receiver's pad opens a non-chosen message: call " << call
                                            << " j=" << j << " x=" << x << " c=" << int{c[j]};
      }
    }
  EXPECT_NE(wire[0], wire[1]) << "the second call reused the pads of the first";
}
