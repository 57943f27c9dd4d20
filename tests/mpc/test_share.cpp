#include <gtest/gtest.h>

#include <array>
#include <thread>

#include "peregrine/mpc/share.hpp"

using namespace peregrine;
using namespace peregrine::mpc;

namespace {
Prg test_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  s[9] = 0x5C;
  return Prg::from_seed(s);
}
std::vector<u64> edge_and_random(const Ring& r, Prg& prg, std::size_t n) {
  std::vector<u64> x = {0, 1, r.mask, r.mask >> 1, (r.mask >> 1) + 1};  // 0, 1, −1, max, min
  while (x.size() < n) x.push_back(prg.next_u64() & r.mask);
  for (auto& v : x) v &= r.mask;
  return x;
}
}  // namespace

TEST(Shares, SplitReconstructAndLocalOps) {
  Prg prg = test_prg(1);
  for (int ell : {1, 8, 16, 32, 37, 41, 64}) {
    Ring r(ell);
    auto x = edge_and_random(r, prg, 1000), y = edge_and_random(r, prg, 1000);
    auto [x0, x1] = split(r, x, prg);
    auto [y0, y1] = split(r, y, prg);
    EXPECT_EQ(reconstruct(x0, x1), x);
    auto s = reconstruct(add(x0, y0), add(x1, y1));
    auto d = reconstruct(sub(x0, y0), sub(x1, y1));
    auto m = reconstruct(mul_public(x0, 12345), mul_public(x1, 12345));
    auto c = reconstruct(add_public(x0, 7, Party::kServer), add_public(x1, 7, Party::kClient));
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(s[i], (x[i] + y[i]) & r.mask);
      ASSERT_EQ(d[i], (x[i] - y[i]) & r.mask);
      ASSERT_EQ(m[i], (x[i] * 12345) & r.mask);
      ASSERT_EQ(c[i], (x[i] + 7) & r.mask);
    }
    // Signed view: −1 is the all-ones word, the minimum is −2^{ℓ−1}.
    if (ell > 1) {
      EXPECT_EQ(r.centred(r.mask), -1);
      EXPECT_EQ(r.centred((r.mask >> 1) + 1), ell == 64 ? INT64_MIN : -(std::int64_t{1} << (ell - 1)));
      EXPECT_EQ(r.msb(r.mask), 1);
      EXPECT_EQ(r.msb(r.mask >> 1), 0);
    }
  }
  EXPECT_THROW(Ring(0), Error);
  EXPECT_THROW(Ring(65), Error);
  EXPECT_THROW(add(ArithShares{Ring(8), {1}}, ArithShares{Ring(9), {1}}), Error);
}

TEST(Shares, EachShareAloneIsUniform) {
  // Chi-square over 16 buckets of the top 4 bits of one share of a constant secret.
  Prg prg = test_prg(2);
  Ring r(37);
  std::vector<u64> x(64000, 12345);
  auto [x0, x1] = split(r, x, prg);
  std::array<int, 16> cnt{};
  for (u64 v : x0.v) ++cnt[v >> 33];
  double chi = 0;
  for (int c : cnt) chi += (c - 4000.0) * (c - 4000.0) / 4000.0;
  EXPECT_LT(chi, 50.0);  // 15 dof, p ≈ 1e-5
}

TEST(Shares, RevealOverAChannel) {
  Prg prg = test_prg(3);
  for (int ell : {1, 37, 64}) {
    Ring r(ell);
    auto x = edge_and_random(r, prg, 777);
    auto [x0, x1] = split(r, x, prg);
    auto [a, b] = net::make_memory_pair();
    std::vector<u64> got0, got1, got_client;
    std::thread t([&] { got1 = reveal_both(*b, x1); });
    got0 = reveal_both(*a, x0);
    t.join();
    EXPECT_EQ(got0, x);
    EXPECT_EQ(got1, x);
    // Reveal to one party only: 1 message, bit-packed.
    const auto before = a->stats().bytes_sent;
    std::thread t2([&] { got_client = reveal_receive(*b, x1); });
    reveal_send(*a, x0);
    t2.join();
    EXPECT_EQ(got_client, x);
    EXPECT_EQ(a->stats().bytes_sent - before, (777u * ell + 7) / 8);
  }
}

TEST(Shares, RevealFromAVanishedPeerThrows) {
  Ring r(16);
  ArithShares mine{r, std::vector<u64>(10, 1)};
  auto [a, b] = net::make_memory_pair();
  b.reset();
  EXPECT_THROW(reveal_receive(*a, mine), Error);
}
