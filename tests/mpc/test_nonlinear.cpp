// Millionaire, DReLU, ReLU, B2A and multiplexer (src/peregrine/mpc/nonlinear.hpp): both parties as
// threads over an in-memory channel pair, deterministic seeds; outputs reconstructed and compared
// with the cleartext function (TECHNIQUES.md §7.8).
#include "../common/mpc_fixture.hpp"
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "peregrine/mpc/nonlinear.hpp"
#include "peregrine/mpc/session.hpp"

using namespace peregrine;
using namespace peregrine::mpc;
using peregrine::mpc::test_util::bxor;
using peregrine::mpc::test_util::edge_and_random;
using peregrine::mpc::test_util::from_signed;
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

// The paired millionaire: the server's two inputs x, x' against the client's one y, both
// comparisons in each leaf OT; every width, several leaf widths, and counts on and off a word.
TEST(Millionaire, PairEqualsTwoComparisons) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(12));
  for (int ell : {1, 2, 7, 8, 36, 37, 64}) {
    for (int m : {3, 1, 2, 4, 8}) {
      if (m != 3 && ell != 36 && ell != 7) continue;
      for (std::size_t n : {std::size_t{1}, std::size_t{64}, std::size_t{1001}}) {
        const Ring r(ell);
        std::vector<u64> y = edge_and_random(r, gen, n), x(2 * n);
        for (std::size_t i = 0; i < n; ++i) {
          x[i] = i % 3 == 0 ? y[i] : gen.next_u64() & r.mask;                         // equal, or random
          x[n + i] = i % 4 == 1 ? (y[i] + 1) & r.mask : (x[i] - (i % 7)) & r.mask;   // neighbour, or shifted
        }
        BoolShares b0, b1;
        run_parties([&] { b0 = millionaire_gt_pair(*sp.s0, x, ell, m); },
                    [&] { b1 = millionaire_gt_pair(*sp.s1, y, ell, m); });
        ASSERT_EQ(b0.n, 2 * n);
        ASSERT_EQ(b1.n, 2 * n);
        const BoolShares b = bxor(b0, b1);
        for (std::size_t k = 0; k < 2; ++k)
          for (std::size_t i = 0; i < n; ++i)
            ASSERT_EQ(b.get(k * n + i), x[k * n + i] > y[i] ? 1 : 0)
                << "ell=" << ell << " m=" << m << " n=" << n << " k=" << k << " i=" << i;
        if ((2 * n) % 64) {
          EXPECT_EQ(b0.words.back() >> ((2 * n) % 64), 0u);  // unused bits stay zero
        }
      }
    }
  }
  std::vector<u64> odd = {1, 2, 3};
  EXPECT_THROW(millionaire_gt_pair(*sp.s0, odd, 8), Error);  // the server passes 2n values
}

