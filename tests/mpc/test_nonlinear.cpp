// Millionaire, DReLU, ReLU, B2A and multiplexer (src/peregrine/mpc/nonlinear.hpp): both parties as
// threads over an in-memory channel pair, deterministic seeds; outputs reconstructed and compared
// with the cleartext function (TECHNIQUES.md §7.8).
#include "../common/two_party.hpp"
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "peregrine/mpc/nonlinear.hpp"
#include "peregrine/mpc/session.hpp"

using namespace peregrine;
using namespace peregrine::mpc;

namespace {

Seed test_seed(std::uint8_t tag) {
  Seed s{};
  s[0] = 0x4e;
  s[1] = tag;
  return s;
}

using peregrine::test::run_parties;

// Both sessions over one memory channel pair.
struct SessionPair {
  std::unique_ptr<net::Channel> ch0, ch1;
  Prg prg0 = Prg::from_seed(test_seed(1)), prg1 = Prg::from_seed(test_seed(2));
  std::unique_ptr<MpcSession> s0, s1;

  explicit SessionPair(const net::ChannelOptions& opts = {}) {
    auto pr = net::make_memory_pair(opts);
    ch0 = std::move(pr.first);
    ch1 = std::move(pr.second);
    run_parties([&] { s0 = std::make_unique<MpcSession>(*ch0, Party::kServer, prg0); },
                [&] { s1 = std::make_unique<MpcSession>(*ch1, Party::kClient, prg1); });
  }
};

BoolShares bxor(const BoolShares& a, const BoolShares& b) {
  BoolShares r(a.n);
  for (std::size_t i = 0; i < r.words.size(); ++i) r.words[i] = a.words[i] ^ b.words[i];
  return r;
}

// Edge values of Z_{2^ℓ} (0, ±1, max, min, ±2, min+1) then uniform values.
std::vector<u64> edge_and_random(const Ring& r, Prg& prg, std::size_t n) {
  const u64 max = r.mask >> 1, min = max + 1;
  std::vector<u64> x = {0, 1, r.mask, max, min, 2, r.mask - 1, min + 1, max - 1};
  while (x.size() < n) x.push_back(prg.next_u64());
  x.resize(n);
  for (auto& v : x) v &= r.mask;
  return x;
}

}  // namespace

TEST(Millionaire, MatchesPlaintextAllWidths) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(10));
  for (int ell : {1, 2, 7, 8, 16, 32, 37, 41, 63, 64}) {
    for (int m : {4, 1, 3, 8}) {
      if (m != 4 && ell != 37 && ell != 8) continue;
      const Ring r(ell);
      const std::size_t n = 2000;
      std::vector<u64> x = edge_and_random(r, gen, n), y(n);
      for (std::size_t i = 0; i < n; ++i) {
        switch (i % 5) {
          case 0: y[i] = x[i]; break;                       // equal inputs
          case 1: y[i] = (x[i] + 1) & r.mask; break;        // neighbours (incl. wrap)
          case 2: y[i] = (x[i] - 1) & r.mask; break;
          case 3: y[i] = x[i] ^ (gen.next_u64() & 0xF & r.mask); break;  // differ in low digit only
          default: y[i] = gen.next_u64() & r.mask;
        }
      }
      y[9] = 0;
      y[10] = r.mask;
      x[11] = r.mask;
      y[11] = r.mask;
      BoolShares b0, b1;
      run_parties([&] { b0 = millionaire_gt(*sp.s0, x, ell, m); },
                  [&] { b1 = millionaire_gt(*sp.s1, y, ell, m); });
      ASSERT_EQ(b0.n, n);
      ASSERT_EQ(b1.n, n);
      const BoolShares b = bxor(b0, b1);
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(b.get(i), x[i] > y[i] ? 1 : 0) << "ell=" << ell << " m=" << m << " i=" << i
                                                  << " x=" << x[i] << " y=" << y[i];
      if (n % 64) {
        EXPECT_EQ(b.words.back() >> (n % 64), 0u);  // unused bits stay zero
      }
    }
  }
}

