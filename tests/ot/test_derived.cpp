// Derived flavours over IKNP: ROT, chosen-message OT (l-bit and byte strings), 1-out-of-N and the
// additive correlated OT mod 2^l, including edge choices and widths.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "../common/errors.hpp"
#include "ot_test_util.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/ot/derived.hpp"

using namespace peregrine;
using namespace peregrine::ot;
using peregrine::ot::test_util::IknpSession;
using peregrine::ot::test_util::run_parties;
using peregrine::ot::test_util::test_seed;

namespace {

std::uint64_t mask_of(int l) { return l >= 64 ? ~0ULL : (1ULL << l) - 1; }

/// Party 0 = OT sender (its COT sender), party 1 = OT receiver.
struct DerivedSession : IknpSession {
  Prg rprg = Prg::from_seed(test_seed(40));
  OtSender snd{*p0.sender, *ch0};
  OtReceiver rcv{*p1.receiver, *ch1, rprg};
  // The reverse direction too: party 1 sends.
  Prg rprg0 = Prg::from_seed(test_seed(41));
  OtSender snd1{*p1.sender, *ch1};
  OtReceiver rcv0{*p0.receiver, *ch0, rprg0};
};

std::vector<std::uint8_t> bits(Prg& p, std::size_t n) {
  std::vector<std::uint8_t> c(n);
  p.fill(c.data(), n);
  for (auto& v : c) v &= 1;
  if (n >= 2) {
    c[0] = 0;
    c[n - 1] = 1;
  }
  return c;
}

std::vector<std::uint64_t> values(Prg& p, std::size_t n, int l) {
  std::vector<std::uint64_t> v(n);
  for (auto& x : v) x = p.next_u64() & mask_of(l);
  if (n >= 2) {
    v[0] = 0;
    v[1] = mask_of(l);
  }
  return v;
}

}  // namespace

TEST(DerivedOt, RandomOt) {
  DerivedSession s;
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, kDerivedBatch + 77}) {
    std::vector<std::array<Block, 2>> m(n);
    std::vector<std::uint8_t> c(n);
    std::vector<Block> got(n);
    run_parties([&] { s.snd.send_rot(m); }, [&] { s.rcv.recv_rot(c, got); });
    std::size_t ones = 0;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_LE(c[i], 1);
      ASSERT_EQ(got[i], m[i][c[i]]) << i;
      ASSERT_NE(got[i], m[i][1 - c[i]]) << i;
      ASSERT_NE(m[i][0] ^ m[i][1], s.p0.sender->delta());  // hashed: the correlation is gone
      ones += c[i];
    }
    if (n > 100) {
      EXPECT_GT(ones, n / 3);
    }
  }
}

TEST(DerivedOt, ChosenMessageLBits) {
  DerivedSession s;
  Prg p = Prg::from_seed(test_seed(42));
  for (int l : {1, 8, 37, 64}) {
    for (std::size_t n : {std::size_t{1}, std::size_t{999}, kDerivedBatch + 3}) {
      auto m0 = values(p, n, l), m1 = values(p, n, l);
      auto c = bits(p, n);
      std::vector<std::uint64_t> got(n);
      run_parties([&] { s.snd.send_chosen(m0, m1, l); }, [&] { s.rcv.recv_chosen(c, got, l); });
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], c[i] ? m1[i] : m0[i]) << l << " " << i;
    }
  }
  // Inputs wider than l are masked.
  std::vector<std::uint64_t> m0{~0ULL}, m1{~0ULL}, got(1);
  std::vector<std::uint8_t> c{1};
  run_parties([&] { s.snd.send_chosen(m0, m1, 5); }, [&] { s.rcv.recv_chosen(c, got, 5); });
  EXPECT_EQ(got[0], 31u);
}

