// Slot-encoded convolution on shares over Z_t (src/peregrine/linear/slot_conv.hpp; TECHNIQUES.md
// §6.3, §5.6): both parties as threads over the in-memory channel; for every rotation candidate the
// reconstructed output equals the plaintext convolution mod t exactly, the server's key switches,
// decompositions and products equal the plan's formula, the bytes equal the cost model, and the
// responses keep noise budget after the 40-bit flood.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "../common/linear_fixture.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/he/serialize.hpp"
#include "peregrine/linear/slot_conv.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/truncation.hpp"

using namespace peregrine;
using namespace peregrine::linear;

namespace {

Seed seed(std::uint8_t tag) {
  Seed s{};
  s[0] = 0x5c;
  s[1] = tag;
  return s;
}

Conv2dMeta conv(std::size_t C, std::size_t H, std::size_t W, std::size_t M, std::size_t k, std::size_t stride,
                std::size_t pad, int wbits = 8) {
  Conv2dMeta m;
  m.C = C, m.H = H, m.W = W, m.M = M, m.kh = m.kw = k;
  m.stride_h = m.stride_w = stride;
  m.pad_top = m.pad_bottom = m.pad_left = m.pad_right = pad;
  m.weight_bits = wbits;
  return m;
}

struct SlotRun {
  test::LayerRun run;
  SlotConvCounts counts;
  int noise_budget = 0;
};

SlotRun run_slot(const SlotConvPlan& plan, std::uint8_t tag) {
  const Conv2dMeta& m = plan.meta();
  const u64 t = plan.params()->t();
  Prg gen = Prg::from_seed(seed(tag));
  std::vector<u64> x(m.C * m.H * m.W), x0(x.size()), x1(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = gen.uniform_below(t);
    x1[i] = gen.uniform_below(t);
    x0[i] = (x[i] + t - x1[i]) % t;
  }
  const u64 edges[] = {0, 1, t - 1, t / 2, t / 2 + 1};  // ring extremes in the first positions
  for (std::size_t i = 0; i < 5 && i < x.size(); ++i) {
    x[i] = edges[i];
    x0[i] = (x[i] + t - x1[i]) % t;
  }
  const std::int64_t wlim = (std::int64_t{1} << (m.weight_bits - 1)) - 1;
  std::vector<std::int64_t> w(m.M * m.C * m.kh * m.kw), b(m.M);
  for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(2 * static_cast<u64>(wlim) + 1)) - wlim;
  w[0] = wlim;
  w.back() = -wlim;
  for (auto& v : b) v = static_cast<std::int64_t>(gen.uniform_below(1u << 20)) - (1 << 19);
  const SlotConvKernels kernels(plan, w);
  const std::vector<u64> act = plan.square_plus_x_frac() ? square_plus_x_mod_t(x, *plan.square_plus_x_frac(), t) : x;
  Prg p0 = Prg::from_seed(seed(100 + tag)), p1 = Prg::from_seed(seed(200 + tag));
  SlotRun r;
  const std::vector<std::uint64_t> galois = plan.galois_elements();
  r.run = test::run_layer(
      plan.params(), p1,
      [&](net::Channel& ch, const HeServer& he) { return run_slot_conv_server(ch, he, plan, kernels, x0, b, p0, &r.counts); },
      [&](net::Channel& ch, const HeClient& he) { return run_slot_conv_client(ch, he, plan, x1, p1, &r.noise_budget); },
      galois);
  r.run.want = slot_conv_reference(m, t, act, w, b);
  r.run.model = plan.cost();
  return r;
}

template <class F>
void expect_error(ErrorCode code, F&& f) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
  }
}

const SlotRotation kAll[] = {SlotRotation::kPerTap, SlotRotation::kHoisted, SlotRotation::kClientRotated};

}  // namespace