TEST(Millionaire, EmptyAndInvalid) {
  SessionPair sp;
  BoolShares b0, b1;
  run_parties([&] { b0 = millionaire_gt(*sp.s0, {}, 32); }, [&] { b1 = millionaire_gt(*sp.s1, {}, 32); });
  EXPECT_EQ(b0.n, 0u);
  std::vector<u64> big = {256};
  EXPECT_THROW(millionaire_gt(*sp.s0, big, 8), Error);
  EXPECT_THROW(millionaire_gt(*sp.s0, big, 0), Error);
  EXPECT_THROW(millionaire_gt(*sp.s0, big, 65), Error);
  EXPECT_THROW(millionaire_gt(*sp.s0, big, 16, 9), Error);
  EXPECT_THROW(millionaire_gt(*sp.s0, big, 16, 0), Error);
  ArithShares one_bit{Ring(1), {1}};
  EXPECT_THROW(drelu(*sp.s0, one_bit), Error);
  EXPECT_THROW(mux(*sp.s0, BoolShares(2), one_bit), Error);
}

TEST(Nonlinear, ReluAndDreluMatchPlaintext) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(11));
  for (int ell : {2, 3, 8, 16, 32, 37, 41, 64}) {
    const Ring r(ell);
    const std::size_t n = 3000;
    auto x = edge_and_random(r, gen, n);
    auto [x0, x1] = split(r, x, gen);
    // A few fixed share splits of the edge values: a = 0 and a = the ring extremes.
    x0.v[0] = 0;
    x1.v[0] = x[0];
    x0.v[1] = r.mask >> 1;
    x1.v[1] = (x[1] - x0.v[1]) & r.mask;
    x0.v[2] = r.mask;
    x1.v[2] = (x[2] - r.mask) & r.mask;
    ArithShares y0, y1;
    BoolShares d0, d1;
    run_parties([&] { y0 = relu(*sp.s0, x0, kMillionaireLeafBits, &d0); },
                [&] { y1 = relu(*sp.s1, x1, kMillionaireLeafBits, &d1); });
    const auto y = reconstruct(y0, y1);
    const BoolShares d = bxor(d0, d1);
    for (std::size_t i = 0; i < n; ++i) {
      const bool nonneg = r.centred(x[i]) >= 0;
      ASSERT_EQ(d.get(i), nonneg ? 1 : 0) << "ell=" << ell << " i=" << i << " x=" << x[i];
      ASSERT_EQ(y[i], nonneg ? x[i] : 0) << "ell=" << ell << " i=" << i << " x=" << x[i];
    }
  }
}

TEST(Nonlinear, DreluExhaustiveEll8) {
  // Every x and every share a of x (x_0 = a, x_1 = x − a): 65536 elements in one batch.
  SessionPair sp;
  const Ring r(8);
  ArithShares x0{r, {}}, x1{r, {}};
  for (u64 x = 0; x < 256; ++x)
    for (u64 a = 0; a < 256; ++a) {
      x0.v.push_back(a);
      x1.v.push_back((x - a) & r.mask);
    }
  BoolShares d0, d1;
  run_parties([&] { d0 = drelu(*sp.s0, x0); }, [&] { d1 = drelu(*sp.s1, x1); });
  const BoolShares d = bxor(d0, d1);
  for (std::size_t i = 0; i < x0.v.size(); ++i)
    ASSERT_EQ(d.get(i), r.centred(i / 256) >= 0 ? 1 : 0) << i;
}

TEST(Nonlinear, B2AAndMux) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(12));
  for (int ell : {1, 2, 8, 16, 32, 37, 41, 64}) {
    const Ring r(ell);
    const std::size_t n = 2500;
    BoolShares b0(n), b1(n);
    for (std::size_t i = 0; i < n; ++i) {
      b0.set(i, static_cast<int>(gen.next_u64() & 1));
      b1.set(i, static_cast<int>(gen.next_u64() & 1));
    }
    auto x = edge_and_random(r, gen, n);
    auto [x0, x1] = split(r, x, gen);
    ArithShares a0, a1, m0, m1;
    run_parties([&] { a0 = b2a(*sp.s0, b0, r); m0 = mux(*sp.s0, b0, x0); },
                [&] { a1 = b2a(*sp.s1, b1, r); m1 = mux(*sp.s1, b1, x1); });
    const auto a = reconstruct(a0, a1), m = reconstruct(m0, m1);
    for (std::size_t i = 0; i < n; ++i) {
      const int bit = b0.get(i) ^ b1.get(i);
      ASSERT_EQ(a[i], static_cast<u64>(bit)) << "ell=" << ell << " i=" << i;
      ASSERT_EQ(m[i], bit ? x[i] : 0) << "ell=" << ell << " i=" << i;
    }
  }
}