// Prefix comparisons (the digit carries of HEQuant's extraction): every block boundary's
// comparison of the low bits, for block widths that are and are not multiples of the leaf width,
// with equal low blocks (the chain must carry the lower blocks' result through eq) and the 64-bit
// widths where the padding falls back to 1-bit leaves.
TEST(Millionaire, PrefixComparisonsAtEveryBlockBoundary) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(14));
  struct Case { int blocks, block_bits, m; std::size_t n; };
  for (const Case& c : {Case{1, 16, kLeafBitsDefault, 300}, Case{2, 16, kLeafBitsDefault, 1001},
                        Case{3, 13, kLeafBitsDefault, 1001}, Case{4, 11, 2, 300}, Case{3, 21, kLeafBitsDefault, 300},
                        Case{2, 32, kLeafBitsDefault, 300}, Case{5, 1, kLeafBitsDefault, 64}, Case{2, 7, 0, 65}}) {
    const Ring r(c.blocks * c.block_bits);
    std::vector<u64> y = edge_and_random(r, gen, c.n), x(c.n);
    for (std::size_t i = 0; i < c.n; ++i) {
      // equal, equal low blocks with a different top, or random
      const u64 low = c.block_bits * (c.blocks - 1) >= 64 ? r.mask : (u64{1} << (c.block_bits * (c.blocks - 1))) - 1;
      x[i] = i % 5 == 0 ? y[i] : i % 5 == 1 ? ((gen.next_u64() & ~low) | (y[i] & low)) & r.mask : gen.next_u64() & r.mask;
    }
    BoolShares b0, b1;
    run_parties([&] { b0 = millionaire_prefix_gt(*sp.s0, x, c.blocks, c.block_bits, c.m); },
                [&] { b1 = millionaire_prefix_gt(*sp.s1, y, c.blocks, c.block_bits, c.m); });
    ASSERT_EQ(b0.n, static_cast<std::size_t>(c.blocks) * c.n);
    const BoolShares b = bxor(b0, b1);
    for (int k = 0; k < c.blocks; ++k) {
      const u64 mask = Ring((k + 1) * c.block_bits).mask;
      for (std::size_t i = 0; i < c.n; ++i)
        ASSERT_EQ(b.get(static_cast<std::size_t>(k) * c.n + i), (x[i] & mask) > (y[i] & mask) ? 1 : 0)
            << c.blocks << "x" << c.block_bits << " k=" << k << " i=" << i;
    }
  }
  std::vector<u64> big = {u64{1} << 20};
  EXPECT_THROW(millionaire_prefix_gt(*sp.s0, big, 2, 10), Error);  // input above 2^{blocks·block_bits}
  EXPECT_THROW(millionaire_prefix_gt(*sp.s0, big, 3, 22), Error);  // 66 bits
  EXPECT_THROW(millionaire_prefix_gt(*sp.s0, big, 0, 8), Error);
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
  EXPECT_THROW(millionaire_gt(*sp.s0, big, 16, -2), Error);  // m = 0 (auto) and -1 (default) are valid
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

namespace {

/// Shares of values |x| < 2^{ℓ−2} over r: the bounds' neighbourhoods, 0, the extremes, then random.
std::vector<std::int64_t> clip_inputs(const Ring& r, std::int64_t lo, std::int64_t hi, Prg& prg, std::size_t n) {
  const std::int64_t lim = (std::int64_t{1} << (r.bits - 2)) - 1;
  std::vector<std::int64_t> x;
  for (std::int64_t b : {lo, hi})
    for (std::int64_t d = -2; d <= 2; ++d) x.push_back(std::clamp(b + d, -lim, lim));
  for (std::int64_t v : {std::int64_t{0}, lim, -lim}) x.push_back(v);
  while (x.size() < n) x.push_back(static_cast<std::int64_t>(prg.next_u64() % static_cast<u64>(2 * lim + 1)) - lim);
  return x;
}

}  // namespace

TEST(Nonlinear, ClipMatchesPlaintext) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(21));
  struct Case { int ell; std::int64_t lo, hi; };
  const std::int64_t six = std::int64_t{6} << 24;  // ReLU6 at scale 2^24 (deferred truncation)
  for (const Case c : {Case{4, -1, 2}, Case{8, 0, 0}, Case{8, -20, 17}, Case{16, 0, 6 << 6},
                       Case{37, 0, six}, Case{37, -(std::int64_t{5} << 30), std::int64_t{3} << 29},
                       Case{64, -(std::int64_t{1} << 60), std::int64_t{1} << 61}}) {
    const Ring r(c.ell);
    const auto xs = clip_inputs(r, c.lo, c.hi, gen, 2000);
    std::vector<u64> x;
    for (auto v : xs) x.push_back(from_signed(r, v));
    auto [x0, x1] = split(r, x, gen);
    ArithShares y0, y1;
    run_parties([&] { y0 = clip(*sp.s0, x0, c.lo, c.hi); }, [&] { y1 = clip(*sp.s1, x1, c.lo, c.hi); });
    const auto y = reconstruct(y0, y1);
    for (std::size_t i = 0; i < xs.size(); ++i)
      ASSERT_EQ(y[i], from_signed(r, std::clamp(xs[i], c.lo, c.hi)))
          << "ell=" << c.ell << " lo=" << c.lo << " hi=" << c.hi << " x=" << xs[i];
  }
}

