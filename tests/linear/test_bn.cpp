// Unfoldable batch normalisation on shares, Cheetah's direct coefficient path
// (src/peregrine/linear/bn.hpp): both parties as threads over the in-memory channel; the
// reconstructed output must equal γ_c·x + β_c mod 2^ℓ exactly, and the measured bytes must equal
// the cost model (TECHNIQUES.md §1.3: C·⌈H/64⌉·⌈W/64⌉ ciphertexts each way at N = 4096).
#include <gtest/gtest.h>

#include <cmath>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/linear_fixture.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/linear/bn.hpp"

using namespace peregrine;
using namespace peregrine::linear;

namespace {

Seed seed(std::uint8_t tag) {
  Seed s{};
  s[0] = 0xb7;
  s[1] = tag;
  return s;
}

BnMeta bn(std::size_t C, std::size_t H, std::size_t W, int weight_bits = 13) {
  BnMeta m;
  m.C = C;
  m.H = H;
  m.W = W;
  m.weight_bits = weight_bits;
  return m;
}


test::LayerRun run_bn(const BnMeta& m, int ell, std::uint8_t tag, bool with_shift = true) {
  auto P = he::HeParams::cheetah(ell);
  const u64 tmask = P->t() - 1;
  Prg gen = Prg::from_seed(seed(tag));
  const std::size_t n = m.C * m.H * m.W;
  std::vector<u64> x(n), x0(n), x1(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = gen.next_u64() & tmask;
    x1[i] = gen.next_u64() & tmask;
  }
  const u64 edges[] = {0, 1, tmask, tmask >> 1, (tmask >> 1) + 1};
  for (std::size_t i = 0; i < 5 && i < n; ++i) x[i] = edges[i];
  for (std::size_t i = 0; i < n; ++i) x0[i] = (x[i] - x1[i]) & tmask;
  // Scales: the extremes ±2^{wb−1} and 0 first, then random in range.
  const std::int64_t wlim = std::int64_t{1} << (m.weight_bits - 1);
  std::vector<std::int64_t> g(m.C), b;
  for (auto& v : g) v = static_cast<std::int64_t>(gen.uniform_below(2 * static_cast<u64>(wlim) + 1)) - wlim;
  const std::int64_t special[] = {wlim, -wlim, 0, 1, -1};
  for (std::size_t c = 0; c < 5 && c < m.C; ++c) g[c] = special[c];
  if (with_shift) {
    b.resize(m.C);
    for (auto& v : b) v = static_cast<std::int64_t>(gen.next_u64() % (1u << 24)) - (1 << 23);
  }

  CheetahBnStrategy s(P, m);
  const PreparedBn pw = prepare_bn(s, g, b);
  Prg p0 = Prg::from_seed(seed(100 + tag)), p1 = Prg::from_seed(seed(200 + tag));
  test::LayerRun r = test::run_layer(
      P, p1, [&](net::Channel& ch, const HeServer& he) { return bn_server(ch, he, s, x0, pw, p0); },
      [&](net::Channel& ch, const HeClient& he) { return bn_client(ch, he, s, x1, p1); });
  r.want.resize(n);
  const std::size_t hw = m.H * m.W;
  for (std::size_t c = 0; c < m.C; ++c)
    for (std::size_t k = 0; k < hw; ++k)
      r.want[c * hw + k] = (x[c * hw + k] * static_cast<u64>(g[c]) + (b.empty() ? 0 : static_cast<u64>(b[c]))) & tmask;
  r.model = s.cost();
  return r;
}

void expect_exact(const BnMeta& m, int ell, std::uint8_t tag, const std::string& what, bool with_shift = true) {
  test::expect_exact_run(run_bn(m, ell, tag, with_shift), what);
}

}  // namespace

TEST(CheetahBn, ShapesExact) {
  expect_exact(bn(64, 56, 56), 37, 1, "64x56x56");
  expect_exact(bn(3, 5, 7), 37, 2, "3x5x7");
  expect_exact(bn(1, 1, 1), 37, 3, "1x1x1");
  expect_exact(bn(16, 70, 70), 37, 4, "16x70x70 (2x2 blocks of 64)");
  expect_exact(bn(2, 1, 200), 37, 5, "row vector wider than 64");
  expect_exact(bn(5, 9, 9), 37, 6, "no shift", false);
}

TEST(CheetahBn, OtherRingWidthsAndWeightBits) {
  expect_exact(bn(4, 10, 12, 6), 20, 7, "ell 20, 6-bit scales");
  expect_exact(bn(4, 10, 12, 20), 41, 8, "ell 41, 20-bit scales");
}