TEST(SlotConv, EveryRotationCandidateEqualsThePlaintextConvModT) {
  auto P = he::HeParams::batch(26);
  const Conv2dMeta shapes[] = {
      conv(16, 32, 32, 16, 3, 1, 1),  // ResNet-20's first stage (P = 1024, c_n = 4)
      conv(16, 32, 32, 32, 3, 2, 1),  // its down-sampling conv (anchors at stride 2)
      conv(3, 7, 7, 5, 5, 1, 2),      // odd sizes, few channels, 5×5
      conv(64, 8, 8, 10, 1, 1, 0),    // 1×1 (no tap rotations), c_n = 64
  };
  std::uint8_t tag = 1;
  for (const Conv2dMeta& m : shapes) {
    for (SlotRotation rot : kAll) {
      SCOPED_TRACE(std::string(to_string(rot)) + " C=" + std::to_string(m.C) + " M=" + std::to_string(m.M) +
                   " H=" + std::to_string(m.H) + " k=" + std::to_string(m.kh) + " s=" + std::to_string(m.stride_h));
      const SlotConvPlan plan(m, P, rot);
      const SlotRun r = run_slot(plan, tag++);
      ASSERT_EQ(r.run.y, r.run.want);
      EXPECT_EQ(r.counts, plan.counts());
      EXPECT_EQ(r.run.sent_client, r.run.model.bytes_client_to_server);
      EXPECT_EQ(r.run.sent_server, r.run.model.bytes_server_to_client);
      EXPECT_GE(r.noise_budget, 1);  // §5.5: at least one bit left after the 40-bit flood
      EXPECT_GE(plan.flood_bits(), 40);
      EXPECT_EQ(plan.response_level(), 1u);  // t < 2^26 fits the 60-bit prime
    }
  }
}

TEST(SlotConv, ClientPreRotationLeavesRoomForALargerPlaintextModulus) {
  // Key-switching noise (≈ 2^8 with P ≈ q) is multiplied by the full-range slot plaintexts, so a
  // rotated input costs about 6 bits of t; candidate C encrypts its copies fresh (§5.6).
  auto P = he::HeParams::batch(31);
  const Conv2dMeta m = conv(16, 32, 32, 16, 3, 1, 1);
  expect_error(ErrorCode::kUnsupported, [&] { SlotConvPlan(m, P, SlotRotation::kPerTap); });
  expect_error(ErrorCode::kUnsupported, [&] { SlotConvPlan(m, P, SlotRotation::kHoisted); });
  const SlotConvPlan plan(m, P, SlotRotation::kClientRotated);
  const SlotRun r = run_slot(plan, 40);
  ASSERT_EQ(r.run.y, r.run.want);
  EXPECT_GE(r.noise_budget, 1);
}

TEST(SlotConv, FusedSquarePlusXEqualsTheConvOfXSquaredPlusX) {
  // Flash's activation protocol (§5.3) in front of the conv: W·(x² + 2^f·x) mod t, one round trip.
  // The extra full-range product costs a third log2 t (§5.5): N = 8192 with two primes fits t < 2^18
  // (there is no 19-bit batching prime for N = 8192).
  auto P = he::HeParams::batch(18);
  std::uint8_t tag = 60;
  for (const Conv2dMeta& m : {conv(16, 32, 32, 16, 3, 1, 1), conv(3, 7, 7, 5, 5, 2, 2)}) {
    for (SlotRotation rot : kAll) {
      SCOPED_TRACE(std::string(to_string(rot)) + " C=" + std::to_string(m.C));
      const SlotConvPlan plan(m, P, rot, 4);
      const SlotRun r = run_slot(plan, tag++);
      ASSERT_EQ(r.run.y, r.run.want);
      EXPECT_EQ(r.counts, plan.counts());
      EXPECT_EQ(r.run.sent_client, r.run.model.bytes_client_to_server);
      EXPECT_EQ(r.run.sent_server, r.run.model.bytes_server_to_client);
      EXPECT_GE(r.noise_budget, 1);
    }
  }
  // Two ciphertexts up per input (Enc(x_C), Enc(x_C²)), one full-range product per input copy.
  const Conv2dMeta m = conv(16, 32, 32, 16, 3, 1, 1);
  const SlotConvPlan plain(m, P, SlotRotation::kHoisted), fused(m, P, SlotRotation::kHoisted, 4);
  EXPECT_EQ(fused.counts().upload_ciphertexts, 2 * plain.counts().upload_ciphertexts);
  EXPECT_EQ(fused.counts().products, plain.counts().products + plain.n_in());
  EXPECT_EQ(fused.counts().key_switches, plain.counts().key_switches);
  // At t ≈ 2^30 the fused layer needs N = 16384 and three data primes (§5.5); two do not fit.
  expect_error(ErrorCode::kUnsupported, [&] { SlotConvPlan(m, he::HeParams::batch(30, 16384, 2), SlotRotation::kHoisted, 8); });
  const SlotConvPlan big(conv(4, 8, 8, 4, 3, 1, 1), he::HeParams::batch(30, 16384, 3), SlotRotation::kHoisted, 8);
  const SlotRun r = run_slot(big, 70);
  ASSERT_EQ(r.run.y, r.run.want);
  EXPECT_GE(r.noise_budget, 1);
  EXPECT_EQ(r.counts, big.counts());
}

