// Cheetah convolution on shares (src/peregrine/linear/conv.hpp): both parties as threads over the
// in-memory channel; the reconstructed output must equal the plaintext convolution mod 2^ℓ
// exactly (before truncation), and the measured bytes must equal the cost model.
#include <gtest/gtest.h>

#include <bit>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../common/linear_fixture.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/linear/conv.hpp"
#include "peregrine/linear/depthwise.hpp"
#include "peregrine/nn/fixed.hpp"

using namespace peregrine;
using namespace peregrine::linear;

namespace {

Seed seed(std::uint8_t tag) {
  Seed s{};
  s[0] = 0xc0;
  s[1] = tag;
  return s;
}

/// One two-party run of the conv `m` with the Cheetah strategy (policy), or with the Falcon
/// depthwise strategy when `dw` holds its families (empty: all).
test::LayerRun run_conv(const Conv2dMeta& m, TilePolicy policy, int ell, std::uint8_t tag, bool with_bias = true,
                        const std::optional<std::vector<DwFamily>>& dw = std::nullopt) {
  auto P = he::HeParams::cheetah(ell);
  const u64 tmask = P->t() - 1;
  Prg gen = Prg::from_seed(seed(tag));
  std::vector<u64> x(m.C * m.H * m.W), x0(x.size()), x1(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = gen.next_u64() & tmask;
    x1[i] = gen.next_u64() & tmask;
    x0[i] = (x[i] - x1[i]) & tmask;
  }
  // Edge values in the first few positions: 0, ±1, ring extremes.
  const u64 edges[] = {0, 1, tmask, tmask >> 1, (tmask >> 1) + 1};
  for (std::size_t i = 0; i < 5 && i < x.size(); ++i) {
    x[i] = edges[i];
    x0[i] = (x[i] - x1[i]) & tmask;
  }
  const std::int64_t wlim = std::int64_t{1} << (m.weight_bits - 1);
  std::vector<std::int64_t> w(m.M * (m.C / m.groups) * m.kh * m.kw), b;
  for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(2 * static_cast<u64>(wlim) + 1)) - wlim;
  if (!w.empty()) {
    w[0] = wlim;
    w.back() = -wlim;
  }
  if (with_bias) {
    b.resize(m.M);
    for (auto& v : b) v = static_cast<std::int64_t>(gen.next_u64() % (1u << 24)) - (1 << 23);
  }

  Prg p0 = Prg::from_seed(seed(100 + tag)), p1 = Prg::from_seed(seed(200 + tag));
  test::LayerRun r;
  if (dw) {
    DepthwiseConvStrategy s(P, m, *dw);
    const PreparedConv pw = prepare_depthwise(s, w, b);
    r = test::run_layer(
        P, p1, [&](net::Channel& ch, const HeServer& he) { return depthwise_server(ch, he, s, x0, pw, p0); },
        [&](net::Channel& ch, const HeClient& he) { return depthwise_client(ch, he, s, x1, p1); });
    r.model = s.cost();
  } else {
    CheetahConvStrategy s(P, m, policy);
    const PreparedConv pw = prepare_conv(s, w, b);
    r = test::run_layer(
        P, p1, [&](net::Channel& ch, const HeServer& he) { return conv2d_server(ch, he, s, x0, pw, p0); },
        [&](net::Channel& ch, const HeClient& he) { return conv2d_client(ch, he, s, x1, p1); });
    r.model = s.cost();
  }
  r.want = test::reference_conv(m, x, w, b, tmask);
  return r;
}

using test::conv_meta;

void expect_exact(const Conv2dMeta& m, TilePolicy policy, int ell, std::uint8_t tag, const std::string& what) {
  test::expect_exact_run(run_conv(m, policy, ell, tag), what);
}

}  // namespace

