// Convolutions as OT GEMMs with server-known weights (src/peregrine/linear/ot_conv.hpp): direct and
// Winograd F(2×2,3×3) / F(4×4,3×3) with exact integer transforms. TECHNIQUES.md §4.9: (a) both
// Winograd forms against the direct conv, locally over Z_{2^ℓ} under random share splits; (b) the
// ring rule at the worst case (all-maximal inputs and weights) and B no wider than needed; (c) the
// two-party conv (COT GEMMs, the exact division, the extension) against the reference conv; (d) the
// client's bytes against the exact COT payload.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "../common/linear_fixture.hpp"
#include "../common/mpc_fixture.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/linear/ot_conv.hpp"

using namespace peregrine;
using namespace peregrine::linear;
using peregrine::mpc::ArithShares;
using peregrine::mpc::MpcSession;
using peregrine::mpc::Ring;
using peregrine::mpc::test_util::error_name_of;
using peregrine::mpc::test_util::on_both;
using peregrine::mpc::test_util::SessionPair;
using peregrine::mpc::test_util::test_seed;

namespace {

using test::conv_meta;

enum class Values { kRandom, kMax, kMin };

struct Data {
  std::vector<u64> x;  // over Z_{2^in_bits}
  std::vector<std::int64_t> w, bias;
};

// Inputs in [−X, X] (kMax / kMin: all X, weights all at the top / bottom of their range).
Data make_data(const Conv2dMeta& m, std::uint64_t X, int in_bits, Values values, Prg& gen) {
  const Ring in(in_bits);
  const std::int64_t lo = -(std::int64_t{1} << (m.weight_bits - 1)), hi = -lo - 1;
  Data d;
  d.x.resize(m.C * m.H * m.W);
  for (auto& v : d.x) {
    const auto Xs = static_cast<std::int64_t>(X);
    v = in.reduce(static_cast<u64>(values == Values::kRandom ? static_cast<std::int64_t>(gen.uniform_below(2 * X + 1)) - Xs : Xs));
  }
  d.w.resize(m.M * (m.C / m.groups) * m.kh * m.kw);
  for (auto& v : d.w)
    v = values == Values::kMax   ? hi
        : values == Values::kMin ? lo
                                 : lo + static_cast<std::int64_t>(gen.uniform_below(static_cast<u64>(hi - lo + 1)));
  d.bias.resize(m.M);
  for (auto& v : d.bias) v = static_cast<std::int64_t>(gen.uniform_below(1u << 12)) - (1 << 11);
  return d;
}

// The reference conv of d over Z_{2^out_bits} (inputs read as signed in their ring).
std::vector<u64> reference(const Conv2dMeta& m, const Data& d, int in_bits, int out_bits, bool bias) {
  const Ring in(in_bits), out(out_bits);
  std::vector<u64> xo(d.x.size());
  for (std::size_t i = 0; i < d.x.size(); ++i) xo[i] = out.reduce(static_cast<u64>(in.centred(d.x[i])));
  return test::reference_conv(m, xo, d.w, bias ? d.bias : std::vector<std::int64_t>{}, out.mask);
}

// The local pipeline of one strategy on plaintext-held values: transform_input, the GEMMs in the
// clear (U'·V·scale mod 2^ℓ), the products split into random shares, transform_output of each
// share (party 0 takes the carry), reconstructed mod 2^{ℓ−e}.
std::vector<u64> local_pipeline(const OtConvStrategy& st, const Data& d, Prg& gen) {
  const Ring ring(st.ring_bits()), out(st.ring_bits() - st.division_bits());
  const std::vector<u64> v = st.transform_input(d.x);
  const auto u = st.transform_weights(d.w);
  std::vector<u64> z;
  std::size_t off = 0;
  for (std::size_t i = 0; i < st.gemms().size(); ++i) {
    const OtGemm& g = st.gemms()[i];
    for (std::size_t r = 0; r < g.M; ++r)
      for (std::size_t p = 0; p < g.P; ++p) {
        u64 s = 0;
        for (std::size_t k = 0; k < g.K; ++k) s += static_cast<u64>(u[i][r * g.K + k]) * v[off + k * g.P + p];
        z.push_back(ring.reduce(s * static_cast<u64>(g.scale)));
      }
    off += g.K * g.P;
  }
  std::vector<u64> z0(z.size()), z1(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) {
    z0[i] = ring.reduce(gen.next_u64());
    z1[i] = ring.reduce(z[i] - z0[i]);
  }
  const std::vector<u64> y0 = st.transform_output(z0, true), y1 = st.transform_output(z1, false);
  std::vector<u64> y(y0.size());
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = out.reduce(y0[i] + y1[i]);
  return y;
}

}  // namespace