TEST(SlotConv, FusedLayerKeepsNoiseBudgetAtEveryResNet32Shape) {
  // §5.5's test: the remaining noise budget after x²+x + conv + flooding at the shapes of the
  // shipped ResNet-20/32 (stem, the three stages, both down-sampling convs, the classifier as a
  // 1×1 conv on a 1×1 image), logged per layer; at least one bit everywhere.
  auto P = he::HeParams::batch(30, 16384, 3);
  Conv2dMeta fc = conv(64, 1, 1, 10, 1, 1, 0);
  const Conv2dMeta shapes[] = {conv(3, 32, 32, 16, 3, 1, 1),  conv(16, 32, 32, 16, 3, 1, 1), conv(16, 32, 32, 32, 3, 2, 1),
                               conv(32, 16, 16, 32, 3, 1, 1), conv(32, 16, 16, 64, 3, 2, 1), conv(64, 8, 8, 64, 3, 1, 1), fc};
  std::uint8_t tag = 80;
  for (const Conv2dMeta& m : shapes) {
    const SlotConvPlan plan = best_slot_conv(m, P, 8);
    const SlotRun r = run_slot(plan, tag++);
    ASSERT_EQ(r.run.y, r.run.want) << m.C << "->" << m.M << " at " << m.H;
    EXPECT_GE(r.noise_budget, 1);
    std::printf("  x²+x + conv %zu->%zu at %zux%zu stride %zu (%s): flood %d bits, response level %zu, noise budget left %d bits\n",
                m.C, m.M, m.H, m.W, m.stride_h, to_string(plan.rotation()), plan.flood_bits(), plan.response_level(),
                r.noise_budget);
  }
}

