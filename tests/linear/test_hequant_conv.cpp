// HEQuant's spatial intra-coefficient packing (src/peregrine/linear/hequant_conv.hpp): both parties
// as threads over an in-memory channel (HE set-up, the packed HE layer, the digit extraction on
// OT), the reconstructed output compared with the project's reference convolution. TECHNIQUES.md
// §3.9: (a) packed convs against plaintext for signed weights with digits at ±(2^{B−1} − 1)'s
// neighbourhood (all-maximal inputs and weights) and random ones, b = 1…4, strides, groups, 1×1;
// (d) the banded geometry and the HE bytes equal the model; (e) the flood at the largest ℓ_t is
// 40 bits above the honest noise bound and the run still decrypts exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../common/linear_fixture.hpp"
#include "../common/mpc_fixture.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/linear/hequant_conv.hpp"

using namespace peregrine;
using namespace peregrine::linear;
using peregrine::mpc::ArithShares;
using peregrine::mpc::MpcSession;
using peregrine::mpc::Ring;
using peregrine::mpc::test_util::error_name_of;
using peregrine::mpc::test_util::on_both;
using peregrine::mpc::test_util::SessionPair;
using peregrine::mpc::test_util::short_timeout;
using peregrine::mpc::test_util::test_seed;

namespace {

using test::conv_meta;

enum class Values { kRandom, kMax, kMin };

struct PackedRun {
  std::vector<u64> y, want;
};

// One two-party run of the packed conv with b digits: inputs bounded by X over Z_{2^in_bits},
// output over Z_{2^out_bits}. kMax / kMin: every input X and every weight ±w_max (the largest
// and smallest digits the width allows); kRandom: uniform in the bounds.
PackedRun run_packed(const Conv2dMeta& m, std::uint64_t X, HeQuantPacking pack, int in_bits, int out_bits,
                     Values values, std::uint8_t tag) {
  const HeQuantConvStrategy st(m, X, pack);
  Prg gen = Prg::from_seed(test_seed(tag));
  const Ring in(in_bits), out(out_bits);
  const auto wmax = std::int64_t{1} << (m.weight_bits - 1);
  const auto Xs = static_cast<std::int64_t>(X);
  std::vector<u64> x(m.C * m.H * m.W);
  for (auto& v : x) {
    const std::int64_t s = values == Values::kRandom ? static_cast<std::int64_t>(gen.uniform_below(2 * X + 1)) - Xs : Xs;
    v = in.reduce(static_cast<u64>(s));
  }
  std::vector<std::int64_t> w(m.M * (m.C / m.groups) * m.kh * m.kw), bias(m.M);
  for (auto& v : w)
    v = values == Values::kMax   ? wmax
        : values == Values::kMin ? -wmax
                                 : static_cast<std::int64_t>(gen.uniform_below(static_cast<u64>(2 * wmax + 1))) - wmax;
  for (auto& v : bias) v = static_cast<std::int64_t>(gen.uniform_below(1u << 20)) - (1 << 19);
  const auto sh = mpc::test_util::share(in, x, gen);

  SessionPair sp;
  auto [y0, y1] = on_both(sp, [&](MpcSession& s, int p) {
    if (p == 0) {
      const HeServer he = he_server_setup(s.channel(), st.params());
      const PreparedHeQuantConv prep = prepare_hequant_conv(st, w, bias);
      return hequant_conv_server(s, he, st, sh[0], prep, out_bits);
    }
    const HeClient he = he_client_setup(s.channel(), st.params(), s.prg());
    return hequant_conv_client(s, he, st, sh[1], out_bits);
  });
  PackedRun r;
  r.y = mpc::reconstruct(y0, y1);
  std::vector<u64> xo(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xo[i] = out.reduce(static_cast<u64>(in.centred(x[i])));
  r.want = test::reference_conv(m, xo, w, bias, out.mask);
  return r;
}

}  // namespace

// §3.9(a): every digit count, stride 2, groups, 1×1 stride 2, an 8-bit signed input, the output
// ring narrower and wider than the digits.
TEST(HeQuantConv, PackedConvEqualsPlaintext) {
  struct Case {
    Conv2dMeta m;
    std::uint64_t X;
    int b, in_bits, out_bits;
  };
  const Case cases[] = {
      {conv_meta(16, 32, 32, 16, 3, 1, 1, 1, 4), 15, 2, 39, 39},   // ResNet-20's first stage, W4A4
      {conv_meta(16, 32, 32, 16, 3, 1, 1, 1, 4), 15, 1, 39, 39},   // the small ring alone
      {conv_meta(3, 12, 12, 5, 3, 2, 1, 1, 8), 128, 2, 42, 42},    // signed 8-bit input, 8-bit weights, stride 2
      {conv_meta(8, 10, 7, 8, 3, 1, 1, 4, 3), 7, 3, 30, 36},       // groups, odd width
      {conv_meta(6, 9, 9, 4, 1, 2, 0, 1, 4), 15, 2, 24, 24},       // 1×1 stride 2 (sub-sampled)
      {conv_meta(4, 16, 16, 6, 3, 1, 1, 1, 4), 15, 3, 42, 12},     // output ring narrower than the digits
      {conv_meta(1, 13, 11, 3, 3, 1, 1, 1, 3), 15, 4, 44, 44},     // ℓ_t = 44, the widest plaintext ring
  };
  std::uint8_t tag = 10;
  for (const Case& c : cases) {
    const PackedRun r = run_packed(c.m, c.X, {c.b}, c.in_bits, c.out_bits, Values::kRandom, tag++);
    ASSERT_EQ(r.y.size(), r.want.size());
    EXPECT_EQ(r.y, r.want) << "C=" << c.m.C << " b=" << c.b << " out=" << c.out_bits;
  }
}

// §3.9(a) at the bound: all-maximal inputs and weights make the interior digits ±X·w_max·taps, the
// largest magnitude the digit width B admits (|y| < 2^{B−1}); any borrow or carry error between
// digits would show.
TEST(HeQuantConv, ExtremeDigitsDecodeExactly) {
  const Conv2dMeta m = conv_meta(4, 16, 16, 6, 3, 1, 1, 1, 4);
  const HeQuantConvStrategy st(m, 15, {3});
  const double bound = 15.0 * 8 * 4 * 9;
  EXPECT_LT(bound, std::ldexp(1.0, st.digit_bits() - 1));
  EXPECT_GE(bound, std::ldexp(1.0, st.digit_bits() - 3));  // B is not wider than it needs (+1 sign bit)
  std::uint8_t tag = 30;
  for (Values v : {Values::kMax, Values::kMin}) {
    const PackedRun r = run_packed(m, 15, {3}, 42, 42, v, tag++);
    EXPECT_EQ(r.y, r.want);
  }
}

// §3.9(a) for the other two rows of §3.3 and the channel split of §3.6: K-pack (output channels) and
// C-pack (input channels, Kronecker, only the top digit read), with channel counts that b does not
// divide, grouped convs, stride 2, the split alone and combined with each packing; random values and
// all-maximal / all-minimal ones (the largest digits, and for C-pack the largest garbage digits).
TEST(HeQuantConv, KAndCPackAndSplitEqualPlaintext) {
  struct Case {
    Conv2dMeta m;
    std::uint64_t X;
    HeQuantPacking pack;
    int in_bits, out_bits;
  };
  const Case cases[] = {
      {conv_meta(8, 8, 8, 6, 3, 1, 1, 1, 2), 3, {2, PackDim::kK}, 32, 32},       // W2A2
      {conv_meta(8, 8, 8, 7, 3, 1, 1, 1, 2), 3, {3, PackDim::kK}, 36, 24},       // 7 filters in 3 digits
      {conv_meta(8, 9, 9, 8, 3, 2, 1, 2, 2), 3, {2, PackDim::kK}, 32, 40},       // groups, stride 2
      {conv_meta(8, 8, 8, 6, 3, 1, 1, 1, 2), 3, {2, PackDim::kC}, 32, 32},
      {conv_meta(7, 8, 8, 5, 3, 1, 1, 1, 2), 3, {3, PackDim::kC}, 36, 36},       // 7 channels in 3 digits
      {conv_meta(8, 9, 9, 8, 3, 2, 1, 2, 2), 3, {2, PackDim::kC}, 32, 12},       // groups, stride 2, narrow out
      {conv_meta(5, 6, 6, 4, 1, 1, 0, 1, 2), 1, {2, PackDim::kC}, 13, 13},       // ℓ_t = 13 > bB = 10: garbage above
      {conv_meta(16, 8, 8, 8, 3, 1, 1, 1, 4), 15, {2, PackDim::kHW, 2}, 36, 36}, // split alone + HW
      {conv_meta(16, 8, 8, 8, 3, 1, 1, 1, 2), 3, {1, PackDim::kHW, 4}, 36, 36},  // split, b = 1
      {conv_meta(16, 8, 8, 8, 3, 1, 1, 1, 2), 3, {2, PackDim::kK, 2}, 36, 36},
      {conv_meta(16, 8, 8, 8, 3, 1, 1, 1, 2), 3, {2, PackDim::kC, 4}, 36, 36},
  };
  std::uint8_t tag = 50;
  for (const Case& c : cases)
    for (Values v : {Values::kRandom, Values::kMax, Values::kMin}) {
      const PackedRun r = run_packed(c.m, c.X, c.pack, c.in_bits, c.out_bits, v, tag++);
      ASSERT_EQ(r.y.size(), r.want.size());
      EXPECT_EQ(r.y, r.want) << "C=" << c.m.C << " M=" << c.m.M << " dim=" << pack_dim_name(c.pack.dim)
                             << " b=" << c.pack.b << " split=" << c.pack.split << " values=" << static_cast<int>(v);
    }
}

// §3.9(d) for K, C and the split: the inner conv's shape, the digit width, the packed kernel width
// and the packed values, by hand; packing b filters divides the output ciphertexts and C-pack the
// input ciphertexts (same tile policy and q).
TEST(HeQuantConv, KAndCPackGeometry) {
  const Conv2dMeta m = conv_meta(16, 16, 16, 16, 3, 1, 1, 1, 2);
  // |y| ≤ 3·2·16·9 = 864 < 2^10: B = 11 (signed).
  const HeQuantConvStrategy k2(m, 3, {2, PackDim::kK});
  EXPECT_EQ(k2.digit_bits(), 11);
  EXPECT_EQ(k2.plain_bits(), 22);
  EXPECT_EQ(k2.inner().meta().M, 8u);
  EXPECT_EQ(k2.inner().meta().C, 16u);
  EXPECT_EQ(k2.inner().meta().weight_bits, 14);  // |w'| ≤ 2·(1 + 2^11) = 4098 < 2^13
  EXPECT_EQ(k2.packed_count(), 8u * 16 * 16);
  EXPECT_EQ(k2.first_digit(), 0);
  const HeQuantConvStrategy c2(m, 3, {2, PackDim::kC});
  EXPECT_EQ(c2.inner().meta().C, 8u);
  EXPECT_EQ(c2.inner().meta().M, 16u);
  EXPECT_EQ(c2.packed_count(), 16u * 16 * 16);
  EXPECT_EQ(c2.first_digit(), 1);
  // The split into 4 channel groups: partials over 4 channels, |y| ≤ 3·2·4·9 = 216 < 2^8: B = 9.
  const HeQuantConvStrategy s4(m, 3, {2, PackDim::kHW, 4});
  EXPECT_EQ(s4.digit_bits(), 9);
  EXPECT_EQ(s4.inner().meta().groups, 4u);
  EXPECT_EQ(s4.inner().meta().M, 64u);
  EXPECT_EQ(s4.packed_count(), 64u * 8 * 16);

  // The packed weights by hand: K-pack filter 0 = w[0] + 2^11·w[8]; C-pack tap (m, c') =
  // 2^11·w[m, c'] + w[m, 8 + c'].
  std::vector<std::int64_t> w(16 * 16 * 9);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<std::int64_t>(i % 5) - 2;
  const auto wk = k2.pack_weights(w);
  ASSERT_EQ(wk.size(), 8u * 16 * 9);
  EXPECT_EQ(wk[0], w[0] + (w[8 * 16 * 9] << 11));
  EXPECT_EQ(wk[7 * 144 + 5], w[7 * 144 + 5] + (w[15 * 144 + 5] << 11));
  const auto wc = c2.pack_weights(w);
  ASSERT_EQ(wc.size(), 16u * 8 * 9);
  EXPECT_EQ(wc[(3 * 8 + 2) * 9 + 4], (w[(3 * 16 + 2) * 9 + 4] << 11) + w[(3 * 16 + 10) * 9 + 4]);

  // The unpacked conv at the same t and q: the ciphertext counts are the packing's.
  const CheetahConvStrategy plain(k2.params(), m);
  const HeQuantConvStrategy cc(m, 3, {2, PackDim::kC}, k2.params());
  EXPECT_LT(k2.inner().plan().n_out(), plain.plan().n_out());
  EXPECT_LT(cc.inner().plan().n_in, plain.plan().n_in);
  EXPECT_LT(k2.he_cost().bytes_server_to_client, plain.cost().bytes_server_to_client);
  EXPECT_LT(cc.he_cost().bytes_client_to_server, plain.cost().bytes_client_to_server);
}

// §3.9(e) for packed kernels: K- and C-pack widen the kernel coefficients, the flood follows the
// wider honest noise (still ≥ 40 bits above it), and kernels past 32 bits or tiles that cannot be
// flooded are refused.
TEST(HeQuantConv, PackedKernelsFloodOrAreRefused) {
  const Conv2dMeta m = conv_meta(16, 16, 16, 16, 3, 1, 1, 1, 2);
  for (const PackDim d : {PackDim::kK, PackDim::kC}) {
    const HeQuantConvStrategy st(m, 3, {3, d});
    EXPECT_GE(st.inner().response().flood_bits,
              static_cast<int>(std::ceil(std::log2(st.inner().plan().noise_bound))) + 40);
  }
  // b = 4 digits of B = 11: |w'| < 2^{1 + 33 + 1} exceeds 32 bits.
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(m, 3, {4, PackDim::kK}); }), "unsupported");
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(m, 3, {4, PackDim::kC}); }), "unsupported");
  // C-pack of more digits than input channels; a split that does not divide C; a split of a grouped conv.
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(conv_meta(2, 8, 8, 4, 3, 1, 1, 1, 2), 3, {3, PackDim::kC}); }),
            "unsupported");
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(m, 3, {1, PackDim::kHW, 3}); }), "unsupported");
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(conv_meta(8, 8, 8, 8, 3, 1, 1, 2, 2), 3, {1, PackDim::kHW, 2}); }),
            "unsupported");
}