TEST(Nonlinear, ClipExhaustiveEll6) {
  // Every x with |x| < 2^{ℓ−2} and every server share a (x_0 = a, x_1 = x − a), bounds −3 and 5.
  SessionPair sp;
  const Ring r(6);
  ArithShares x0{r, {}}, x1{r, {}};
  std::vector<std::int64_t> xs;
  for (std::int64_t x = -15; x <= 15; ++x)
    for (u64 a = 0; a < 64; ++a) {
      xs.push_back(x);
      x0.v.push_back(a);
      x1.v.push_back((from_signed(r, x) - a) & r.mask);
    }
  ArithShares y0, y1;
  run_parties([&] { y0 = clip(*sp.s0, x0, -3, 5); }, [&] { y1 = clip(*sp.s1, x1, -3, 5); });
  const auto y = reconstruct(y0, y1);
  for (std::size_t i = 0; i < xs.size(); ++i)
    ASSERT_EQ(y[i], from_signed(r, std::clamp<std::int64_t>(xs[i], -3, 5))) << "x=" << xs[i] << " a=" << x0.v[i];
}

TEST(Nonlinear, ClipHighbitsIsAtMostOneLsbBelowAfterTheTruncation) {
  // ReLU6 at scale 2^24 with ℓ = 37, every reader truncating by s = 12: the shares are multiples
  // of 2^s and ⌊y/2^s⌋ ∈ {ref, ref − 1}, ref = ⌊clip(x)/2^s⌋; both values of c occur.
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(22));
  const Ring r(37);
  const int s = 12;
  const std::int64_t lo = 0, hi = std::int64_t{6} << 24;
  const auto xs = clip_inputs(r, lo, hi, gen, 4000);
  std::vector<u64> x;
  for (auto v : xs) x.push_back(from_signed(r, v));
  auto [x0, x1] = split(r, x, gen);
  ArithShares y0, y1;
  run_parties([&] { y0 = clip_highbits(*sp.s0, x0, lo, hi, s); }, [&] { y1 = clip_highbits(*sp.s1, x1, lo, hi, s); });
  const auto y = reconstruct(y0, y1);
  int below = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    ASSERT_EQ(y0.v[i] % (u64{1} << s), 0u);
    ASSERT_EQ(y1.v[i] % (u64{1} << s), 0u);
    const std::int64_t got = r.centred(y[i]) >> s, ref = std::clamp(xs[i], lo, hi) >> s;
    ASSERT_TRUE(got == ref || got == ref - 1) << "x=" << xs[i] << " got " << got << " ref " << ref;
    below += got == ref - 1;
  }
  EXPECT_GT(below, 0) << "the carry c never occurred: the test cannot tell the high-bits clip from the exact one";
  EXPECT_LT(below, static_cast<int>(xs.size()));
}

TEST(Nonlinear, ClipRejectsBadBoundsBeforeAnyTraffic) {
  SessionPair sp;
  const Ring r(16);
  ArithShares x{r, {1, 2, 3}};
  const auto before = sp.bytes_sent();
  EXPECT_THROW(clip(*sp.s0, x, 5, 4), Error);
  EXPECT_THROW(clip(*sp.s0, x, 0, std::int64_t{1} << 15), Error);
  EXPECT_THROW(clip_highbits(*sp.s0, x, 0, 6 << 4 | 1, 4), Error);  // hi not a multiple of 2^4
  EXPECT_THROW(clip_highbits(*sp.s0, x, 0, 6 << 4, 15), Error);     // shift > ℓ − 2
  ArithShares bad{r, {1u << 16}};
  EXPECT_THROW(clip(*sp.s0, bad, 0, 6), Error);
  EXPECT_EQ(sp.bytes_sent(), before);
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