TEST(CheetahConv, ResNetCifarShapesExact) {
  expect_exact(conv_meta(3, 32, 32, 16, 3, 1, 1), TilePolicy::kMinBytes, 37, 1, "stem 3->16 32x32");
  expect_exact(conv_meta(16, 32, 32, 16, 3, 1, 1), TilePolicy::kMinBytes, 37, 2, "16->16 32x32");
  expect_exact(conv_meta(16, 32, 32, 32, 3, 2, 1), TilePolicy::kMinBytes, 37, 3, "16->32 stride 2");
  expect_exact(conv_meta(16, 32, 32, 32, 1, 2, 0), TilePolicy::kMinBytes, 37, 4, "1x1 stride 2 shortcut");
  expect_exact(conv_meta(32, 16, 16, 64, 3, 2, 1), TilePolicy::kMinBytes, 37, 5, "32->64 stride 2");
  expect_exact(conv_meta(64, 8, 8, 64, 3, 1, 1), TilePolicy::kMinBytes, 37, 6, "64->64 8x8");
  expect_exact(conv_meta(32, 16, 16, 32, 3, 1, 1), TilePolicy::kMinBytes, 37, 30, "32->32 16x16");
  expect_exact(conv_meta(32, 16, 16, 64, 1, 2, 0), TilePolicy::kMinBytes, 37, 31, "1x1 stride 2, 32->64");
}

TEST(CheetahConv, MobileNetV2CifarShapesExact) {
  // Expansion (1×1), depthwise 3×3 (stride 1 and 2) and projection (1×1) at CIFAR resolution.
  expect_exact(conv_meta(16, 32, 32, 96, 1, 1, 0), TilePolicy::kMinBytes, 37, 32, "expand 16->96 32x32");
  expect_exact(conv_meta(96, 32, 32, 96, 3, 2, 1, 96), TilePolicy::kMinBytes, 37, 33, "depthwise 96 32x32 stride 2");
  expect_exact(conv_meta(144, 16, 16, 144, 3, 1, 1, 144), TilePolicy::kMinBytes, 37, 34, "depthwise 144 16x16");
  expect_exact(conv_meta(144, 16, 16, 32, 1, 1, 0), TilePolicy::kMinBytes, 37, 35, "project 144->32 16x16");
  expect_exact(conv_meta(384, 4, 4, 384, 3, 1, 1, 384), TilePolicy::kMinBytes, 37, 36, "depthwise 384 4x4");
  expect_exact(conv_meta(960, 2, 2, 960, 3, 1, 1, 960), TilePolicy::kMinBytes, 37, 37, "depthwise 960 2x2");
  expect_exact(conv_meta(960, 2, 2, 160, 1, 1, 0), TilePolicy::kMinBytes, 37, 38, "project 960->160 2x2");
  expect_exact(conv_meta(96, 16, 16, 96, 3, 1, 1, 96), TilePolicy::kOpenCheetah, 37, 39, "depthwise, OpenCheetah tile");
}

// The latency-aware tile (falcon-pw on pointwise layers): exact, never a worse score than the
// byte-minimising tile, never fewer bytes, and on some shapes a different tile (fewer
// ciphertexts for a few more bytes) — the policy is not a no-op.
TEST(CheetahConv, LatencyTileTradesBytesForCiphertexts) {
  expect_exact(conv_meta(24, 6, 6, 40, 1, 1, 0), TilePolicy::kLatency, 20, 40, "pointwise 24->40 6x6, l=20");
  expect_exact(conv_meta(144, 16, 16, 32, 1, 1, 0), TilePolicy::kLatency, 37, 41, "project 144->32 16x16");
  std::size_t differ = 0;
  for (int ell : {20, 37})
    for (const Conv2dMeta& m : {conv_meta(24, 6, 6, 40, 1, 1, 0), conv_meta(16, 32, 32, 96, 1, 1, 0), conv_meta(144, 16, 16, 32, 1, 1, 0),
                                conv_meta(96, 8, 8, 24, 1, 1, 0), conv_meta(960, 2, 2, 160, 1, 1, 0)}) {
      auto P = he::HeParams::cheetah(ell);
      const CheetahConvStrategy bytes(P, m, TilePolicy::kMinBytes), lat(P, m, TilePolicy::kLatency);
      auto total = [](const CheetahConvStrategy& s) {
        return static_cast<double>(s.cost().bytes_client_to_server + s.cost().bytes_server_to_client);
      };
      auto score = [&](const CheetahConvStrategy& s) {
        return tile_latency_score(total(s), static_cast<double>(s.plan().n_in + s.plan().n_out()),
                                  static_cast<double>(s.cost().products));
      };
      SCOPED_TRACE("C=" + std::to_string(m.C) + " H=" + std::to_string(m.H) + " M=" + std::to_string(m.M) +
                   " l=" + std::to_string(ell));
      EXPECT_LE(score(lat), score(bytes) * (1 + 1e-9));
      EXPECT_GE(total(lat), total(bytes));
      differ += lat.plan().n_in + lat.plan().n_out() != bytes.plan().n_in + bytes.plan().n_out();
    }
  EXPECT_GT(differ, 0u);
}