// §3.9(d): the bands and the banded conv, by hand; the HE bytes the drivers send equal the model.
TEST(HeQuantConv, BandedGeometryAndBytes) {
  const Conv2dMeta m = conv_meta(16, 32, 32, 16, 3, 1, 1, 1, 4);
  const HeQuantConvStrategy st(m, 15, {2});
  // |y| ≤ 15·8·16·9 = 17280 < 2^15: B = 16, ℓ_t = 32; two bands of 16 output rows read 18 rows.
  EXPECT_EQ(st.digit_bits(), 16);
  EXPECT_EQ(st.plain_bits(), 32);
  EXPECT_EQ(st.band_rows(), 16u);
  EXPECT_EQ(st.inner().meta().H, 18u);
  EXPECT_EQ(st.inner().meta().pad_top, 0u);
  EXPECT_EQ(st.inner().meta().pad_left, 1u);
  EXPECT_EQ(st.packed_count(), 16u * 16 * 32);
  EXPECT_EQ(st.params()->t(), u64{1} << 32);

  // The HE layer alone on packed shares: bytes each way equal he_cost() to the byte.
  Prg gen = Prg::from_seed(test_seed(40));
  std::vector<std::int64_t> w(16 * 16 * 9);
  for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(17)) - 8;
  std::vector<u64> x(16 * 32 * 32);
  for (auto& v : x) v = gen.uniform_below(16);
  const Ring r39(39);
  const auto sh = mpc::test_util::share(r39, x, gen);
  Prg client_prg = Prg::from_seed(test_seed(41));
  const test::LayerRun run = test::run_layer(
      st.params(), client_prg,
      [&](net::Channel& ch, const HeServer& he) {
        Prg p = Prg::from_seed(test_seed(42));
        return conv_layer_server(ch, he, st.inner(), st.pack_input(sh[0].v), prepare_conv_layer(st.inner(), w, {}), p);
      },
      [&](net::Channel& ch, const HeClient& he) {
        Prg p = Prg::from_seed(test_seed(43));
        return conv_layer_client(ch, he, st.inner(), st.pack_input(sh[1].v), p);
      });
  EXPECT_EQ(run.sent_client, st.he_cost().bytes_client_to_server);
  EXPECT_EQ(run.sent_server, st.he_cost().bytes_server_to_client);
  // The packed values are the banded conv of the packed input: digit k of row i is output row 16k + i.
  const std::vector<u64> packed = st.pack_input(x);
  const std::vector<u64> want = test::reference_conv(st.inner().meta(), packed, w, {}, (u64{1} << 32) - 1);
  EXPECT_EQ(run.y, want);
}