// §4.9(a): F2 and F4 equal the direct conv mod 2^{ℓ−e}, and the direct one equals the reference, for
// random and extreme values, odd sizes (partial tiles), padding 0 and 1, under random share splits
// of the GEMM products (the exact division's carry).
TEST(OtConv, WinogradTransformsEqualTheDirectConv) {
  Prg gen = Prg::from_seed(test_seed(120));
  struct Case { Conv2dMeta m; std::uint64_t X; int in_bits, out_bits; };
  const Case cases[] = {
      {conv_meta(3, 8, 8, 4, 3, 1, 1, 1, 2), 63, 30, 30},   // W2A6
      {conv_meta(5, 7, 9, 3, 3, 1, 1, 1, 4), 63, 40, 40},   // W4A6, partial tiles
      {conv_meta(4, 6, 6, 2, 3, 1, 0, 1, 8), 128, 44, 44},  // 8-bit signed input, no padding
      {conv_meta(2, 5, 5, 3, 3, 1, 1, 1, 4), 15, 40, 12},   // output ring narrower than B
  };
  for (const Case& c : cases)
    for (Values v : {Values::kRandom, Values::kMax, Values::kMin}) {
      const Data d = make_data(c.m, c.X, c.in_bits, v, gen);
      for (WinogradTile t : {WinogradTile::kDirect, WinogradTile::kF2, WinogradTile::kF4}) {
        const OtConvStrategy st(c.m, c.X, t, c.in_bits, c.out_bits);
        const int have = st.ring_bits() - st.division_bits();
        EXPECT_EQ(have, std::min(st.output_bits(), c.out_bits));
        EXPECT_EQ(local_pipeline(st, d, gen), reference(c.m, d, c.in_bits, have, false))
            << winograd_tile_name(t) << " C=" << c.m.C << " values=" << static_cast<int>(v);
      }
    }
}

// §4.9(b): at the worst case (every input X, every weight at the bottom of its range) the decoded
// output is exact, B is no wider than the worst case needs, and one bit less would not hold it.
// The per-position weight widths are the exact public ranges (corners: w bits).
TEST(OtConv, RingRuleAtTheWorstCase) {
  Prg gen = Prg::from_seed(test_seed(121));
  const Conv2dMeta m = conv_meta(16, 8, 8, 4, 3, 1, 1, 1, 2);
  const std::uint64_t X = 63;
  const Data d = make_data(m, X, 40, Values::kMin, gen);
  for (WinogradTile t : {WinogradTile::kDirect, WinogradTile::kF2, WinogradTile::kF4}) {
    const OtConvStrategy st(m, X, t, 40, 40);
    // The interior output: 63·(−2)·16·9 = −18144; B = 16 holds it (|y| < 2^15) and 15 would not.
    EXPECT_EQ(st.output_bits(), 16);
    EXPECT_GE(18144, 1 << 14);
    const std::vector<u64> y = local_pipeline(st, d, gen);
    EXPECT_EQ(y, reference(m, d, 40, 16, false)) << winograd_tile_name(t);
  }
  const OtConvStrategy f2(m, X, WinogradTile::kF2, 40, 40);
  ASSERT_EQ(f2.gemms().size(), 16u);
  EXPECT_EQ(f2.gemms()[0].wbits, 2);   // corner: U' = g, scale 4
  EXPECT_EQ(f2.gemms()[0].scale, 4);
  EXPECT_EQ(f2.gemms()[1].wbits, 4);   // edge: U' = g0 + g1 + g2 ∈ [−6, 3], scale 2
  EXPECT_EQ(f2.gemms()[1].scale, 2);
  EXPECT_EQ(f2.gemms()[5].wbits, 6);   // centre: the sum of nine weights ∈ [−18, 9]
  EXPECT_EQ(f2.gemms()[5].scale, 1);
  EXPECT_EQ(f2.ring_bits(), 18);       // B + 2
  const OtConvStrategy f4(m, X, WinogradTile::kF4, 40, 40);
  EXPECT_EQ(f4.ring_bits(), 22);       // B + 6
  EXPECT_EQ(f4.gemms()[0].scale, 36);  // 6·6
}

