// Max-pool and argmax by comparison trees (src/peregrine/mpc/pool.hpp): group maxima for several
// group sizes and ring widths over the documented input range [−2^{ℓ−2}, 2^{ℓ−2}), argmax with ties
// (first index wins), 2-D max-pool against a cleartext pool, and the argument checks. Both parties
// as threads over an in-memory channel, deterministic seeds.
#include "../common/mpc_fixture.hpp"
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "peregrine/mpc/pool.hpp"

using namespace peregrine;
using namespace peregrine::mpc;
using peregrine::mpc::test_util::Dataset;
using peregrine::mpc::test_util::error_name_of;
using peregrine::mpc::test_util::from_signed;
using peregrine::mpc::test_util::on_both;
using peregrine::mpc::test_util::SessionPair;
using peregrine::mpc::test_util::short_timeout;
using peregrine::mpc::test_util::special_first_shares;
using peregrine::mpc::test_util::test_seed;

namespace {

/// A signed value uniform in [−2^{ℓ−2}, 2^{ℓ−2}).
std::int64_t in_range(const Ring& r, Prg& gen) {
  const u64 half = u64{1} << (r.bits - 2);  // unsigned: 2·half = 2^62 fits at ℓ = 64
  return static_cast<std::int64_t>(gen.uniform_below(2 * half) - half);
}

/// n groups of k signed values in [−2^{ℓ−2}, 2^{ℓ−2}): the range ends, ties (all equal, equal
/// maxima at the first and last positions), the maximum at each position, small values (many
/// ties), then uniform groups. The first shares cycle through the carry-stressing values.
std::vector<std::int64_t> group_values(const Ring& r, std::size_t k, std::size_t n_groups, Prg& gen) {
  const std::int64_t lo = -(std::int64_t{1} << (r.bits - 2)), hi = (std::int64_t{1} << (r.bits - 2)) - 1;
  std::vector<std::int64_t> v;
  auto group = [&](auto&& value_at) {
    for (std::size_t j = 0; j < k; ++j) v.push_back(value_at(j));
  };
  group([&](std::size_t) { return lo; });
  group([&](std::size_t) { return hi; });
  group([&](std::size_t) { return std::int64_t{0}; });
  group([&](std::size_t j) { return j % 2 ? hi : lo; });
  group([&](std::size_t j) { return j % 2 ? lo : hi; });
  group([&](std::size_t j) { return j + 1 == k ? hi : lo; });
  group([&](std::size_t j) { return j == 0 ? lo : hi; });
  group([&](std::size_t j) { return j == 0 ? std::int64_t{-1} : std::int64_t{-2}; });
  group([&](std::size_t j) { return j == 0 ? std::int64_t{0} : std::int64_t{-1}; });
  group([&](std::size_t j) { return j + 1 == k ? std::int64_t{1} : std::int64_t{0}; });
  for (std::size_t pos = 0; pos < k; ++pos)  // the maximum at each position, the rest random
    group([&](std::size_t j) { return j == pos ? hi : in_range(r, gen) % hi; });
  for (std::size_t pos = 0; pos < k; ++pos)  // a tie at the maximum between pos and the last
    group([&](std::size_t j) { return (j == pos || j + 1 == k) ? std::int64_t{5} : std::int64_t{-3}; });
  for (int t = 0; t < 20; ++t)  // small values: many ties
    group([&](std::size_t) { return static_cast<std::int64_t>(gen.uniform_below(3)) - 1; });
  while (v.size() < n_groups * k) group([&](std::size_t) { return in_range(r, gen); });
  return v;
}

Dataset share_values(const Ring& r, const std::vector<std::int64_t>& vals, Prg& gen) {
  Dataset d(r);
  const auto firsts = special_first_shares(r);
  for (std::size_t i = 0; i < vals.size(); ++i) {
    if (i < 400) d.add(from_signed(r, vals[i]), firsts[i % firsts.size()]);
    else d.add_random(from_signed(r, vals[i]), gen);
  }
  return d;
}

/// First index of the maximum of group g.
std::size_t argmax_ref(const std::vector<std::int64_t>& v, std::size_t g, std::size_t k) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < k; ++j)
    if (v[g * k + j] > v[g * k + best]) best = j;
  return best;
}

}  // namespace