TEST(DerivedOt, ChosenMessageBytes) {
  DerivedSession s;
  Prg p = Prg::from_seed(test_seed(43));
  for (std::size_t len : {1u, 15u, 16u, 17u, 100u, 5000u}) {
    const std::size_t n = len >= 1000 ? 7 : 300;
    std::vector<std::uint8_t> m0(n * len), m1(n * len), got(n * len);
    p.fill(m0.data(), m0.size());
    p.fill(m1.data(), m1.size());
    auto c = bits(p, n);
    run_parties([&] { s.snd.send_chosen_bytes(m0, m1, len); }, [&] { s.rcv.recv_chosen_bytes(c, got, len); });
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k < len; ++k)
        ASSERT_EQ(got[i * len + k], (c[i] ? m1 : m0)[i * len + k]) << len << " " << i << " " << k;
  }
}

TEST(DerivedOt, OneOfN) {
  DerivedSession s;
  Prg p = Prg::from_seed(test_seed(44));
  for (int m : {1, 2, 4, 8}) {
    const std::size_t N = std::size_t{1} << m;
    for (int l : {1, 7, 64}) {
      const std::size_t n = m == 8 ? 300 : 2000;
      auto msgs = values(p, n * N, l);
      std::vector<std::uint8_t> c(n);
      for (std::size_t i = 0; i < n; ++i) c[i] = static_cast<std::uint8_t>(p.uniform_below(N));
      c[0] = 0;
      c[1] = static_cast<std::uint8_t>(N - 1);
      std::vector<std::uint64_t> got(n);
      run_parties([&] { s.snd.send_1_of_n(msgs, m, l); }, [&] { s.rcv.recv_1_of_n(c, got, m, l); });
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], msgs[i * N + c[i]]) << m << " " << l << " " << i;
    }
  }
}

TEST(DerivedOt, AdditiveCotModPow2) {
  DerivedSession s;
  Prg p = Prg::from_seed(test_seed(45));
  for (int l : {1, 8, 37, 64}) {
    for (std::size_t n : {std::size_t{1}, std::size_t{5000}, kDerivedBatch + 9}) {
      auto delta = values(p, n, l);
      auto c = bits(p, n);
      std::vector<std::uint64_t> x(n), y(n);
      run_parties([&] { s.snd.send_cot_additive(delta, x, l); }, [&] { s.rcv.recv_cot_additive(c, y, l); });
      const std::uint64_t mask = mask_of(l);
      bool x_varies = false;
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_LE(x[i], mask);
        ASSERT_EQ(y[i], (x[i] + (c[i] ? delta[i] : 0)) & mask) << l << " " << i;
        x_varies |= (i > 0 && x[i] != x[0]);
      }
      if (n > 100) {
        EXPECT_TRUE(x_varies);
      }
    }
  }
}

TEST(DerivedOt, AdditiveCotModPrime) {
  // Mod an arbitrary t (the slot layers' batching primes, and small and odd moduli).
  DerivedSession s;
  Prg p = Prg::from_seed(test_seed(47));
  for (std::uint64_t t : {std::uint64_t{3}, std::uint64_t{1000003}, std::uint64_t{1073692673}, std::uint64_t{68719230977},
                          (std::uint64_t{1} << 62) - 57}) {
    for (std::size_t n : {std::size_t{1}, kDerivedBatch + 9}) {
      std::vector<std::uint64_t> delta(n), x(n), y(n);
      for (auto& d : delta) d = p.uniform_below(t);
      delta[0] = t - 1;
      auto c = bits(p, n);
      run_parties([&] { s.snd.send_cot_additive_mod(delta, x, t); }, [&] { s.rcv.recv_cot_additive_mod(c, y, t); });
      bool x_varies = false;
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_LT(x[i], t);
        ASSERT_EQ(y[i], static_cast<std::uint64_t>((static_cast<unsigned __int128>(x[i]) + (c[i] ? delta[i] : 0)) % t)) << t << " " << i;
        x_varies |= (i > 0 && x[i] != x[0]);
      }
      if (n > 100) {
        EXPECT_TRUE(x_varies);
      }
    }
  }
  // Rejected before any traffic: Δ ≥ t, t out of range.
  std::vector<std::uint64_t> d1 = {7}, o1(1);
  EXPECT_THROW(s.snd.send_cot_additive_mod(d1, o1, 7), Error);
  EXPECT_THROW(s.snd.send_cot_additive_mod(d1, o1, 1), Error);
  std::vector<std::uint8_t> c1 = {1};
  EXPECT_THROW(s.rcv.recv_cot_additive_mod(c1, o1, std::uint64_t{1} << 62), Error);
}