TEST(CheetahBn, PlanLayout) {
  auto P = he::HeParams::cheetah(37);
  const std::size_t N = P->n();
  struct Case {
    BnMeta m;
    std::size_t n_in, hs, ws;
  };
  // Whole-row blocks: ws = min(W, N), hs = min(H, ⌊N/ws⌋); a flattened [C, 1, H·W] plane is one
  // block per N values (the engine's Affine nodes), a 70×70 plane two blocks of 58 and 12 rows.
  for (const Case& k : {Case{bn(64, 56, 56), 64, 56, 56}, Case{bn(16, 70, 70), 32, 58, 70}, Case{bn(3, 5, 7), 3, 5, 7},
                        Case{bn(1, 1, 1), 1, 1, 1}, Case{bn(2, 130, 3), 2, 130, 3}, Case{bn(4, 1, 3136), 4, 1, 3136},
                        Case{bn(2, 1, 12544), 8, 1, 4096}}) {
    CheetahBnStrategy s(P, k.m);
    const auto& plan = s.plan();
    const std::string what = std::to_string(k.m.C) + "x" + std::to_string(k.m.H) + "x" + std::to_string(k.m.W);
    EXPECT_EQ(plan.n_in, k.n_in) << what;
    EXPECT_EQ(plan.n_out(), k.n_in) << what;
    EXPECT_EQ(plan.n_kernels, k.m.C) << what;
    EXPECT_EQ(plan.products_count(), k.n_in) << what;
    const double wmax = static_cast<double>(std::int64_t{1} << (k.m.weight_bits - 1));
    EXPECT_NEAR(plan.noise_bound, 7.4 * std::sqrt(10.5) * wmax + (wmax + 1) / 2, 1e-9 * plan.noise_bound);
    std::vector<int> seen(plan.out_size, 0);
    for (std::size_t o = 0; o < plan.n_out(); ++o) {
      ASSERT_EQ(plan.products[o].size(), 1u);
      ASSERT_TRUE(std::is_sorted(plan.valid[o].begin(), plan.valid[o].end())) << what;
      for (std::size_t q = 0; q < plan.valid[o].size(); ++q) {
        const std::size_t v = plan.valid[o][q];
        EXPECT_LT(v, N);
        EXPECT_LT(v % k.ws, k.ws);
        EXPECT_LT(v / k.ws, k.hs) << what;
        // In-block coordinate (i, j) = (v / ws, v % ws) must map to the same in-block position of
        // the output pixel.
        const std::size_t idx = plan.out_index[o][q], hw = k.m.H * k.m.W;
        const std::size_t c = idx / hw, row = (idx % hw) / k.m.W, col = idx % k.m.W;
        EXPECT_EQ(plan.products[o][0].kernel, c) << what;
        EXPECT_EQ(row % k.hs, v / k.ws) << what;
        EXPECT_EQ(col % k.ws, v % k.ws) << what;
      }
      for (auto idx : plan.out_index[o]) seen.at(idx)++;
    }
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << what << " output " << i;
    // Encoders: input block at i·ws + j, the kernel is the constant γ_c.
    std::vector<u64> x(k.m.C * k.m.H * k.m.W);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = i + 1;
    const auto in = s.encode_input(x);
    for (std::size_t o = 0; o < plan.n_out(); ++o)
      for (std::size_t q = 0; q < plan.valid[o].size(); ++q)
        EXPECT_EQ(in[plan.products[o][0].in][plan.valid[o][q]], plan.out_index[o][q] + 1u) << what;
    std::vector<std::int64_t> g(k.m.C);
    for (std::size_t c = 0; c < g.size(); ++c) g[c] = static_cast<std::int64_t>(c) - 1;
    const auto ker = s.encode_kernels(g);
    for (std::size_t c = 0; c < g.size(); ++c) {
      EXPECT_EQ(ker[c][0], g[c]);
      EXPECT_EQ(std::count(ker[c].begin() + 1, ker[c].end(), 0), static_cast<std::ptrdiff_t>(N - 1));
    }
  }
}

TEST(CheetahBn, CostOf64x56x56) {
  auto P = he::HeParams::cheetah(37);
  CheetahBnStrategy s(P, bn(64, 56, 56));
  const LayerCost c = s.cost();
  EXPECT_EQ(c.products, 64u);
  std::printf("[ BN 64x56x56 ] n_in %zu n_out %zu c->s %zu B s->c %zu B products %zu (d0 %d d1 %d flood %d)\n",
              s.plan().n_in, s.plan().n_out(), c.bytes_client_to_server, c.bytes_server_to_client, c.products,
              s.response().d0, s.response().d1, s.response().flood_bits);
}

TEST(CheetahBn, InvalidArgumentsThrow) {
  auto P = he::HeParams::cheetah(37);
  auto code = [&](const BnMeta& m) {
    try {
      CheetahBnStrategy s(P, m);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kProtocol;
  };
  EXPECT_EQ(code(bn(0, 4, 4)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(bn(4, 0, 4)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(bn(4, 4, 0)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(bn(4, 4, 4, 0)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(bn(4, 4, 4, 33)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(bn(SIZE_MAX, 2, 2)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(bn(std::size_t{1} << 15, std::size_t{1} << 15, 8)), ErrorCode::kInvalidArgument);  // C·H·W ≥ 2^32
  EXPECT_EQ(code(bn(std::size_t{1} << 31, std::size_t{1} << 31, 1)), ErrorCode::kInvalidArgument);  // C·H ≥ 2^32
  // 22·2^31 + 1 cannot be flooded at N = 4096, ℓ = 37.
  EXPECT_EQ(code(bn(4, 4, 4, 32)), ErrorCode::kUnsupported);
  EXPECT_EQ(code(bn(4, 4, 4, 24)), ErrorCode::kProtocol);  // constructs

  CheetahBnStrategy s(P, bn(3, 4, 4));
  EXPECT_NO_THROW(prepare_bn(s, std::vector<std::int64_t>{4096, -4096, 0}, {}));
  EXPECT_THROW(prepare_bn(s, std::vector<std::int64_t>{4097, 0, 0}, {}), Error);    // scale range
  EXPECT_THROW(prepare_bn(s, std::vector<std::int64_t>{1, 1}, {}), Error);          // scale count
  EXPECT_THROW(prepare_bn(s, std::vector<std::int64_t>{1, 1, 1}, std::vector<std::int64_t>{1}), Error);  // shift count
  try {
    s.encode_input(std::vector<u64>(47));
    ADD_FAILURE() << "encode_input accepted a short share";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}