TEST(MaxGroups, GroupSizesAndWidths) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(90));
  for (int ell : {8, 16, 37, 64}) {
    const Ring r(ell);
    for (std::size_t k : {1, 2, 3, 4, 5, 9}) {
      const std::size_t groups = ell == 64 ? 60 : 150;
      const auto vals = group_values(r, k, groups, gen);
      const Dataset d = share_values(r, vals, gen);
      const std::size_t n = vals.size() / k;
      auto y = on_both(sp, [&](MpcSession& s, int p) { return max_groups(s, d.sh[p], k); });
      ASSERT_EQ(y.first.ring, r);
      ASSERT_EQ(y.first.v.size(), n) << "ell=" << ell << " k=" << k;
      ASSERT_EQ(y.second.v.size(), n) << "ell=" << ell << " k=" << k;
      const auto got = reconstruct(y.first, y.second);
      for (std::size_t g = 0; g < n; ++g) {
        const std::int64_t want = *std::max_element(vals.begin() + g * k, vals.begin() + (g + 1) * k);
        ASSERT_EQ(r.centred(got[g]), want) << "ell=" << ell << " k=" << k << " group " << g;
      }
    }
  }
}

TEST(ArgmaxGroups, ValueAndFirstIndex) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(91));
  for (int ell : {8, 37, 64}) {
    const Ring r(ell);
    for (std::size_t k : {1, 2, 3, 4, 5, 9}) {
      const std::size_t groups = ell == 64 ? 60 : 150;
      const auto vals = group_values(r, k, groups, gen);
      const Dataset d = share_values(r, vals, gen);
      const std::size_t n = vals.size() / k;
      auto y = on_both(sp, [&](MpcSession& s, int p) { return argmax_groups(s, d.sh[p], k); });
      ASSERT_EQ(y.first.value.ring, r);
      ASSERT_EQ(y.first.index.ring, r);
      ASSERT_EQ(y.first.value.v.size(), n);
      ASSERT_EQ(y.second.value.v.size(), n);
      ASSERT_EQ(y.first.index.v.size(), n);
      ASSERT_EQ(y.second.index.v.size(), n);
      const auto val = reconstruct(y.first.value, y.second.value);
      const auto idx = reconstruct(y.first.index, y.second.index);
      for (std::size_t g = 0; g < n; ++g) {
        const std::size_t want = argmax_ref(vals, g, k);
        std::string group;
        for (std::size_t j = 0; j < k; ++j) group += std::to_string(vals[g * k + j]) + " ";
        ASSERT_EQ(r.centred(val[g]), vals[g * k + want]) << "ell=" << ell << " k=" << k << " group " << g << ": " << group;
        ASSERT_EQ(idx[g], want) << "ell=" << ell << " k=" << k << " group " << g << ": " << group;
      }
    }
  }
}

TEST(ArgmaxGroups, LargestGroupForSmallRing) {
  // ℓ = 5: inputs in [−8, 8), k = 15 < 2^{ℓ−1} = 16 (the largest valid group).
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(92));
  const Ring r(5);
  const std::size_t k = 15;
  const auto vals = group_values(r, k, 80, gen);
  const Dataset d = share_values(r, vals, gen);
  const std::size_t n = vals.size() / k;
  auto y = on_both(sp, [&](MpcSession& s, int p) { return argmax_groups(s, d.sh[p], k); });
  const auto val = reconstruct(y.first.value, y.second.value);
  const auto idx = reconstruct(y.first.index, y.second.index);
  ASSERT_EQ(val.size(), n);
  ASSERT_EQ(idx.size(), n);
  for (std::size_t g = 0; g < n; ++g) {
    const std::size_t want = argmax_ref(vals, g, k);
    ASSERT_EQ(r.centred(val[g]), vals[g * k + want]) << "group " << g;
    ASSERT_EQ(idx[g], want) << "group " << g;
  }
}