TEST(SlotConv, TwoFlashLayersMatchTheFixedPointEmulationWithinOneLsb) {
  // §5.8(a)–(c) on a two-layer network in Z_t: conv → truncate → [x²+x fused into] conv →
  // truncate, activations at scale 2^f, 5-bit weights at scale 2^fw. Each layer's output equals
  // the emulation of that layer on the actual input within ±1 LSB (the truncation's dropped
  // carry); the HE part takes exactly one round trip per layer.
  auto P = he::HeParams::batch(30, 16384, 3);
  const u64 t = P->t();
  const int f = 6, fw = 4;
  const Conv2dMeta m1 = conv(3, 8, 8, 8, 3, 1, 1, 5), m2 = conv(8, 8, 8, 8, 3, 1, 1, 5);
  const SlotConvPlan p1 = best_slot_conv(m1, P), p2 = best_slot_conv(m2, P, f);
  Prg gen = Prg::from_seed(seed(120));
  auto rnd_w = [&](const Conv2dMeta& m) {
    std::vector<std::int64_t> w(m.M * m.C * 9);
    for (auto& v : w) v = static_cast<std::int64_t>(gen.uniform_below(31)) - 15;
    return w;
  };
  const std::vector<std::int64_t> w1 = rnd_w(m1), w2 = rnd_w(m2);
  const SlotConvKernels k1(p1, w1), k2(p2, w2);
  auto to_t = [t](std::int64_t v) { return v < 0 ? t - static_cast<u64>(-v) : static_cast<u64>(v); };
  auto centred = [t](u64 v) { return v > t / 2 ? static_cast<std::int64_t>(v) - static_cast<std::int64_t>(t) : static_cast<std::int64_t>(v); };
  // The client's input at scale 2^f in (−2, 2); the server's share of it is 0 (the first layer).
  std::vector<std::int64_t> x(m1.C * 64);
  for (auto& v : x) v = static_cast<std::int64_t>(gen.uniform_below(1u << (f + 2))) - (1 << (f + 1));
  std::vector<u64> xc(x.size()), zero(x.size(), 0);
  for (std::size_t i = 0; i < x.size(); ++i) xc[i] = to_t(x[i]);
  auto pr = net::make_memory_pair();
  std::vector<u64> h0, h1, o0, o1;  // hidden (after layer 1) and output shares
  std::uint64_t he_rounds[2] = {0, 0};
  Prg kp = Prg::from_seed(seed(121)), s0p = Prg::from_seed(seed(122)), s1p = Prg::from_seed(seed(123));
  const std::vector<std::uint64_t> galois = [&] {
    std::vector<std::uint64_t> g = p1.galois_elements(), g2 = p2.galois_elements();
    g.insert(g.end(), g2.begin(), g2.end());
    std::sort(g.begin(), g.end());
    g.erase(std::unique(g.begin(), g.end()), g.end());
    return g;
  }();
  peregrine::test::run_parties(
      [&] {
        net::Channel& ch = *pr.first;
        const HeServer he = he_server_setup(ch, P, galois);
        mpc::MpcSession mpc(ch, mpc::Party::kServer, s0p);
        const auto r0 = ch.stats().rounds;
        auto y = run_slot_conv_server(ch, he, p1, k1, zero, {}, s0p);
        he_rounds[0] = ch.stats().rounds - r0;
        h0 = mpc::truncate_mod_t(mpc, y, t, fw, 24);  // |y1| < 2^{f+1}·15·27 < 2^23
        y = run_slot_conv_server(ch, he, p2, k2, h0, {}, s0p);
        o0 = mpc::truncate_mod_t(mpc, y, t, f + fw, 29);
      },
      [&] {
        net::Channel& ch = *pr.second;
        const HeClient he = he_client_setup(ch, P, kp, galois);
        mpc::MpcSession mpc(ch, mpc::Party::kClient, s1p);
        auto y = run_slot_conv_client(ch, he, p1, xc, s1p);
        h1 = mpc::truncate_mod_t(mpc, y, t, fw, 24);
        y = run_slot_conv_client(ch, he, p2, h1, s1p);
        o1 = mpc::truncate_mod_t(mpc, y, t, f + fw, 29);
      });
  EXPECT_EQ(he_rounds[0], 1u);
  // Layer 1 against the emulation on x; layer 2 against the emulation on the actual hidden values.
  auto shift = [](std::int64_t v, int k) { return v >= 0 ? v >> k : -((-v + (std::int64_t{1} << k) - 1) >> k); };
  auto check = [&](const Conv2dMeta& m, const std::vector<std::int64_t>& in, const std::vector<std::int64_t>& w,
                   const std::vector<u64>& a, const std::vector<u64>& b, int k, bool poly) {
    std::vector<u64> act(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) act[i] = to_t(poly ? in[i] * in[i] + (std::int64_t{1} << f) * in[i] : in[i]);
    const std::vector<u64> want = slot_conv_reference(m, t, act, w, {});
    std::vector<std::int64_t> got(a.size());
    int off = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      got[i] = centred((a[i] + b[i]) % t);
      const std::int64_t d = got[i] - shift(centred(want[i]), k);
      EXPECT_LE(std::abs(d), 1) << i;
      off += d != 0;
    }
    return std::make_pair(got, off);
  };
  const auto [hidden, off1] = check(m1, x, w1, h0, h1, fw, false);
  const auto [out, off2] = check(m2, hidden, w2, o0, o1, f + fw, true);
  std::printf("  two Flash layers: %d and %d of %zu outputs off by one LSB\n", off1, off2, out.size());
}