// Kernels made on demand (KernelSource) equal the prepared ones, each is made once per run of
// consecutive outputs that use it, and only the next output's kernels stay cached.
TEST(CheetahConv, KernelsOnDemandEqualThePreparedOnes) {
  auto P = he::HeParams::cheetah(37);
  for (const Conv2dMeta& m : {conv_meta(16, 32, 32, 32, 3, 2, 1), conv_meta(144, 16, 16, 32, 1, 1, 0)}) {
    const CheetahConvStrategy s(P, m);
    Prg gen = Prg::from_seed(seed(90));
    std::vector<std::int64_t> w(m.M * m.C * m.kh * m.kw);
    for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(8191)) - 4095;
    const auto fill = [&](std::size_t k, std::span<std::int64_t> p) { s.encode_kernel_into(w, k, p); };
    const std::vector<he::PlaintextNtt> prepared = prepare_kernels(P, s.plan().n_kernels, fill);
    KernelSource on_demand(P, s.plan().n_kernels, fill);
    std::size_t runs = 0;  // Σ over kernels of the runs of consecutive outputs using it
    for (std::size_t o = 0; o < s.plan().n_out(); ++o) {
      for (const Product& pr : s.plan().products[o]) {
        EXPECT_EQ(on_demand.get(pr.kernel).poly, prepared[pr.kernel].poly) << "kernel " << pr.kernel;
        const bool before = o > 0 && std::any_of(s.plan().products[o - 1].begin(), s.plan().products[o - 1].end(),
                                                 [&](const Product& q) { return q.kernel == pr.kernel; });
        runs += !before;
      }
      on_demand.retain(o + 1 < s.plan().n_out() ? std::span<const Product>(s.plan().products[o + 1])
                                                : std::span<const Product>());
    }
    EXPECT_EQ(on_demand.made(), runs);
    EXPECT_THROW(on_demand.get(s.plan().n_kernels), Error);
  }
}

// The streamed server driver (no prepared weights) is exact and sends the modelled bytes.
TEST(CheetahConv, StreamedServerDriverExact) {
  auto P = he::HeParams::cheetah(37);
  const Conv2dMeta m = conv_meta(32, 16, 16, 64, 3, 1, 1);
  const CheetahConvStrategy s(P, m);
  Prg gen = Prg::from_seed(seed(91));
  const u64 tmask = P->t() - 1;
  std::vector<u64> x(m.C * m.H * m.W), x0(x.size()), x1(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = gen.next_u64() & tmask;
    x1[i] = gen.next_u64() & tmask;
    x0[i] = (x[i] - x1[i]) & tmask;
  }
  std::vector<std::int64_t> w(m.M * m.C * 9), b(m.M);
  for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(8191)) - 4095;
  for (auto& v : b) v = static_cast<std::int64_t>(gen.next_u64() % 2001) - 1000;
  Prg p0 = Prg::from_seed(seed(92)), p1 = Prg::from_seed(seed(93));
  test::LayerRun r = test::run_layer(
      P, p1,
      [&](net::Channel& ch, const HeServer& he) { return conv_layer_server_streamed(ch, he, s, x0, w, b, p0); },
      [&](net::Channel& ch, const HeClient& he) { return conv2d_client(ch, he, s, x1, p1); });
  r.model = s.cost();
  r.want = test::reference_conv(m, x, w, b, tmask);
  test::expect_exact_run(r, "streamed 32->64 16x16");
}

TEST(CheetahConv, OpenCheetahTilingExact) {
  expect_exact(conv_meta(16, 32, 32, 16, 3, 1, 1), TilePolicy::kOpenCheetah, 37, 7, "16->16 32x32 OpenCheetah");
  expect_exact(conv_meta(4, 70, 70, 3, 3, 1, 1), TilePolicy::kOpenCheetah, 37, 8, "large image, Cw = 1 tiles");
}