TEST(Nonlinear, AndBits) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(13));
  const std::size_t n = 1001;
  BoolShares x0(n), x1(n), y0(n), y1(n);
  for (std::size_t i = 0; i < n; ++i) {
    x0.set(i, gen.next_u64() & 1);
    x1.set(i, gen.next_u64() & 1);
    y0.set(i, gen.next_u64() & 1);
    y1.set(i, gen.next_u64() & 1);
  }
  BoolShares z0, z1;
  run_parties([&] { z0 = and_bits(*sp.s0, x0, y0); }, [&] { z1 = and_bits(*sp.s1, x1, y1); });
  const BoolShares z = bxor(z0, z1);
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_EQ(z.get(i), (x0.get(i) ^ x1.get(i)) & (y0.get(i) ^ y1.get(i))) << i;
}

TEST(Nonlinear, ReluCommunicationEll37) {
  // Measured (IKNP, m = 4, n = 4096, both directions summed, base OTs excluded): 1140.8 bytes
  // per element of ReLU at ℓ = 37 (41 / 43 rounds counted by server / client: the OT layer sends
  // one message per kDerivedBatch OTs). Model per element: millionaire on 36 bits = 9 leaves of
  // 1-of-16 OT (9·(4·128 + 16·2) = 4896 bits) + 15 AND gates (2 ROTs = 256 bits of triples + 4
  // bits of openings each: 3900 bits), multiplexer = 2 COT_37 (2·(128 + 37) = 330 bits):
  // 9126 bits ≈ 1141 bytes, plus padding of IKNP batches to 128 OTs and of triples to 64 elements.
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(14));
  const Ring r(37);
  const std::size_t n = 4096;
  auto x = edge_and_random(r, gen, n);
  auto [x0, x1] = split(r, x, gen);
  const auto before0 = sp.ch0->stats(), before1 = sp.ch1->stats();
  ArithShares y0, y1;
  run_parties([&] { y0 = relu(*sp.s0, x0); }, [&] { y1 = relu(*sp.s1, x1); });
  const auto after0 = sp.ch0->stats(), after1 = sp.ch1->stats();
  const double bytes = static_cast<double>((after0.bytes_sent - before0.bytes_sent) +
                                           (after1.bytes_sent - before1.bytes_sent));
  const double per_elem = bytes / static_cast<double>(n);
  std::printf("ReLU l=37 n=%zu: %.1f bytes/element, rounds server %llu client %llu\n", n, per_elem,
              static_cast<unsigned long long>(after0.rounds - before0.rounds),
              static_cast<unsigned long long>(after1.rounds - before1.rounds));
  RecordProperty("relu37_bytes_per_element", static_cast<int>(per_elem));
  const double model = 9126.0 / 8;
  EXPECT_GT(per_elem, 0.95 * model);
  EXPECT_LT(per_elem, 1.10 * model);
  const auto y = reconstruct(y0, y1);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y[i], r.centred(x[i]) >= 0 ? x[i] : 0);
}

TEST(Nonlinear, PeerClosingMidProtocolThrowsTypedError) {
  net::ChannelOptions opts;
  opts.read_timeout = std::chrono::milliseconds(500);
  for (int when : {0, 1}) {
    SessionPair sp(opts);
    const Ring r(37);
    Prg gen = Prg::from_seed(test_seed(15));
    auto x = edge_and_random(r, gen, 1500);
    auto [x0, x1] = split(r, x, gen);
    bool threw = false;
    ErrorCode code = ErrorCode::kInvalidArgument;
    run_parties(
        [&] {
          try {
            relu(*sp.s0, x0);
          } catch (const Error& e) {
            threw = true;
            code = e.code();
          }
        },
        [&] {
          // Client: take part in the first stage (when = 1) or nothing, then close.
          if (when == 1) {
            try {
              and_bits(*sp.s1, BoolShares(10), BoolShares(10));
            } catch (const Error&) {
            }
          }
          sp.s1.reset();
          sp.ch1.reset();
        });
    EXPECT_TRUE(threw) << when;
    EXPECT_TRUE(code == ErrorCode::kPeerClosed || code == ErrorCode::kTimeout) << when;
  }
}