TEST(MaxPool2d, MatchesPlaintextPool) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(93));
  struct Pool {
    std::size_t C, H, W, kh, kw, sh, sw;
  };
  for (int ell : {16, 37}) {
    const Ring r(ell);
    for (const Pool& pl : {Pool{2, 6, 6, 2, 2, 2, 2}, Pool{2, 6, 6, 3, 3, 1, 1}, Pool{2, 6, 6, 2, 3, 1, 3},
                           Pool{1, 5, 7, 5, 7, 1, 1}, Pool{3, 4, 4, 1, 1, 1, 1}, Pool{2, 7, 7, 2, 2, 2, 2}}) {
      std::vector<std::int64_t> x(pl.C * pl.H * pl.W);
      for (auto& v : x) v = in_range(r, gen);
      x[0] = -(std::int64_t{1} << (ell - 2));
      x[1] = (std::int64_t{1} << (ell - 2)) - 1;
      const Dataset d = share_values(r, x, gen);
      const std::size_t Ho = (pl.H - pl.kh) / pl.sh + 1, Wo = (pl.W - pl.kw) / pl.sw + 1;
      auto y = on_both(sp, [&](MpcSession& s, int p) {
        return maxpool2d(s, d.sh[p], pl.C, pl.H, pl.W, pl.kh, pl.kw, pl.sh, pl.sw);
      });
      ASSERT_EQ(y.first.ring, r);
      ASSERT_EQ(y.first.v.size(), pl.C * Ho * Wo);
      ASSERT_EQ(y.second.v.size(), pl.C * Ho * Wo);
      const auto got = reconstruct(y.first, y.second);
      for (std::size_t c = 0; c < pl.C; ++c)
        for (std::size_t i = 0; i < Ho; ++i)
          for (std::size_t j = 0; j < Wo; ++j) {
            std::int64_t m = INT64_MIN;
            for (std::size_t a = 0; a < pl.kh; ++a)
              for (std::size_t b = 0; b < pl.kw; ++b)
                m = std::max(m, x[(c * pl.H + i * pl.sh + a) * pl.W + j * pl.sw + b]);
            ASSERT_EQ(r.centred(got[(c * Ho + i) * Wo + j]), m)
                << "ell=" << ell << " C=" << pl.C << " H=" << pl.H << " W=" << pl.W << " k=" << pl.kh << "x" << pl.kw
                << " s=" << pl.sh << "," << pl.sw << " at " << c << "," << i << "," << j;
          }
    }
  }
}

TEST(Pool, EmptyInputs) {
  SessionPair sp;
  const Ring r(16);
  auto y = on_both(sp, [&](MpcSession& s, int) { return max_groups(s, ArithShares{r, {}}, 3); });
  EXPECT_TRUE(y.first.v.empty());
  EXPECT_TRUE(y.second.v.empty());
  auto a = on_both(sp, [&](MpcSession& s, int) { return argmax_groups(s, ArithShares{r, {}}, 4); });
  EXPECT_TRUE(a.first.value.v.empty());
  EXPECT_TRUE(a.second.index.v.empty());
}

TEST(Pool, InvalidArgumentsRejectedBeforeTraffic) {
  SessionPair sp(short_timeout());
  const std::uint64_t before = sp.bytes_sent();
  MpcSession& s = *sp.s0;
  const std::string inv = "invalid_argument";
  const ArithShares x6{Ring(16), {1, 2, 3, 4, 5, 6}};
  EXPECT_EQ(error_name_of([&] { max_groups(s, x6, 0); }), inv);
  EXPECT_EQ(error_name_of([&] { max_groups(s, x6, 4); }), inv);
  EXPECT_EQ(error_name_of([&] { argmax_groups(s, x6, 0); }), inv);
  EXPECT_EQ(error_name_of([&] { argmax_groups(s, x6, 5); }), inv);
  // k ≥ 2^{ℓ−1}: ℓ = 4 allows k ≤ 7.
  EXPECT_EQ(error_name_of([&] { argmax_groups(s, ArithShares{Ring(4), std::vector<u64>(8, 1)}, 8); }), inv);
  EXPECT_EQ(error_name_of([&] { argmax_groups(s, ArithShares{Ring(4), std::vector<u64>(16, 1)}, 16); }), inv);
  // maxpool2d: zero / oversized window, zero stride, size mismatch (C·H·W = 2·3·3 = 18).
  const ArithShares p18{Ring(16), std::vector<u64>(18, 7)};
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 2, 3, 3, 0, 2, 1, 1); }), inv);
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 2, 3, 3, 2, 0, 1, 1); }), inv);
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 2, 3, 3, 4, 2, 1, 1); }), inv);
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 2, 3, 3, 2, 4, 1, 1); }), inv);
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 2, 3, 3, 2, 2, 0, 1); }), inv);
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 2, 3, 3, 2, 2, 1, 0); }), inv);
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 2, 3, 4, 2, 2, 1, 1); }), inv);
  EXPECT_EQ(error_name_of([&] { maxpool2d(s, p18, 3, 3, 3, 2, 2, 1, 1); }), inv);
  EXPECT_EQ(sp.bytes_sent(), before) << "an invalid call sent something";
}
