// Products on shares (src/peregrine/mpc/arith.hpp): elementwise multiplication, square, the x²+x
// activation with exact truncation, and matrix products with server-held low-bit weights. Both
// parties as threads over an in-memory channel, deterministic seeds, outputs reconstructed and
// compared with the cleartext result mod 2^ℓ.
#include "../common/mpc_fixture.hpp"
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "peregrine/mpc/arith.hpp"

using namespace peregrine;
using namespace peregrine::mpc;
using peregrine::mpc::test_util::Dataset;
using peregrine::mpc::test_util::edge_and_random;
using peregrine::mpc::test_util::error_name_of;
using peregrine::mpc::test_util::from_signed;
using peregrine::mpc::test_util::on_both;
using peregrine::mpc::test_util::SessionPair;
using peregrine::mpc::test_util::share;
using peregrine::mpc::test_util::short_timeout;
using peregrine::mpc::test_util::special_first_shares;
using peregrine::mpc::test_util::test_seed;

namespace {

const int kWidths[] = {8, 16, 32, 37, 41, 64};

/// Pairs (x, y): every pair of the edge values, then uniform pairs; x and y each split with the
/// carry-stressing server shares in turn, the rest uniformly.
struct PairData {
  Dataset x, y;
  explicit PairData(const Ring& r) : x(r), y(r) {}
};

PairData pair_data(const Ring& r, std::size_t n_random, Prg& gen) {
  PairData pd(r);
  const auto edges = edge_and_random(r, gen, 9);  // the 9 edge values
  const auto firsts = special_first_shares(r);
  std::size_t k = 0;
  for (u64 a : edges)
    for (u64 b : edges) {
      pd.x.add(a, firsts[k % firsts.size()]);
      pd.y.add(b, firsts[(k / firsts.size()) % firsts.size()]);
      ++k;
    }
  for (std::size_t i = 0; i < n_random; ++i) {
    pd.x.add_random(gen.next_u64(), gen);
    pd.y.add_random(gen.next_u64(), gen);
  }
  return pd;
}

void check_ring_and_size(const std::pair<ArithShares, ArithShares>& z, const Ring& r, std::size_t n,
                         const std::string& what) {
  ASSERT_EQ(z.first.ring, r) << what;
  ASSERT_EQ(z.second.ring, r) << what;
  ASSERT_EQ(z.first.v.size(), n) << what;
  ASSERT_EQ(z.second.v.size(), n) << what;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_LE(z.first.v[i], r.mask) << what << " i=" << i;
    ASSERT_LE(z.second.v[i], r.mask) << what << " i=" << i;
  }
}

}  // namespace

// ---- mul / square -----------------------------------------------------------------------------

TEST(Mul, ElementwiseAllWidths) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(80));
  for (int ell : kWidths) {
    const Ring r(ell);
    const PairData pd = pair_data(r, ell == 64 ? 400 : 1000, gen);
    auto z = on_both(sp, [&](MpcSession& s, int p) { return mul(s, pd.x.sh[p], pd.y.sh[p]); });
    check_ring_and_size(z, r, pd.x.size(), "mul ell=" + std::to_string(ell));
    if (HasFatalFailure()) return;
    const auto got = reconstruct(z.first, z.second);
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], (pd.x.x[i] * pd.y.x[i]) & r.mask)
          << "ell=" << ell << " i=" << i << " x=" << pd.x.x[i] << " y=" << pd.y.x[i]
          << " x0=" << pd.x.sh[0].v[i] << " y0=" << pd.y.sh[0].v[i];
  }
}

TEST(Mul, ConsecutiveCallsAndEmpty) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(81));
  const Ring r(37);
  auto e = on_both(sp, [&](MpcSession& s, int) { return mul(s, ArithShares{r, {}}, ArithShares{r, {}}); });
  EXPECT_TRUE(e.first.v.empty());
  EXPECT_TRUE(e.second.v.empty());
  for (std::size_t n : {1, 63, 64, 65, 300}) {
    auto x = edge_and_random(r, gen, n), y = edge_and_random(r, gen, n);
    auto xs = share(r, x, gen), ys = share(r, y, gen);
    auto z = on_both(sp, [&](MpcSession& s, int p) { return mul(s, xs[p], ys[p]); });
    const auto got = reconstruct(z.first, z.second);
    ASSERT_EQ(got.size(), n);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], (x[i] * y[i]) & r.mask) << "n=" << n << " i=" << i;
  }
}

