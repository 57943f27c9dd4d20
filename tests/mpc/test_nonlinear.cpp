// Millionaire, DReLU, ReLU, B2A and multiplexer (src/peregrine/mpc/nonlinear.hpp): both parties as
// threads over an in-memory channel pair, deterministic seeds; outputs reconstructed and compared
// with the cleartext function (TECHNIQUES.md §7.8).
#include "../common/mpc_fixture.hpp"
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <utility>

#include "peregrine/mpc/nonlinear.hpp"
#include "peregrine/mpc/session.hpp"

using namespace peregrine;
using namespace peregrine::mpc;
using peregrine::mpc::test_util::bxor;
using peregrine::mpc::test_util::edge_and_random;
using peregrine::mpc::test_util::run_parties;
using peregrine::mpc::test_util::SessionPair;
using peregrine::mpc::test_util::test_seed;

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
  EXPECT_THROW(millionaire_gt(*sp.s0, big, 16, -1), Error);  // m = 0 is valid (auto leaf width)
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
  // Bytes per element of ReLU at ℓ = 37 (n = 4096, both directions summed, set-up excluded), on
  // the back-end of the run, against the cost models of nonlinear.hpp (millionaire on 36 bits;
  // digit 0 sends gt only; tree pairs share eq_hi: one ROT per direction per pair and 2·(3p − 1)
  // opened bits per level of p pairs):
  //   IKNP + KK13, m = 4: 9 leaves (9·256 + 8·16·2 + 16 = 2576 bits) + 8 tree pairs (8·256 =
  //   2048 bits of triples, 22 + 10 + 4 + 4 = 40 bits of openings) + multiplexer = 2 COT_37
  //   (2·(128 + 37) = 330 bits): 4994 bits ≈ 624 bytes (CrypTFlow2's ReLU: 971 MiB for 2^20,
  //   ≈ 971 bytes), plus padding of IKNP batches to 128 OTs and of triples to 64 elements.
  //   m = 0 (byte-minimal, m = 6): 6·256 + 5·128 + 64 = 2240 + 5·256 + 24 + 330 = 3874 bits.
  //   Silent (Ferret), default m = 3: 12 leaves of 3 chosen-bit COTs + 11·16 + 8 bits (220 bits) +
  //   11 tree pairs (34 + 16 + 4 + 4 = 58 bits of openings) + 2·(1 + 37) bits of multiplexer (76)
  //   = 354 bits, plus Ferret's generation traffic (~0.39 bit for each of the 60 COTs, ferret_b12):
  //   ≈ 377 bits ≈ 47 bytes. m = 0 is m = 2 there: 18 leaves (176) + 17 pairs (92 bits) + 76, 72
  //   COTs: ≈ 372 bits.
  SessionPair sp;
  const bool silent = sp.s0->ot_backend() == OtBackend::kSilent;
  Prg gen = Prg::from_seed(test_seed(14));
  const Ring r(37);
  const std::size_t n = 4096;
  auto x = edge_and_random(r, gen, n);
  auto [x0, x1] = split(r, x, gen);
  ArithShares y0, y1;
  // Warm-up: the first main Ferret iteration sends its trees (481 KB per direction), which a short run
  // would otherwise carry.
  run_parties([&] { y0 = relu(*sp.s0, x0); }, [&] { y1 = relu(*sp.s1, x1); });
  const auto before0 = sp.ch0->stats(), before1 = sp.ch1->stats();
  run_parties([&] { y0 = relu(*sp.s0, x0); }, [&] { y1 = relu(*sp.s1, x1); });
  const auto after0 = sp.ch0->stats(), after1 = sp.ch1->stats();
  const double bytes = static_cast<double>((after0.bytes_sent - before0.bytes_sent) +
                                           (after1.bytes_sent - before1.bytes_sent));
  const double per_elem = bytes / static_cast<double>(n);
  std::printf("ReLU l=37 n=%zu (%s): %.1f bytes/element, rounds server %llu client %llu\n", n,
              ot_backend_name(sp.s0->ot_backend()), per_elem,
              static_cast<unsigned long long>(after0.rounds - before0.rounds),
              static_cast<unsigned long long>(after1.rounds - before1.rounds));
  RecordProperty("relu37_bytes_per_element", static_cast<int>(per_elem));
  const double model = (silent ? 377.0 : 4994.0) / 8;
  EXPECT_GT(per_elem, 0.95 * model);
  EXPECT_LT(per_elem, 1.10 * model);
  const auto y = reconstruct(y0, y1);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y[i], r.centred(x[i]) >= 0 ? x[i] : 0);

  // The byte-minimal leaf width (m = 0 → millionaire_leaf_bits(36, back-end)).
  EXPECT_EQ(millionaire_leaf_bits(36), 6);
  EXPECT_EQ(millionaire_leaf_bits(36, OtBackend::kSilent), 2);
  const auto mid0 = sp.ch0->stats(), mid1 = sp.ch1->stats();
  run_parties([&] { y0 = relu(*sp.s0, x0, 0); }, [&] { y1 = relu(*sp.s1, x1, 0); });
  const auto end0 = sp.ch0->stats(), end1 = sp.ch1->stats();
  const double min_bytes = static_cast<double>((end0.bytes_sent - mid0.bytes_sent) +
                                               (end1.bytes_sent - mid1.bytes_sent)) / static_cast<double>(n);
  const double min_model = (silent ? 372.0 : 3874.0) / 8;
  EXPECT_GT(min_bytes, 0.95 * min_model);
  EXPECT_LT(min_bytes, 1.10 * min_model);
  const auto y6 = reconstruct(y0, y1);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y6[i], y[i]);
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