TEST(CheetahConv, DepthwiseAndGroupsExact) {
  expect_exact(conv_meta(32, 16, 16, 32, 3, 1, 1, 32), TilePolicy::kMinBytes, 37, 9, "depthwise 32x16x16");
  expect_exact(conv_meta(24, 8, 8, 24, 3, 2, 1, 24), TilePolicy::kMinBytes, 37, 10, "depthwise stride 2");
  expect_exact(conv_meta(12, 9, 9, 18, 3, 1, 1, 3), TilePolicy::kMinBytes, 37, 11, "groups = 3");
  expect_exact(conv_meta(16, 8, 8, 32, 1, 1, 0), TilePolicy::kMinBytes, 37, 12, "pointwise 1x1");
}

TEST(CheetahConv, OddShapesExact) {
  expect_exact(conv_meta(5, 11, 13, 7, 5, 1, 2), TilePolicy::kMinBytes, 37, 13, "5x5, odd sizes");
  expect_exact(conv_meta(3, 23, 23, 5, 7, 3, 3), TilePolicy::kMinBytes, 37, 14, "7x7 stride 3");
  Conv2dMeta a = conv_meta(3, 10, 9, 4, 3, 1, 0);
  a.pad_top = 0;
  a.pad_bottom = 2;
  a.pad_left = 1;
  a.pad_right = 0;
  expect_exact(a, TilePolicy::kMinBytes, 37, 15, "asymmetric padding");
  Conv2dMeta r = conv_meta(2, 12, 12, 3, 3, 1, 1);
  r.kh = 1;
  r.kw = 3;
  r.stride_h = 2;
  expect_exact(r, TilePolicy::kMinBytes, 37, 16, "rectangular kernel, row stride only");
  expect_exact(conv_meta(1, 1, 1, 1, 1, 1, 0), TilePolicy::kMinBytes, 37, 17, "1x1x1");
}

TEST(CheetahConv, OtherRingWidths) {
  for (int ell : {20, 41}) {
    Conv2dMeta m = conv_meta(8, 12, 12, 8, 3, 1, 1);
    m.weight_bits = 6;
    expect_exact(m, TilePolicy::kMinBytes, ell, static_cast<std::uint8_t>(18 + ell), "ell " + std::to_string(ell));
  }
}

// Security check (issue 7): on a real ResNet-20 layer with worst-case weights (every |w| at the
// public bound), the measured honest noise of the output ciphertext with the most products stays
// below the plan's public bound, and the flood the strategy chose (σ_f) is measured at least 40
// bits above that bound after re-randomisation (DESIGN.md §1: 40-bit statistical security).
/// The flooding check on the output ciphertext of `plan` with the most products: honest noise within
/// the public bound, σ_f ≥ ⌈log2 bound⌉ + 40, and the measured flood 40 bits above the bound.
/// `kernel(k)` gives kernel polynomial k (signed), `polys` the encoded input.
void expect_flood_forty_bits(const he::HeParamsPtr& P, const CoeffLayerPlan& plan, const ResponseParams& rp,
                             const std::vector<std::vector<u64>>& polys,
                             const std::function<std::vector<std::int64_t>(std::size_t)>& kernel, Prg& prg) {
  he::KeyGenerator kg(P);
  const he::SecretKey sk = kg.secret_key(prg);
  const he::PublicKey pk = kg.public_key(sk, prg);
  he::Encryptor es(P, sk);
  he::Decryptor dec(P, sk);
  he::Evaluator ev(P);
  he::CoeffEncoder enc(P);
  std::size_t o = 0;
  for (std::size_t i = 1; i < plan.n_out(); ++i)
    if (plan.products[i].size() > plan.products[o].size()) o = i;
  ASSERT_FALSE(plan.products[o].empty());
  std::vector<he::Ciphertext> cts;
  std::vector<he::PlaintextNtt> ks;
  std::vector<const he::Ciphertext*> cp;
  std::vector<const he::PlaintextNtt*> kp;
  cts.reserve(plan.products[o].size());
  ks.reserve(plan.products[o].size());
  for (const Product& pr : plan.products[o]) {
    cts.push_back(es.encrypt_symmetric(enc.encode(polys[pr.in]), prg));
    ev.to_ntt(cts.back());
    ks.push_back(ev.prepare(enc.encode_signed(kernel(pr.kernel))));
    cp.push_back(&cts.back());
    kp.push_back(&ks.back());
  }
  he::Ciphertext acc = ev.dot_plain(cp, kp);
  double honest = 0;
  for (double e : dec.noise(acc)) honest = std::max(honest, std::fabs(e));
  EXPECT_GT(honest, 0.0);
  EXPECT_LE(honest, plan.noise_bound) << "the public honest-noise bound is exceeded";

  const int sigma_f = rp.flood_bits;
  EXPECT_GE(sigma_f, static_cast<int>(std::ceil(std::log2(plan.noise_bound))) + 40);
  ev.rerandomize_and_flood_inplace(acc, pk, sigma_f, prg);
  double flooded = 0;
  for (double e : dec.noise(acc)) flooded = std::max(flooded, std::fabs(e));
  // The flood is uniform in [−2^σ_f, 2^σ_f): over N = 4096 coefficients its largest magnitude is
  // within 0.01 bit of 2^σ_f with overwhelming probability.
  const double width_bits = std::log2(flooded) - std::log2(plan.noise_bound);
  std::printf("[ flood ] products %zu honest %.3g (bound %.3g) sigma_f %d measured width %.2f bits above the bound\n",
              plan.products[o].size(), honest, plan.noise_bound, sigma_f, width_bits);
  EXPECT_GE(width_bits, 40.0 - 0.01);
  EXPECT_LE(std::log2(flooded), sigma_f + 0.01);
}