TEST(Square, AllWidths) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(82));
  for (int ell : kWidths) {
    const Ring r(ell);
    Dataset d(r);
    for (u64 x : edge_and_random(r, gen, 20))
      for (u64 a : special_first_shares(r)) d.add(x, a);
    for (int i = 0; i < (ell == 64 ? 400 : 1000); ++i) d.add_random(gen.next_u64(), gen);
    auto z = on_both(sp, [&](MpcSession& s, int p) { return square(s, d.sh[p]); });
    check_ring_and_size(z, r, d.size(), "square ell=" + std::to_string(ell));
    if (HasFatalFailure()) return;
    const auto got = reconstruct(z.first, z.second);
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], (d.x[i] * d.x[i]) & r.mask)
          << "ell=" << ell << " i=" << i << " x=" << d.x[i] << " x0=" << d.sh[0].v[i];
  }
}

// ---- x² + x --------------------------------------------------------------------------------------

TEST(SquarePlusX, ExactFloorNoOverflow) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(83));
  struct Case {
    int ell, f, xbits;  // |x| < 2^xbits keeps |x² + 2^f·x| < 2^{ℓ−1}
  };
  for (const Case& c : {Case{37, 12, 17}, Case{64, 20, 30}, Case{16, 4, 7}}) {
    const Ring r(c.ell);
    const std::int64_t lim = std::int64_t{1} << c.xbits, one = std::int64_t{1} << c.f;
    std::vector<std::int64_t> vals = {0, 1, -1, 2, -2, lim - 1, -(lim - 1), one, -one, one - 1, -one + 1,
                                      -one - 1, one + 1, -one / 2, -one / 2 + 1, -one / 2 - 1, 3 * one,
                                      -3 * one, 7 * one + 5, -7 * one - 5};
    while (vals.size() < 1200) {
      const std::int64_t v = static_cast<std::int64_t>(gen.uniform_below(static_cast<u64>(2 * lim - 1))) - (lim - 1);
      vals.push_back(v);
    }
    Dataset d(r);
    std::vector<std::int64_t> sv;
    std::size_t k = 0;
    const auto firsts = special_first_shares(r);
    for (std::int64_t v : vals) {
      if (k < 5 * 20) d.add(from_signed(r, v), firsts[k % firsts.size()]);
      else d.add_random(from_signed(r, v), gen);
      sv.push_back(v);
      ++k;
    }
    auto z = on_both(sp, [&](MpcSession& s, int p) { return square_plus_x(s, d.sh[p], c.f); });
    const std::string what = "ell=" + std::to_string(c.ell) + " f=" + std::to_string(c.f);
    check_ring_and_size(z, r, d.size(), what);
    if (HasFatalFailure()) return;
    const auto got = reconstruct(z.first, z.second);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const std::int64_t v = sv[i];
      const std::int64_t ref = (v * v + v * one) >> c.f;  // arithmetic shift = floor
      ASSERT_EQ(got[i], from_signed(r, ref)) << what << " i=" << i << " x=" << v << " expected " << ref
                                             << " got " << r.centred(got[i]);
    }
  }
}

// ---- matmul with server weights -----------------------------------------------------------------

TEST(MatmulServerWeights, ShapesAndWeightWidths) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(84));
  struct Shape {
    std::size_t M, K, P;
  };
  for (int ell : {16, 37, 64}) {
    const Ring r(ell);
    for (const Shape& sh : {Shape{3, 5, 7}, Shape{1, 1, 1}, Shape{4, 16, 9}, Shape{2, 3, 1}})
      for (int wbits : {1, 2, 4, 8, 32}) {
        if (wbits == 32 && sh.K == 16) continue;  // keep it quick
        const std::int64_t wmin = -(std::int64_t{1} << (wbits - 1)), wmax = (std::int64_t{1} << (wbits - 1)) - 1;
        std::vector<std::int64_t> w(sh.M * sh.K);
        for (auto& x : w) x = wmin + static_cast<std::int64_t>(gen.uniform_below(static_cast<u64>(wmax - wmin + 1)));
        w[0] = wmin;
        w.back() = wmax;
        if (w.size() > 2) w[1] = wmax;
        if (w.size() > 3) w[2] = 0;
        if (w.size() > 4) w[3] = wbits > 1 ? 1 : -1;
        if (w.size() > 5) w[4] = -1;
        const auto v = edge_and_random(r, gen, sh.K * sh.P);
        const auto vs = share(r, v, gen);
        const std::vector<std::int64_t> none;
        auto z = on_both(sp, [&](MpcSession& s, int p) {
          return matmul_server_weights(s, p == 0 ? std::span<const std::int64_t>(w) : std::span<const std::int64_t>(none),
                                       sh.M, sh.K, vs[p], wbits);
        });
        const std::string what = "ell=" + std::to_string(ell) + " M=" + std::to_string(sh.M) + " K=" +
                                 std::to_string(sh.K) + " P=" + std::to_string(sh.P) + " wbits=" + std::to_string(wbits);
        check_ring_and_size(z, r, sh.M * sh.P, what);
        if (HasFatalFailure()) return;
        const auto got = reconstruct(z.first, z.second);
        for (std::size_t m = 0; m < sh.M; ++m)
          for (std::size_t p = 0; p < sh.P; ++p) {
            u64 ref = 0;
            for (std::size_t k = 0; k < sh.K; ++k) ref += static_cast<u64>(w[m * sh.K + k]) * v[k * sh.P + p];
            ASSERT_EQ(got[m * sh.P + p], ref & r.mask) << what << " m=" << m << " p=" << p;
          }
      }
  }
}