// §3.9(e): at ℓ_t = 44 (b·B = 4·11) the flood is σ_f = ⌈log2 B_honest⌉ + 40 bits, and the response
// parameters still fit the decryption bound (the run above at ℓ_t = 44 decrypts exactly).
TEST(HeQuantConv, FloodAtTheWidestPlaintextRing) {
  const HeQuantConvStrategy st(conv_meta(1, 13, 11, 3, 3, 1, 1, 1, 3), 15, {4});
  ASSERT_EQ(st.plain_bits(), 44);
  const auto& rp = st.inner().response();
  EXPECT_GE(rp.flood_bits, static_cast<int>(std::ceil(std::log2(st.inner().plan().noise_bound))) + 40);
  // The widest layer of the shipped quantised ResNets at its widest packing also floods 40 bits.
  const HeQuantConvStrategy big(conv_meta(64, 8, 8, 64, 3, 1, 1, 1, 4), 15, {2});
  EXPECT_GE(big.inner().response().flood_bits,
            static_cast<int>(std::ceil(std::log2(big.inner().plan().noise_bound))) + 40);
}

TEST(HeQuantConv, RejectsWhatCannotBePacked) {
  const Conv2dMeta m = conv_meta(16, 32, 32, 16, 3, 1, 1, 1, 4);
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(m, 15, {3}); }), "unsupported");   // 3·16 > 44 bits
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(m, 15, {33}); }), "unsupported");  // more bands than rows
  EXPECT_EQ(error_name_of([&] { HeQuantConvStrategy(m, 15, {0}); }), "unsupported");
  const HeQuantConvStrategy st(m, 15, {2});
  EXPECT_EQ(error_name_of([&] { st.pack_input(std::vector<u64>(5)); }), "invalid_argument");
  SessionPair sp(short_timeout());
  const ArithShares narrow{Ring(24), std::vector<u64>(16 * 32 * 32)};
  const HeClient none{};
  const auto before = sp.bytes_sent();
  EXPECT_EQ(error_name_of([&] { hequant_conv_client(*sp.s1, none, st, narrow, 39); }), "invalid_argument");
  EXPECT_EQ(sp.bytes_sent(), before);
}