TEST(CheetahConv, ResponseFloodIsFortyBitsAboveTheHonestNoise) {
  auto P = he::HeParams::cheetah(37);
  const Conv2dMeta m = conv_meta(16, 32, 32, 16, 3, 1, 1);
  CheetahConvStrategy s(P, m);
  Prg prg = Prg::from_seed(seed(90));
  const u64 tmask = P->t() - 1;
  std::vector<u64> x(m.C * m.H * m.W);
  for (auto& v : x) v = prg.next_u64() & tmask;
  const std::int64_t wlim = std::int64_t{1} << (m.weight_bits - 1);
  std::vector<std::int64_t> w(m.M * m.C * m.kh * m.kw);
  for (auto& v : w) v = prg.uniform_below(2) ? wlim : -wlim;
  const auto kernels = s.encode_kernels(w);
  expect_flood_forty_bits(P, s.plan(), s.response(), s.encode_input(x), [&](std::size_t k) { return kernels[k]; }, prg);
}

// The same on a Falcon depthwise layer at its largest g (every kernel polynomial holds g·9 taps).
TEST(FalconDepthwise, ResponseFloodIsFortyBitsAboveTheHonestNoise) {
  auto P = he::HeParams::cheetah(37);
  const Conv2dMeta m = conv_meta(960, 2, 2, 960, 3, 1, 1, 960);
  DepthwiseConvStrategy s(P, m);
  Prg prg = Prg::from_seed(seed(91));
  const u64 tmask = P->t() - 1;
  std::vector<u64> x(m.C * m.H * m.W);
  for (auto& v : x) v = prg.next_u64() & tmask;
  const std::int64_t wlim = std::int64_t{1} << (m.weight_bits - 1);
  std::vector<std::int64_t> w(m.C * m.kh * m.kw);
  for (auto& v : w) v = prg.uniform_below(2) ? wlim : -wlim;
  expect_flood_forty_bits(P, s.plan(), s.response(), s.encode_input(x),
                          [&](std::size_t k) {
                            std::vector<std::int64_t> p(P->n());
                            s.encode_kernel_into(w, k, p);
                            return p;
                          },
                          prg);
}

TEST(CheetahConv, PlanCoversEveryOutputOnce) {
  auto P = he::HeParams::cheetah(37);
  for (const Conv2dMeta& m : {conv_meta(16, 32, 32, 32, 3, 2, 1), conv_meta(7, 15, 17, 9, 5, 1, 2), conv_meta(32, 16, 16, 32, 3, 1, 1, 32)}) {
    CheetahConvStrategy s(P, m);
    std::vector<int> seen(s.plan().out_size, 0);
    for (const auto& o : s.plan().out_index)
      for (auto idx : o) seen[idx]++;
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << i;
    const auto& t = s.tiling();
    EXPECT_LE(t.Mw * t.Cw * t.Hw * t.Ww, P->n());
  }
}