// §4.9(c): the two-party conv against the reference conv (bias included), direct with stride 2
// and groups, both Winograd tiles, output rings narrower and wider than B (the signed extension).
TEST(OtConv, TwoPartyConvEqualsTheReference) {
  Prg gen = Prg::from_seed(test_seed(122));
  struct Case { Conv2dMeta m; std::uint64_t X; WinogradTile t; int in_bits, out_bits; };
  const Case cases[] = {
      {conv_meta(4, 8, 8, 4, 3, 1, 1, 1, 2), 63, WinogradTile::kDirect, 39, 39},
      {conv_meta(4, 8, 8, 4, 3, 1, 1, 1, 2), 63, WinogradTile::kF2, 39, 39},
      {conv_meta(4, 8, 8, 4, 3, 1, 1, 1, 4), 63, WinogradTile::kF4, 39, 39},
      {conv_meta(6, 9, 9, 4, 3, 2, 1, 2, 3), 15, WinogradTile::kDirect, 30, 36},  // stride 2, groups
      {conv_meta(3, 6, 5, 2, 3, 1, 1, 1, 4), 15, WinogradTile::kF2, 24, 12},     // narrow output ring
      {conv_meta(3, 7, 7, 5, 1, 1, 0, 1, 4), 127, WinogradTile::kDirect, 20, 20}, // 1×1
  };
  for (const Case& c : cases)
    for (Values v : {Values::kRandom, Values::kMax}) {
      const OtConvStrategy st(c.m, c.X, c.t, c.in_bits, c.out_bits);
      const Data d = make_data(c.m, c.X, c.in_bits, v, gen);
      const auto sh = mpc::test_util::share(Ring(c.in_bits), d.x, gen);
      SessionPair sp;
      auto [y0, y1] = on_both(sp, [&](MpcSession& s, int p) {
        if (p == 0) return ot_conv_server(s, st, sh[0], prepare_ot_conv(st, d.w, d.bias));
        return ot_conv_client(s, st, sh[1]);
      });
      ASSERT_EQ(y0.ring, Ring(c.out_bits));
      EXPECT_EQ(mpc::reconstruct(y0, y1), reference(c.m, d, c.in_bits, c.out_bits, true))
          << winograd_tile_name(c.t) << " C=" << c.m.C << " out=" << c.out_bits;
    }
}