TEST(SlotConv, RotationCountsFollowTheCandidateFormulas) {
  auto P = he::HeParams::batch(26);
  // 16 → 16 channels, 32×32, 3×3: P = 1024, c_n = 4, 8 channels per ciphertext, n_in = n_out = 2.
  const Conv2dMeta m = conv(16, 32, 32, 16, 3, 1, 1);
  const SlotConvPlan g(m, P, SlotRotation::kPerTap), h(m, P, SlotRotation::kHoisted), c(m, P, SlotRotation::kClientRotated);
  ASSERT_EQ(g.n_in(), 2u);
  ASSERT_EQ(g.n_out(), 2u);
  ASSERT_EQ(g.channels_per_row(), 4u);
  // Gazelle (§6.3) with the row swap: per input one swap and 2·(h² − 1) tap rotations; per output
  // c_n − 1 diagonal rotations.
  const std::size_t in_ks = 2 * (1 + 2 * 8), out_ks = 2 * (4 - 1);
  EXPECT_EQ(g.counts().key_switches, in_ks + out_ks);
  EXPECT_EQ(g.counts().decompositions, in_ks + out_ks);
  // Hoisting (A): the same key switches, one decomposition per rotated base (x and its swap) plus
  // the swap itself.
  EXPECT_EQ(h.counts().key_switches, in_ks + out_ks);
  EXPECT_EQ(h.counts().decompositions, 2 * 3 + out_ks);
  // Client pre-rotation (C): no input-side key switch; 2·h² uploads per input.
  EXPECT_EQ(c.counts().key_switches, out_ks);
  EXPECT_EQ(c.counts().upload_ciphertexts, 2u * 18);
  EXPECT_EQ(g.counts().upload_ciphertexts, 2u);
  // Products: n_out · c_n · n_in · 2 · h² (every diagonal reads both rows of every input).
  EXPECT_EQ(g.counts().products, 2u * 4 * 2 * 2 * 9);
  // Galois keys only for the steps used: 8 tap steps, the swap and 3 diagonal steps; none for taps
  // when the client rotates.
  EXPECT_EQ(g.galois_steps().size(), 8u + 1 + 3);
  EXPECT_EQ(c.galois_steps(), (std::vector<int>{1024, 2048, 3072}));
  EXPECT_GT(g.galois_key_bytes(), c.galois_key_bytes());
  // A 1×1 conv with 64 channels of 8×8: N/2 = 4096 slots would hold 64 blocks of 64 per row, but
  // the blocks widen to 128 so that the 64 channels fill both rows: c_n = 32, one swap and 31
  // diagonal rotations (63 with one full row).
  const SlotConvPlan one(conv(64, 8, 8, 64, 1, 1, 0), P, SlotRotation::kPerTap);
  EXPECT_EQ(one.channels_per_row(), 32u);
  EXPECT_EQ(one.block(), 128u);
  EXPECT_EQ(one.counts().key_switches, 32u);
  EXPECT_EQ(one.galois_steps().size(), 32u);
}

TEST(SlotConv, TheBestCandidateHasTheLeastScoreAmongThoseThatFit) {
  auto P = he::HeParams::batch(26);
  for (const Conv2dMeta& m : {conv(16, 32, 32, 16, 3, 1, 1), conv(32, 16, 16, 32, 3, 1, 1), conv(64, 8, 8, 64, 1, 1, 0)}) {
    const SlotConvPlan best = best_slot_conv(m, P);
    for (SlotRotation r : kAll) EXPECT_LE(best.score(), SlotConvPlan(m, P, r).score()) << to_string(r);
    EXPECT_GT(best.estimated_seconds(), 0);
  }
  // Where only client pre-rotation fits the noise budget, it is chosen.
  EXPECT_EQ(best_slot_conv(conv(16, 32, 32, 16, 3, 1, 1), he::HeParams::batch(31)).rotation(), SlotRotation::kClientRotated);
  // Nothing fits: the plan's own error.
  expect_error(ErrorCode::kUnsupported, [&] { best_slot_conv(conv(16, 32, 32, 16, 3, 1, 1), he::HeParams::batch(36)); });
}