TEST(MatmulServerWeights, ExtremeWeightsAgainstExtremeValues) {
  // All weights at −2^{wbits−1} (the sign bit alone) or 2^{wbits−1} − 1 (all magnitude bits), V at
  // the ring extremes, with carry-stressing share splits.
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(85));
  const Ring r(41);
  const std::size_t M = 2, K = 4, P = 5;
  for (int wbits : {1, 2, 8}) {
    const std::int64_t wmin = -(std::int64_t{1} << (wbits - 1)), wmax = (std::int64_t{1} << (wbits - 1)) - 1;
    const std::vector<std::int64_t> w = {wmin, wmin, wmin, wmin, wmax, wmax, wmax, wmax};
    Dataset d(r);
    const auto edges = edge_and_random(r, gen, 9);
    const auto firsts = special_first_shares(r);
    for (std::size_t i = 0; i < K * P; ++i) d.add(edges[i % edges.size()], firsts[(i / 3) % firsts.size()]);
    const std::vector<std::int64_t> none;
    auto z = on_both(sp, [&](MpcSession& s, int p) {
      return matmul_server_weights(s, p == 0 ? std::span<const std::int64_t>(w) : std::span<const std::int64_t>(none), M,
                                   K, d.sh[p], wbits);
    });
    const auto got = reconstruct(z.first, z.second);
    ASSERT_EQ(got.size(), M * P);
    for (std::size_t m = 0; m < M; ++m)
      for (std::size_t p = 0; p < P; ++p) {
        u64 ref = 0;
        for (std::size_t k = 0; k < K; ++k) ref += static_cast<u64>(w[m * K + k]) * d.x[k * P + p];
        ASSERT_EQ(got[m * P + p], ref & r.mask) << "wbits=" << wbits << " m=" << m << " p=" << p;
      }
  }
}

// A batch of same-shape GEMMs of different weight widths (the Winograd positions of an OT conv):
// each product equals W_g·V_g mod 2^ℓ, and the batch rejects a V of another size before any traffic.
TEST(MatmulServerWeights, BatchOfDifferentWidthsEqualsEachProduct) {
  SessionPair sp;
  Prg gen = Prg::from_seed(test_seed(86));
  const Ring r(22);
  const std::size_t M = 3, K = 5, P = 7;
  const int widths[] = {2, 6, 1, 4};
  std::vector<std::vector<std::int64_t>> ws;
  std::vector<ArithShares> v0, v1;
  std::vector<std::vector<u64>> vs;
  for (const int wb : widths) {
    const std::int64_t lo = -(std::int64_t{1} << (wb - 1)), hi = -lo - 1;
    std::vector<std::int64_t> w(M * K);
    for (auto& x : w) x = lo + static_cast<std::int64_t>(gen.uniform_below(static_cast<u64>(hi - lo + 1)));
    w[0] = lo;
    w[1] = hi;
    ws.push_back(w);
    vs.push_back(edge_and_random(r, gen, K * P));
    const auto sh = share(r, vs.back(), gen);
    v0.push_back(sh[0]);
    v1.push_back(sh[1]);
  }
  auto z = on_both(sp, [&](MpcSession& s, int p) {
    std::vector<ServerWeightGemm> batch;
    for (std::size_t g = 0; g < ws.size(); ++g)
      batch.push_back({p == 0 ? std::span<const std::int64_t>(ws[g]) : std::span<const std::int64_t>(),
                       p == 0 ? &v0[g] : &v1[g], widths[g]});
    return matmul_server_weights_batch(s, batch, M, K);
  });
  ASSERT_EQ(z.first.size(), ws.size());
  for (std::size_t g = 0; g < ws.size(); ++g) {
    const auto got = reconstruct(z.first[g], z.second[g]);
    for (std::size_t m = 0; m < M; ++m)
      for (std::size_t p = 0; p < P; ++p) {
        u64 ref = 0;
        for (std::size_t k = 0; k < K; ++k) ref += static_cast<u64>(ws[g][m * K + k]) * vs[g][k * P + p];
        ASSERT_EQ(got[m * P + p], ref & r.mask) << "gemm " << g << " m=" << m << " p=" << p;
      }
  }
  const auto before = sp.bytes_sent();
  const ArithShares other{r, std::vector<u64>(K * P + 1)};
  const std::vector<ServerWeightGemm> bad = {{ws[0], &v0[0], 2}, {ws[1], &other, 6}};
  EXPECT_EQ(error_name_of([&] { matmul_server_weights_batch(*sp.s0, bad, M, K); }), "invalid_argument");
  EXPECT_EQ(error_name_of([&] { matmul_server_weights_batch(*sp.s0, {}, M, K); }), "invalid_argument");
  EXPECT_EQ(sp.bytes_sent(), before);
}