// §4.9(d): the client sends the exact COT payload of the GEMMs (plus the extension's and the silent
// OT's own traffic, a few per cent here); F2 and F4 send fewer payload bits than direct at W4.
TEST(OtConv, ClientBytesAreTheCotPayload) {
  Prg gen = Prg::from_seed(test_seed(123));
  const Conv2dMeta m = conv_meta(16, 16, 16, 16, 3, 1, 1, 1, 4);
  std::uint64_t direct_bits = 0;
  for (WinogradTile t : {WinogradTile::kDirect, WinogradTile::kF2, WinogradTile::kF4}) {
    const OtConvStrategy st(m, 63, t, 39, 39);
    if (t == WinogradTile::kDirect) direct_bits = st.payload_bits();
    else EXPECT_LT(st.payload_bits(), direct_bits) << winograd_tile_name(t);
    const Data d = make_data(m, 63, 39, Values::kRandom, gen);
    const auto sh = mpc::test_util::share(Ring(39), d.x, gen);
    SessionPair sp;
    const auto c0 = sp.ch1->stats().bytes_sent;
    auto [y0, y1] = on_both(sp, [&](MpcSession& s, int p) {
      if (p == 0) return ot_conv_server(s, st, sh[0], prepare_ot_conv(st, d.w, d.bias));
      return ot_conv_client(s, st, sh[1]);
    });
    const double sent = static_cast<double>(sp.ch1->stats().bytes_sent - c0);
    const double payload = static_cast<double>(st.payload_bits()) / 8;
    EXPECT_GE(sent, payload) << winograd_tile_name(t);
    EXPECT_LE(sent, payload * 1.10 + 200000) << winograd_tile_name(t);
    EXPECT_EQ(mpc::reconstruct(y0, y1), reference(m, d, 39, 39, true));
  }
}

// EQO's QWinConv with Winograd-domain weights U_q: given the exact U = G'·g·G'ᵀ of a spatial kernel
// as U_q, the layer returns D·conv(x, g) (D = 4 or 576; no division in this mode), two-party, bias
// included; and with random 2-bit U_q (every position at w bits) the two-party result equals the
// local pipeline, including the all-maximal case that reaches the public bound B.
TEST(OtConv, WinogradDomainWeights) {
  Prg gen = Prg::from_seed(test_seed(124));
  const std::uint64_t X = 63;
  for (WinogradTile t : {WinogradTile::kF2, WinogradTile::kF4}) {
    const Conv2dMeta spatial = conv_meta(4, 7, 7, 3, 3, 1, 1, 1, 2);
    const OtConvStrategy from(spatial, X, t, 40, 40);
    const Data d = make_data(spatial, X, 40, Values::kRandom, gen);
    const auto parts = from.transform_weights(d.w);
    std::vector<std::int64_t> uq;
    std::int64_t umax = 0;
    for (std::size_t i = 0; i < parts.size(); ++i)
      for (const std::int64_t u : parts[i]) {
        uq.push_back(u * from.gemms()[i].scale);
        umax = std::max(umax, std::abs(uq.back()));
      }
    Conv2dMeta wm = spatial;
    wm.weight_bits = 2;
    while ((std::int64_t{1} << (wm.weight_bits - 1)) - 1 < umax) ++wm.weight_bits;
    const OtConvStrategy st(wm, X, t, 40, 40, WeightDomain::kWinograd);
    EXPECT_EQ(st.division_bits(), 0);
    for (const OtGemm& g : st.gemms()) EXPECT_EQ(g.wbits, wm.weight_bits);
    const auto sh = mpc::test_util::share(Ring(40), d.x, gen);
    SessionPair sp;
    auto [y0, y1] = on_both(sp, [&](MpcSession& s, int p) {
      if (p == 0) return ot_conv_server(s, st, sh[0], prepare_ot_conv(st, uq, d.bias));
      return ot_conv_client(s, st, sh[1]);
    });
    const Ring out(40);
    const u64 D = t == WinogradTile::kF2 ? 4 : 576;
    std::vector<u64> want = reference(spatial, d, 40, 40, false);
    for (std::size_t i = 0; i < want.size(); ++i)
      want[i] = out.reduce(want[i] * D + static_cast<u64>(d.bias[i / (spatial.out_h() * spatial.out_w())]));
    EXPECT_EQ(mpc::reconstruct(y0, y1), want) << winograd_tile_name(t);

    // Random 2-bit U_q; all-maximal inputs and U_q = −2 reach the bound.
    const Conv2dMeta m2 = conv_meta(5, 8, 8, 4, 3, 1, 1, 1, 2);
    const OtConvStrategy q(m2, X, t, 44, 44, WeightDomain::kWinograd);
    for (Values v : {Values::kRandom, Values::kMin}) {
      Data e = make_data(m2, X, 44, v, gen);
      e.w.assign(q.gemms().size() * m2.M * m2.C, -2);
      if (v == Values::kRandom)
        for (auto& u : e.w) u = static_cast<std::int64_t>(gen.uniform_below(4)) - 2;
      const std::vector<u64> local = local_pipeline(q, e, gen);
      const auto she = mpc::test_util::share(Ring(44), e.x, gen);
      SessionPair sq;
      auto [z0, z1] = on_both(sq, [&](MpcSession& s, int p) {
        if (p == 0) return ot_conv_server(s, q, she[0], prepare_ot_conv(q, e.w, {}));
        return ot_conv_client(s, q, she[1]);
      });
      const std::vector<u64> got = mpc::reconstruct(z0, z1);
      const Ring rb(q.output_bits()), r44(44);
      for (std::size_t i = 0; i < got.size(); ++i)  // the B-bit result, signed-extended
        ASSERT_EQ(got[i], r44.reduce(static_cast<u64>(rb.centred(local[i])))) << winograd_tile_name(t) << " i=" << i;
    }
  }
  // Winograd-domain weights need a Winograd tile.
  EXPECT_EQ(error_name_of([&] {
              OtConvStrategy(conv_meta(4, 8, 8, 4, 3, 1, 1, 1, 2), 15, WinogradTile::kDirect, 39, 39, WeightDomain::kWinograd);
            }),
            "unsupported");
}