TEST(CheetahConv, CostModelMatchesTechniquesWorkedExample) {
  // TECHNIQUES.md §0.7: C = M = 64, 32×32, 3×3, pad 1, OpenCheetah tile (Hw = Ww = 34, Cw = 3):
  // n_in = 22, n_out = 64.
  auto P = he::HeParams::cheetah(37);
  CheetahConvStrategy s(P, conv_meta(64, 32, 32, 64, 3, 1, 1), TilePolicy::kOpenCheetah);
  EXPECT_EQ(s.tiling().Hw, 34u);
  EXPECT_EQ(s.tiling().Cw, 3u);
  EXPECT_EQ(s.plan().n_in, 22u);
  EXPECT_EQ(s.plan().n_out(), 64u);
  // The byte-minimising tile is never worse than OpenCheetah's.
  CheetahConvStrategy best(P, conv_meta(64, 32, 32, 64, 3, 1, 1));
  const auto a = s.cost(), b = best.cost();
  EXPECT_LE(b.bytes_client_to_server + b.bytes_server_to_client, a.bytes_client_to_server + a.bytes_server_to_client);
}

TEST(CheetahConv, InvalidShapesThrow) {
  auto P = he::HeParams::cheetah(37);
  auto code = [&](const Conv2dMeta& m) {
    try {
      CheetahConvStrategy s(P, m);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kProtocol;
  };
  EXPECT_EQ(code(conv_meta(0, 8, 8, 4, 3, 1, 1)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(conv_meta(4, 2, 2, 4, 5, 1, 0)), ErrorCode::kInvalidArgument);   // kernel > input
  EXPECT_EQ(code(conv_meta(6, 8, 8, 4, 3, 1, 1, 4)), ErrorCode::kInvalidArgument);  // groups ∤ C
  Conv2dMeta w = conv_meta(4, 8, 8, 4, 3, 1, 1);
  w.weight_bits = 40;
  EXPECT_EQ(code(w), ErrorCode::kInvalidArgument);
  CheetahConvStrategy s(P, conv_meta(2, 4, 4, 2, 3, 1, 1));
  std::vector<std::int64_t> too_big(2 * 2 * 9, 1 << 20);
  EXPECT_THROW(prepare_conv(s, too_big, {}), Error);
  std::vector<u64> short_share(5);
  EXPECT_THROW(s.encode_input(short_share), Error);
}

/// A client that sends garbage instead of a ciphertext, a frame length far above the bound, or
/// disconnects: `serve(channel, he)` (a layer's server driver) raises the matching typed error,
/// never a crash or a hang beyond the read timeout.
void expect_hostile_client_errors(const he::HeParamsPtr& P,
                                  const std::function<void(net::Channel&, const HeServer&)>& serve) {
  for (int mode = 0; mode < 3; ++mode) {
    net::ChannelOptions opts;
    opts.read_timeout = std::chrono::milliseconds(500);
    auto pr = net::make_memory_pair(opts);
    Prg p1 = Prg::from_seed(seed(51));
    ErrorCode code = ErrorCode::kProtocol;
    test::run_parties(
        [&] {
          try {
            HeServer he = he_server_setup(*pr.first, P);
            serve(*pr.first, he);
          } catch (const Error& e) {
            code = e.code();
          }
        },
        [&] {
          he_client_setup(*pr.second, P, p1);
          if (mode == 0) {
            std::vector<std::uint8_t> junk(100, 0xab);
            pr.second->send_frame(junk);
            pr.second->flush();
          } else if (mode == 1) {
            const std::uint64_t huge = std::uint64_t{1} << 40;
            pr.second->send(&huge, sizeof huge);
            pr.second->flush();
          }
          pr.second.reset();  // disconnect
        });
    if (mode == 0) {
      EXPECT_EQ(code, ErrorCode::kMalformedInput);
    } else if (mode == 1) {
      EXPECT_EQ(code, ErrorCode::kSizeLimit);
    } else {
      EXPECT_TRUE(code == ErrorCode::kPeerClosed || code == ErrorCode::kTimeout);
    }
  }
}

TEST(CheetahConv, HostileClientGetsTypedErrors) {
  auto P = he::HeParams::cheetah(37);
  CheetahConvStrategy s(P, conv_meta(2, 6, 6, 2, 3, 1, 1));
  std::vector<std::int64_t> w(2 * 2 * 9, 3);
  const PreparedConv pw = prepare_conv(s, w, {});
  std::vector<u64> x0(2 * 6 * 6, 1);
  Prg p0 = Prg::from_seed(seed(50));
  expect_hostile_client_errors(P, [&](net::Channel& ch, const HeServer& he) { conv2d_server(ch, he, s, x0, pw, p0); });
}

TEST(FalconDepthwise, HostileClientGetsTypedErrors) {
  auto P = he::HeParams::cheetah(37);
  DepthwiseConvStrategy s(P, conv_meta(24, 4, 4, 24, 3, 1, 1, 24));
  std::vector<std::int64_t> w(24 * 9, 3);
  const PreparedConv pw = prepare_depthwise(s, w, {});
  std::vector<u64> x0(24 * 4 * 4, 1);
  Prg p0 = Prg::from_seed(seed(52));
  expect_hostile_client_errors(P, [&](net::Channel& ch, const HeServer& he) { depthwise_server(ch, he, s, x0, pw, p0); });
}

// The server's HE computation is a local kernel (linear::server_responses): the client's
// ciphertexts in, responses out, no channel; the client's decryption of the responses plus the
// server's share is the convolution of the whole input.
TEST(CheetahConv, ServerKernelRunsWithoutAChannel) {
  const int ell = 37;
  const u64 tmask = (u64{1} << ell) - 1;
  Conv2dMeta m;
  m.C = 3; m.H = 7; m.W = 7; m.M = 4; m.kh = 3; m.kw = 3;
  m.pad_top = m.pad_bottom = m.pad_left = m.pad_right = 1;
  m.weight_bits = 8;
  const auto P = he::HeParams::cheetah(ell);
  CheetahConvStrategy s(P, m);
  Prg prg = Prg::from_seed(seed(90));
  std::vector<u64> x(m.C * m.H * m.W), xs(x.size()), xc(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = prg.next_u64() & tmask;
    xs[i] = prg.next_u64() & tmask;
    xc[i] = (x[i] - xs[i]) & tmask;
  }
  std::vector<std::int64_t> w(m.M * m.C * 9);
  for (auto& v : w) v = static_cast<std::int64_t>(prg.uniform_below(255)) - 127;
  const PreparedConv prep = prepare_conv(s, w, {});

  he::KeyGenerator kg(P);
  const he::SecretKey sk = kg.secret_key(prg);
  const HeServer server{P, kg.public_key(sk, prg), {}};
  he::Encryptor enc(P, sk);
  he::CoeffEncoder encoder(P);
  std::vector<he::Ciphertext> cts;
  for (const auto& poly : s.encode_input(xc)) cts.push_back(enc.encrypt_symmetric(encoder.encode(poly), prg));

  std::vector<he::TrimmedCiphertext> responses(s.plan().n_out());
  std::size_t emitted = 0;
  const std::vector<u64> ys = server_responses(server, s.plan(), s.response(), std::move(cts), s.encode_input(xs),
                                               prep.kernels, prg, [&](std::size_t o, const he::TrimmedCiphertext& r) {
                                                 EXPECT_EQ(o, emitted++) << "responses in output order";
                                                 responses.at(o) = r;
                                               });
  EXPECT_EQ(emitted, s.plan().n_out());
  he::Decryptor dec(P, sk);
  std::vector<u64> y(s.plan().out_size, 0);
  for (std::size_t o = 0; o < s.plan().n_out(); ++o) {
    const auto vals = dec.decrypt_trimmed(responses[o], s.plan().valid[o]);
    for (std::size_t k = 0; k < vals.size(); ++k) y[s.plan().out_index[o][k]] = vals[k];
  }
  const std::vector<u64> want = test::reference_conv(m, x, w, {}, tmask);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ((y[i] + ys[i]) & tmask, want[i]) << i;
}

// Falcon depthwise packing (linear/depthwise.hpp, TECHNIQUES.md §2): two-party runs exact against
// the one reference convolution, measured bytes equal to the cost model, on the depthwise shapes
// of MobileNetV2 at CIFAR sizes, with the search free and with each layout family forced.
TEST(FalconDepthwise, MobileNetV2CifarShapesExact) {
  const std::vector<DwFamily> all;
  const auto run = [&](const Conv2dMeta& m, std::uint8_t tag, const std::vector<DwFamily>& f, const std::string& what) {
    test::expect_exact_run(run_conv(m, TilePolicy::kMinBytes, 37, tag, true, f), what);
  };
  run(conv_meta(96, 32, 32, 96, 3, 2, 1, 96), 60, all, "dw 96 32x32 stride 2");
  run(conv_meta(144, 16, 16, 144, 3, 1, 1, 144), 61, all, "dw 144 16x16");
  run(conv_meta(192, 8, 8, 192, 3, 1, 1, 192), 62, all, "dw 192 8x8");
  run(conv_meta(384, 4, 4, 384, 3, 1, 1, 384), 63, all, "dw 384 4x4");
  run(conv_meta(960, 2, 2, 960, 3, 1, 1, 960), 64, all, "dw 960 2x2");
  run(conv_meta(144, 16, 16, 144, 3, 1, 1, 144), 65, {DwFamily::kApFree}, "dw 144 16x16 ap-free");
  run(conv_meta(144, 16, 16, 144, 3, 1, 1, 144), 66, {DwFamily::kSchemeB}, "dw 144 16x16 scheme B");
  run(conv_meta(144, 16, 16, 144, 3, 1, 1, 144), 67, {DwFamily::kGreedy}, "dw 144 16x16 greedy");
  run(conv_meta(384, 4, 4, 384, 3, 2, 1, 384), 68, {DwFamily::kGreedy}, "dw 384 4x4 stride 2 greedy");
  run(conv_meta(40, 9, 11, 40, 5, 2, 2, 40), 69, all, "dw 5x5 stride 2, odd sizes");
  Conv2dMeta r = conv_meta(24, 7, 10, 24, 3, 1, 1, 24);
  r.kh = 1;
  r.pad_top = r.pad_bottom = 0;
  r.weight_bits = 6;
  test::expect_exact_run(run_conv(r, TilePolicy::kMinBytes, 20, 70, false, all), "dw 1x3, ell 20, no bias");
}

// An unfolded batch norm as a depthwise 1×1 conv of the flattened [C, 1, H·W] tensor (the engine's
// falcon-bn): exact, and on DenseNet's small planes several channels per ciphertext where the
// Cheetah BN layout spends one each (7×7: 49 of 4096 coefficients).
TEST(FalconDepthwise, BatchNormAsAFlattenedPointwiseDepthwiseConv) {
  const auto flat = [](std::size_t C, std::size_t inner) {
    Conv2dMeta m = conv_meta(C, 1, inner, C, 1, 1, 0, C);
    m.H = 1;
    m.W = inner;
    return m;
  };
  test::expect_exact_run(run_conv(flat(256, 49), TilePolicy::kMinBytes, 37, 71, true, std::vector<DwFamily>{}),
                         "bn 256x7x7");
  test::expect_exact_run(run_conv(flat(32, 196), TilePolicy::kMinBytes, 20, 72, true, std::vector<DwFamily>{}),
                         "bn 32x14x14, ell 20");
  auto P = he::HeParams::cheetah(37);
  for (const auto& [C, inner] : {std::pair<std::size_t, std::size_t>{1024, 49}, {512, 196}, {256, 784}}) {
    const DepthwiseConvStrategy s(P, flat(C, inner));
    EXPECT_LE(s.plan().n_in, C / 2) << C << "x" << inner;  // at least two channels per ciphertext
    std::printf("[ bn as dw %zux%zu ] n_in %zu n_out %zu\n", C, inner, s.plan().n_in, s.plan().n_out());
  }
}

// The Falcon strategy beats the dense block-diagonal run of the same layer on bytes, and more so
// as the planes shrink (TECHNIQUES.md §1.2 vs §2.3).
TEST(FalconDepthwise, CutsTheBlockDiagonalWaste) {
  auto P = he::HeParams::cheetah(37);
  for (const Conv2dMeta& m : {conv_meta(144, 16, 16, 144, 3, 1, 1, 144), conv_meta(960, 2, 2, 960, 3, 1, 1, 960)}) {
    const LayerCost dense = CheetahConvStrategy(P, m).cost(), dw = DepthwiseConvStrategy(P, m).cost();
    const auto bytes = [](const LayerCost& c) { return c.bytes_client_to_server + c.bytes_server_to_client; };
    EXPECT_LT(bytes(dw), bytes(dense)) << m.C << "x" << m.H;
    EXPECT_LT(dw.products, dense.products) << m.C << "x" << m.H;
  }
  EXPECT_THROW(DepthwiseConvStrategy(P, conv_meta(16, 8, 8, 32, 3, 1, 1, 16)), Error);  // channel multiplier 2
  EXPECT_THROW(DepthwiseConvStrategy(P, conv_meta(16, 8, 8, 16, 3, 1, 1, 1)), Error);   // dense
}