// ---- argument checks ----------------------------------------------------------------------------

TEST(Arith, InvalidArgumentsRejectedBeforeTraffic) {
  SessionPair sp(short_timeout());
  const std::uint64_t before = sp.bytes_sent();
  MpcSession& s = *sp.s0;
  MpcSession& c = *sp.s1;
  const std::string inv = "invalid_argument";
  const ArithShares a16{Ring(16), {1, 2, 3}}, b16{Ring(16), {4, 5}}, a32{Ring(32), {1, 2, 3}};
  const ArithShares bad16{Ring(16), {1, 1u << 16, 3}};
  // mul / square: ring or size mismatch, share ≥ 2^ℓ.
  EXPECT_EQ(error_name_of([&] { mul(s, a16, b16); }), inv);
  EXPECT_EQ(error_name_of([&] { mul(s, a16, a32); }), inv);
  EXPECT_EQ(error_name_of([&] { mul(s, a16, bad16); }), inv);
  EXPECT_EQ(error_name_of([&] { mul(s, bad16, a16); }), inv);
  EXPECT_EQ(error_name_of([&] { square(s, bad16); }), inv);
  // square_plus_x: 1 ≤ f < ℓ.
  EXPECT_EQ(error_name_of([&] { square_plus_x(s, a16, 0); }), inv);
  EXPECT_EQ(error_name_of([&] { square_plus_x(s, a16, 16); }), inv);
  EXPECT_EQ(error_name_of([&] { square_plus_x(s, a16, 20); }), inv);
  // matmul_server_weights: M·K = 2·3, V is K×P = 3×2 over Z_{2^16}.
  const ArithShares v{Ring(16), {1, 2, 3, 4, 5, 6}};
  const std::vector<std::int64_t> w_ok = {-8, 7, 0, 1, -1, 3};  // wbits = 4
  const std::vector<std::int64_t> none;
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, std::vector<std::int64_t>{-8, 8, 0, 1, -1, 3}, 2, 3, v, 4); }), inv)
      << "weight 2^{wbits-1}";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, std::vector<std::int64_t>{-9, 7, 0, 1, -1, 3}, 2, 3, v, 4); }), inv)
      << "weight below -2^{wbits-1}";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, std::vector<std::int64_t>{0, 1, 0, 0, 0, 0}, 2, 3, v, 1); }), inv)
      << "weight 1 with wbits = 1";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, std::span<const std::int64_t>(w_ok.data(), 5), 2, 3, v, 4); }), inv)
      << "w.size() != M*K";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, w_ok, 2, 3, ArithShares{Ring(16), {1, 2, 3, 4, 5}}, 4); }), inv)
      << "v not a multiple of K";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(c, none, 2, 3, ArithShares{Ring(16), {1, 2, 3, 4, 5}}, 4); }), inv)
      << "client: v not a multiple of K";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, w_ok, 2, 3, v, 0); }), inv) << "wbits = 0";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, w_ok, 2, 3, v, 33); }), inv) << "wbits = 33";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(c, none, 2, 3, v, 33); }), inv) << "client: wbits = 33";
  EXPECT_EQ(error_name_of([&] { matmul_server_weights(s, w_ok, 2, 3, ArithShares{Ring(16), {1, 2, 3, 4, 1u << 16, 6}}, 4); }),
            inv)
      << "share >= 2^l";
  EXPECT_EQ(sp.bytes_sent(), before) << "an invalid call sent something";
}