TEST(OtConv, RejectsWhatItCannotRun) {
  const Conv2dMeta m = conv_meta(4, 8, 8, 4, 3, 1, 1, 1, 4);
  // Winograd needs 3×3, stride 1, groups 1.
  EXPECT_EQ(error_name_of([&] { OtConvStrategy(conv_meta(4, 8, 8, 4, 3, 2, 1, 1, 4), 15, WinogradTile::kF2, 39, 39); }),
            "unsupported");
  EXPECT_EQ(error_name_of([&] { OtConvStrategy(conv_meta(4, 8, 8, 4, 3, 1, 1, 2, 4), 15, WinogradTile::kF4, 39, 39); }),
            "unsupported");
  EXPECT_EQ(error_name_of([&] { OtConvStrategy(conv_meta(4, 8, 8, 4, 1, 1, 0, 1, 4), 15, WinogradTile::kF2, 39, 39); }),
            "unsupported");
  // The GEMM ring (B = 13 here, + 6 for F4) must fit the input ring.
  EXPECT_EQ(error_name_of([&] { OtConvStrategy(m, 15, WinogradTile::kF4, 16, 39); }), "unsupported");
  const OtConvStrategy st(m, 15, WinogradTile::kDirect, 39, 39);
  // A weight of 2^{w−1} does not fit the w-bit GEMM; sizes are checked.
  std::vector<std::int64_t> w(4 * 4 * 9, 0);
  w[5] = 8;
  EXPECT_EQ(error_name_of([&] { prepare_ot_conv(st, w, {}); }), "invalid_argument");
  EXPECT_EQ(error_name_of([&] { st.transform_input(std::vector<u64>(3)); }), "invalid_argument");
  EXPECT_EQ(error_name_of([&] { st.transform_output(std::vector<u64>(3), true); }), "invalid_argument");
  SessionPair sp(mpc::test_util::short_timeout());
  const auto before = sp.bytes_sent();
  const ArithShares narrow{Ring(8), std::vector<u64>(4 * 8 * 8)};
  EXPECT_EQ(error_name_of([&] { ot_conv_client(*sp.s1, st, narrow); }), "invalid_argument");
  EXPECT_EQ(sp.bytes_sent(), before);
}