TEST(SlotConv, RefusesWhatItCannotRun) {
  auto P = he::HeParams::batch(26);
  Conv2dMeta grouped = conv(16, 8, 8, 16, 3, 1, 1);
  grouped.groups = 16;
  expect_error(ErrorCode::kUnsupported, [&] { SlotConvPlan(grouped, P, SlotRotation::kPerTap); });
  expect_error(ErrorCode::kUnsupported, [&] { SlotConvPlan(conv(1, 64, 65, 1, 3, 1, 1), P, SlotRotation::kPerTap); });
  expect_error(ErrorCode::kInvalidArgument, [&] { SlotConvPlan(conv(4, 8, 8, 4, 3, 1, 1), he::HeParams::cheetah(37), SlotRotation::kPerTap); });
  expect_error(ErrorCode::kInvalidArgument, [&] { he::HeParams::batch(37); });
  expect_error(ErrorCode::kInvalidArgument, [&] { he::HeParams::batch(30, 4096); });
  expect_error(ErrorCode::kInvalidArgument, [&] { he::HeParams::batch(30, 8192, 3); });  // 240 > 218 bits
  expect_error(ErrorCode::kInvalidArgument, [&] { SlotConvPlan(conv(4, 8, 8, 4, 3, 1, 1), P, SlotRotation::kPerTap, 26); });
  // A weight not below t/2 in magnitude.
  const SlotConvPlan plan(conv(1, 4, 4, 1, 1, 1, 0), P, SlotRotation::kPerTap);
  std::vector<std::int64_t> w = {static_cast<std::int64_t>(P->t())};
  expect_error(ErrorCode::kInvalidArgument, [&] { SlotConvKernels(plan, w); });
}

TEST(SlotConv, AMalformedPeerMessageEndsTheLayerWithAClearError) {
  auto P = he::HeParams::batch(26);
  const SlotConvPlan plan(conv(2, 4, 4, 2, 3, 1, 1), P, SlotRotation::kHoisted);
  std::vector<std::int64_t> w(2 * 2 * 9, 1);
  const SlotConvKernels kernels(plan, w);
  std::vector<u64> x(2 * 16, 5);
  // The server receives garbage instead of the client's ciphertext.
  {
    auto pr = net::make_memory_pair();
    Prg kp = Prg::from_seed(seed(90)), p0 = Prg::from_seed(seed(91));
    HeServer he{P, {}, {}};
    HeClient hc{P, {}};
    peregrine::test::run_parties(
        [&] {
          he = he_server_setup(*pr.first, P, plan.galois_elements());
          expect_error(ErrorCode::kMalformedInput, [&] { run_slot_conv_server(*pr.first, he, plan, kernels, x, {}, p0); });
        },
        [&] {
          hc = he_client_setup(*pr.second, P, kp, plan.galois_elements());
          std::vector<std::uint8_t> junk(100, 0xab);
          pr.second->send_frame(junk);
          pr.second->flush();
        });
  }
  // The client receives a response at the wrong level (a fresh top-level ciphertext).
  {
    auto pr = net::make_memory_pair();
    Prg kp = Prg::from_seed(seed(92)), p1 = Prg::from_seed(seed(93));
    peregrine::test::run_parties(
        [&] {
          he_server_setup(*pr.first, P, plan.galois_elements());
          (void)pr.first->recv_frame();
          he::Ciphertext ct;
          ct.params_id = P->params_id();
          ct.c0 = math::RnsPoly(P->n(), P->levels(), false);
          ct.c1 = math::RnsPoly(P->n(), P->levels(), false);
          pr.first->send_frame(he::serialize(*P, ct));
          pr.first->flush();
        },
        [&] {
          const HeClient hc = he_client_setup(*pr.second, P, kp, plan.galois_elements());
          expect_error(ErrorCode::kSizeLimit, [&] { run_slot_conv_client(*pr.second, hc, plan, x, p1); });
        });
  }
}