TEST(DerivedOt, AdditiveCotModPrimeRefusesAValueNotBelowT) {
  // A hostile sender: the COTs, then values ≥ t (all bits set) in place of the corrections.
  using peregrine::test::error_code_of;
  DerivedSession s;
  const std::uint64_t t = 1000003;  // 20 bits: 2^20 − 1 ≥ t
  const std::size_t n = 10;
  std::vector<std::uint8_t> c(n, 1);
  std::vector<std::uint64_t> y(n);
  std::optional<ErrorCode> code;
  run_parties(
      [&] {
        std::vector<Block> q(n);
        s.p0.sender->send_cot(q);
        std::vector<std::uint8_t> junk((n * 20 + 7) / 8, 0xff);
        s.ch0->send(junk.data(), junk.size());
        s.ch0->flush();
      },
      [&] { code = error_code_of([&] { s.rcv.recv_cot_additive_mod(c, y, t); }); });
  EXPECT_EQ(code, ErrorCode::kMalformedInput);
}

TEST(DerivedOt, ReverseDirectionAndInterleaving) {
  DerivedSession s;
  Prg p = Prg::from_seed(test_seed(46));
  const std::size_t n = 3000;
  auto delta = values(p, n, 32);
  auto c = bits(p, n);
  std::vector<std::uint64_t> x(n), y(n), x2(n), y2(n);
  // Both directions in sequence over one channel, as the mpc layer does.
  run_parties(
      [&] {
        s.snd.send_cot_additive(delta, x, 32);
        s.rcv0.recv_cot_additive(c, y2, 32);
      },
      [&] {
        s.rcv.recv_cot_additive(c, y, 32);
        s.snd1.send_cot_additive(delta, x2, 32);
      });
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(y[i], (x[i] + (c[i] ? delta[i] : 0)) & 0xffffffffULL);
    ASSERT_EQ(y2[i], (x2[i] + (c[i] ? delta[i] : 0)) & 0xffffffffULL);
  }
}

TEST(DerivedOt, InvalidArgumentsRejectedBeforeTraffic) {
  using peregrine::test::error_code_of;
  DerivedSession s;
  const auto sent0 = s.ch0->stats().bytes_sent, sent1 = s.ch1->stats().bytes_sent;
  std::vector<std::uint64_t> v(4), out(4);
  std::vector<std::uint8_t> c(4, 0);
  EXPECT_EQ(error_code_of([&] { s.snd.send_chosen(v, v, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error_code_of([&] { s.snd.send_chosen(v, v, 65); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error_code_of([&] { s.snd.send_1_of_n(v, 9, 8); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error_code_of([&] { s.snd.send_1_of_n(std::span<const std::uint64_t>(v.data(), 3), 2, 8); }),
            ErrorCode::kInvalidArgument);
  c[2] = 4;
  EXPECT_EQ(error_code_of([&] { s.rcv.recv_1_of_n(c, out, 2, 8); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error_code_of([&] { s.rcv.recv_cot_additive(std::span<const std::uint8_t>(c.data(), 3), out, 8); }),
            ErrorCode::kInvalidArgument);
  std::vector<std::uint8_t> b(10);
  EXPECT_EQ(error_code_of([&] { s.snd.send_chosen_bytes(b, b, 3); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error_code_of([&] { s.snd.send_chosen_bytes(b, b, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.ch0->stats().bytes_sent, sent0);
  EXPECT_EQ(s.ch1->stats().bytes_sent, sent1);
}
