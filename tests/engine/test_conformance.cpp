// Conformance suite over the strategy registry (issue 15): every registered strategy × every
// program node it applies to (a set of shapes per op) × ring sizes runs two-party over an
// in-memory channel on random shares and is compared with its ideal functionality
// (Strategy::ideal = nn::run_fixed_node): bit-exact, or within the strategy's stated tolerance.
// Its measured bytes are compared with its cost(): equal to the byte for strategies whose cost is
// exact (the HE layers), within a stated band for the OT-based estimates (mpc/cost.hpp: per-element
// figures measured at ℓ = 37 on 2^20 elements and scaled linearly in ℓ; Ferret's refill traffic
// falls wherever the COT pool runs dry). A new strategy is covered by registering it: the suite
// fails when a registered strategy applies to no node here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../common/mpc_fixture.hpp"
#include "peregrine/engine/strategy.hpp"
#include "peregrine/linear/he_layer.hpp"

using namespace peregrine;
using namespace peregrine::engine;
using nn::FxNode;
using nn::FxOp;
using u64 = std::uint64_t;

namespace {

/// A one- or two-node program with its weights, built by hand.
struct Program {
  std::string name;
  nn::FixedModel m;
  std::vector<std::size_t> nonneg_inputs;  // value indices that must hold values ≥ 0
  std::map<std::size_t, std::int64_t> bounded_inputs;  // value index → bound on |v| (integer programs)
};

struct Builder {
  Program p;
  explicit Builder(std::string name, int ell) {
    p.name = std::move(name);
    p.m.plan.ring_bits = ell;
    p.m.plan.frac_bits = ell >= 30 ? 12 : 6;
  }
  std::size_t value(const nn::Shape& s, int ring = 0) {
    nn::FxValue v;
    v.name = std::to_string(p.m.plan.values.size());
    v.shape = s;
    v.scale = p.m.plan.frac_bits;
    v.ring_bits = ring ? ring : p.m.plan.ring_bits;
    p.m.plan.values.push_back(std::move(v));
    return p.m.plan.values.size() - 1;
  }
  std::size_t weights(std::size_t count, std::size_t bias, int wbits, std::uint8_t seed) {
    Prg prg = Prg::from_seed(mpc::test_util::test_seed(static_cast<std::uint8_t>(100 + seed)));
    nn::FixedWeights::Entry e;
    const std::int64_t lim = std::int64_t{1} << (wbits - 1);
    for (std::size_t i = 0; i < count; ++i) e.w.push_back(static_cast<std::int64_t>(prg.next_u64() % (2 * lim)) - lim);
    for (std::size_t i = 0; i < bias; ++i) e.b.push_back(static_cast<std::int64_t>(prg.next_u64() % 2001) - 1000);
    p.m.weights.entries.push_back(e);
    return p.m.weights.entries.size() - 1;
  }
  void node(FxNode n, std::vector<std::size_t> in, std::size_t out) {
    n.name = p.name;
    n.name.append("/").append(nn::fx_op_name(n.op)).append(std::to_string(p.m.plan.nodes.size()));
    n.inputs = std::move(in);
    n.output = out;
    p.m.plan.nodes.push_back(std::move(n));
  }
  Program done(std::size_t input, std::size_t output) {
    p.m.plan.input = input;
    p.m.plan.output = output;
    return std::move(p);
  }
};

FxNode conv(std::int64_t C, std::int64_t H, std::int64_t M, std::int64_t k, std::int64_t s, std::int64_t pad,
            std::int64_t groups) {
  FxNode n = FxNode::of(FxOp::kConv);
  nn::FxConvAttrs& a = n.conv();
  a.C = C; a.H = H; a.W = H; a.M = M; a.kh = k; a.kw = k; a.sh = s; a.sw = s; a.groups = groups;
  a.pads = {pad, pad, pad, pad};
  a.weight_bits = 8;
  a.has_bias = true;
  return n;
}

std::vector<Program> programs() {
  std::vector<Program> out;
  for (int ell : {20, 37}) {
    const std::string tag = std::string("l").append(std::to_string(ell));
    const int s = ell >= 30 ? 12 : 6;
    // One conv node: input [1,C,H,H], random 8-bit weights and a bias.
    auto conv_program = [&](const std::string& name, FxNode n, std::uint8_t seed) {
      Builder b(name + "-" + tag, ell);
      const nn::FxConvAttrs a = n.conv();
      const auto x = b.value({1, a.C, a.H, a.W}), y = b.value({1, a.M, a.out_h(), a.out_w()});
      n.weights()->index = b.weights(static_cast<std::size_t>(a.M * (a.C / a.groups) * a.kh * a.kw),
                                     static_cast<std::size_t>(a.M), 8, seed);
      b.node(n, {x}, y);
      out.push_back(b.done(x, y));
    };
    conv_program("conv3x3", conv(3, 8, 4, 3, 1, 1, 1), 1);     // dense 3×3, padded
    conv_program("conv1x1", conv(24, 6, 40, 1, 1, 0, 1), 5);   // pointwise (cheetah-conv's tile by bytes, falcon-pw's by bytes + compute)
    conv_program("dwconv-s2", conv(4, 9, 4, 3, 2, 1, 4), 2);   // depthwise 3×3 stride 2
    {  // an integer (QDQ) program's conv: 4-bit unsigned input (its public bound from FxIntegerIO),
       // 4-bit weights: hequant-conv's packing applies (ℓ = 37: b up to 2; ℓ = 20: the small ring)
      Builder b("qconv-" + tag, ell);
      b.p.m.plan.integer_io = nn::FxIntegerIO{1, 0, 0, 15, 1};
      FxNode n = conv(8, 12, 8, 3, 1, 1, 1);
      n.conv().weight_bits = 4;
      const auto x = b.value({1, 8, 12, 12}), y = b.value({1, 8, 12, 12});
      n.weights()->index = b.weights(8 * 8 * 9, 8, 4, 6);
      b.node(n, {x}, y);
      Program p = b.done(x, y);
      p.nonneg_inputs = {x};
      p.bounded_inputs = {{x, 15}};
      out.push_back(std::move(p));
    }
    {  // Gemm
      Builder b("fc-" + tag, ell);
      FxNode n = FxNode::of(FxOp::kGemm);
      n.gemm().K = 20; n.gemm().N = 7; n.gemm().weight_bits = 8; n.gemm().has_bias = true;
      const auto x = b.value({1, 20}), y = b.value({1, 7});
      n.weights()->index = b.weights(7 * 20, 7, 8, 3);
      b.node(n, {x}, y);
      out.push_back(b.done(x, y));
    }
    {  // per-channel affine
      Builder b("affine-" + tag, ell);
      FxNode n = FxNode::of(FxOp::kAffine);
      n.affine().C = 3; n.affine().inner = 10; n.affine().weight_bits = 8; n.affine().has_bias = true;
      const auto x = b.value({1, 3, 10}), y = b.value({1, 3, 10});
      n.weights()->index = b.weights(3, 3, 8, 4);
      b.node(n, {x}, y);
      out.push_back(b.done(x, y));
    }
    // ReLU then truncation (the pair relu-highbits serves), and a truncation of unknown sign; once
    // small, and once at 2^15 elements where the OT estimates are checked against the bytes.
    for (const std::int64_t len : {std::int64_t{300}, std::int64_t{1} << 15}) {
      if (len > 300 && ell != 37) continue;
      Builder b("relu-trunc-" + std::to_string(len) + "-" + tag, ell);
      const auto x = b.value({1, len}), r = b.value({1, len}), t = b.value({1, len}), u = b.value({1, len});
      FxNode relu = FxNode::of(FxOp::kRelu);
      b.node(relu, {x}, r);
      FxNode tr = FxNode::of(FxOp::kTrunc);
      tr.shift() = {s, true};
      b.node(tr, {r}, t);
      FxNode tu = FxNode::of(FxOp::kTrunc);
      tu.shift().shift = s;
      b.node(tu, {t}, u);
      Program p = b.done(x, u);
      p.nonneg_inputs = {r};
      out.push_back(std::move(p));
    }
    // Clip (ReLU6 before its deferred truncation: bounds 0 and 6 at scale 2^{2s}, read by a
    // truncation by s known ≥ 0, the pair clip-highbits serves) and a two-sided clip with a
    // negative lower bound (HardSigmoid's); small, and at 2^15 elements for the byte estimates.
    for (const std::int64_t len : {std::int64_t{300}, std::int64_t{1} << 15}) {
      if (len > 300 && ell != 37) continue;
      Builder b("clip-trunc-" + std::to_string(len) + "-" + tag, ell);
      const auto x = b.value({1, len}), c = b.value({1, len}), t = b.value({1, len}), h = b.value({1, len});
      FxNode relu6 = FxNode::of(FxOp::kClip);
      relu6.clip() = {0, std::int64_t{6} << (2 * s)};
      b.node(relu6, {x}, c);
      FxNode tr = FxNode::of(FxOp::kTrunc);
      tr.shift() = {s, true};
      b.node(tr, {c}, t);
      FxNode hs = FxNode::of(FxOp::kClip);
      hs.clip() = {-(std::int64_t{5} << (ell - 7)), std::int64_t{3} << (ell - 8)};
      b.node(hs, {x}, h);
      Program p = b.done(x, t);
      p.nonneg_inputs = {c};
      out.push_back(std::move(p));
    }
    {  // padded max-pool
      Builder b("maxpool-" + tag, ell);
      FxNode n = FxNode::of(FxOp::kMaxPool);
      nn::FxPoolAttrs& a = n.pool();
      a.C = 2; a.H = 5; a.W = 5; a.kh = 3; a.kw = 3; a.sh = 2; a.sw = 2; a.pads = {1, 1, 1, 1};
      const auto x = b.value({1, 2, 5, 5}), y = b.value({1, 2, 3, 3});
      b.node(n, {x}, y);
      out.push_back(b.done(x, y));
    }
    {  // per-tensor rings: signed and MSB-known extension from a small ring, reduction back
      Builder b("rings-" + tag, ell);
      const int small = ell - 12;
      const auto x = b.value({1, 300}, small), e = b.value({1, 300}), r = b.value({1, 300}), z = b.value({1, 300}),
                 k = b.value({1, 300}), d = b.value({1, 300}, small);
      FxNode ex = FxNode::of(FxOp::kExtend);
      b.node(ex, {x}, e);
      FxNode re = FxNode::of(FxOp::kRelu);
      b.node(re, {e}, r);
      FxNode red = FxNode::of(FxOp::kReduce);
      b.node(red, {r}, z);
      b.p.m.plan.values[z].ring_bits = small;
      FxNode ex0 = FxNode::of(FxOp::kExtend);
      ex0.extend().nonneg = true;
      b.node(ex0, {z}, k);
      FxNode red2 = FxNode::of(FxOp::kReduce);
      b.node(red2, {k}, d);
      // truncate-and-reduce: into a ring of at most ℓ − s bits, sign unknown and known ≥ 0
      const auto t1 = b.value({1, 300}, ell - s - 2), t2 = b.value({1, 300}, ell - s - 2);
      FxNode tr = FxNode::of(FxOp::kTrunc);
      tr.shift().shift = s;
      b.node(tr, {e}, t1);
      FxNode tr0 = FxNode::of(FxOp::kTrunc);
      tr0.shift() = {s, true};
      b.node(tr0, {r}, t2);
      Program p = b.done(x, d);
      p.nonneg_inputs = {z, r};
      out.push_back(std::move(p));
    }
    {  // x², x·y, and local ops: add, average pool, reshape
      Builder b("poly-local-" + tag, ell);
      const auto x = b.value({1, 2, 4, 4}), q = b.value({1, 2, 4, 4}), m = b.value({1, 2, 4, 4}),
                 a = b.value({1, 2, 4, 4}), p = b.value({1, 2, 2, 2}), f = b.value({1, 8});
      FxNode sq = FxNode::of(FxOp::kSquare);
      b.node(sq, {x}, q);
      FxNode mu = FxNode::of(FxOp::kMul);
      b.node(mu, {x, q}, m);
      FxNode ad = FxNode::of(FxOp::kAdd);
      b.node(ad, {m, x}, a);
      FxNode av = FxNode::of(FxOp::kAvgPool);
      nn::FxPoolAttrs& w = av.pool();
      w.C = 2; w.H = 4; w.W = 4; w.kh = 2; w.kw = 2; w.sh = 2; w.sw = 2;
      b.node(av, {a}, p);
      FxNode re = FxNode::of(FxOp::kReshape);
      b.node(re, {p}, f);
      // a public product and a broadcast of a [1,2,1,1] gate (squeeze-and-excitation)
      const auto g = b.value({1, 2, 1, 1}), e = b.value({1, 2, 4, 4}), mp = b.value({1, 8});
      FxNode gp = FxNode::of(FxOp::kSlice);
      gp.slice() = {{0, 0, 0, 0}, {1, 1, 4, 4}};
      b.node(gp, {x}, g);
      FxNode ex = FxNode::of(FxOp::kExpand);
      b.node(ex, {g}, e);
      FxNode mpub = FxNode::of(FxOp::kMulPublic);
      mpub.public_const().constant = -683;
      b.node(mpub, {f}, mp);
      Program prog = b.done(x, mp);
      out.push_back(std::move(prog));
    }
  }
  return out;
}

struct Measured {
  std::vector<u64> out;
  u64 c2s = 0, s2c = 0;
};

/// Runs `planned` on node i of p two-party: plain inputs split into random shares, output
/// reconstructed; bytes counted from after the set-up.
Measured run_two_party(const Program& p, std::size_t i, const PlannedLayer& planned, bool he,
                       const std::vector<std::vector<u64>>& plain) {
  mpc::test_util::SessionPair sp;
  std::unique_ptr<Prepared> prep = planned.prepare(p.m.weights);
  std::vector<mpc::ArithShares> sh0, sh1;
  Prg split = Prg::from_seed(mpc::test_util::test_seed(77));
  for (std::size_t k = 0; k < plain.size(); ++k) {
    const mpc::Ring ring(p.m.plan.values[p.m.plan.nodes[i].inputs[k]].ring_bits);
    auto [a, b] = mpc::split(ring, plain[k], split);
    sh0.push_back(std::move(a));
    sh1.push_back(std::move(b));
  }
  std::vector<linear::HeClient> hc;
  std::vector<linear::HeServer> hs;
  const std::vector<HeNeed> needs = planned.he_needs();
  EXPECT_EQ(needs.empty(), !he) << "an HE layer declares its parameter set, an OT one none";
  u64 c_sent0 = 0, s_sent0 = 0;
  mpc::ArithShares y0, y1;
  peregrine::test::run_parties(
      [&] {
        for (const HeNeed& h : needs) hs.push_back(linear::he_server_setup(*sp.ch0, h.params, h.galois_elements));
        sp.ch0->flush();
        s_sent0 = sp.ch0->stats().bytes_sent;
        PartyContext ctx = PartyContext::of(*sp.s0, {}, hs);
        std::vector<const mpc::ArithShares*> in;
        for (auto& s : sh0) in.push_back(&s);
        y0 = planned.run(ctx, in, prep.get());
        sp.ch0->flush();
      },
      [&] {
        Prg prg = Prg::from_seed(mpc::test_util::test_seed(78));
        for (const HeNeed& h : needs) hc.push_back(linear::he_client_setup(*sp.ch1, h.params, prg, h.galois_elements));
        sp.ch1->flush();
        c_sent0 = sp.ch1->stats().bytes_sent;
        PartyContext ctx = PartyContext::of(*sp.s1, hc, {});
        std::vector<const mpc::ArithShares*> in;
        for (auto& s : sh1) in.push_back(&s);
        y1 = planned.run(ctx, in, nullptr);
        sp.ch1->flush();
      });
  Measured r;
  r.out = mpc::reconstruct(y0, y1);
  r.c2s = sp.ch1->stats().bytes_sent - c_sent0;
  r.s2c = sp.ch0->stats().bytes_sent - s_sent0;
  return r;
}

bool is_he(FxOp op) { return op == FxOp::kConv || op == FxOp::kGemm || op == FxOp::kAffine; }

}  // namespace

TEST(Conformance, EveryRegisteredStrategyMatchesItsIdealAndItsCost) {
  std::map<std::string, int> covered;
  for (const Strategy* s : registry()) covered[std::string(s->name())] = 0;
  for (const Program& p : programs()) {
    const auto& plan = p.m.plan;
    const NetworkProfile profile = NetworkProfile::lan();
    const auto consumers = value_consumers(plan);
    const bool any_he = std::any_of(plan.nodes.begin(), plan.nodes.end(), [](const FxNode& n) { return is_he(n.op); });
    std::map<int, he::HeParamsPtr> he_by_ring;
    if (any_he) he_by_ring[plan.ring_bits] = he::HeParams::cheetah(plan.ring_bits);
    // Random inputs: |v| < 2^{ℓ−4} (every protocol's headroom), ≥ 0 where the plan says so.
    Prg prg = Prg::from_seed(mpc::test_util::test_seed(static_cast<std::uint8_t>(plan.ring_bits)));
    std::vector<std::vector<u64>> vals(plan.values.size());
    for (std::size_t v = 0; v < plan.values.size(); ++v) {
      const bool nonneg = std::find(p.nonneg_inputs.begin(), p.nonneg_inputs.end(), v) != p.nonneg_inputs.end();
      const mpc::Ring ring(plan.values[v].ring_bits);
      const auto bounded = p.bounded_inputs.find(v);
      const u64 lim = bounded != p.bounded_inputs.end() ? static_cast<u64>(bounded->second) : u64{1} << (ring.bits - 4);
      for (std::int64_t k = 0; k < nn::element_count(plan.values[v].shape); ++k) {
        std::int64_t x = static_cast<std::int64_t>(prg.next_u64() % (2 * lim)) - static_cast<std::int64_t>(lim);
        if (nonneg) x = x < 0 ? -x : x;
        // a few values at the edges of the shifted-out bits
        if (k < 4) x = k == 0 ? 0 : k == 1 ? -1 : k == 2 ? 1 : -(std::int64_t{1} << 6);
        if (nonneg && x < 0) x = -x;
        if (bounded != p.bounded_inputs.end()) x = std::clamp(x, -bounded->second, bounded->second);
        vals[v].push_back(static_cast<u64>(x) & ring.mask);
      }
    }
    for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
      const FxNode& n = plan.nodes[i];
      const PlanContext ctx{plan, profile, he_by_ring, Fidelity::kApprox, consumers};
      std::vector<std::vector<u64>> in;
      for (std::size_t v : n.inputs) in.push_back(vals[v]);
      for (const Strategy* s : registry()) {
        if (!s->applies(n, ctx)) continue;
        SCOPED_TRACE(std::string(s->name()) + " on " + n.name);
        ++covered[std::string(s->name())];
        const auto planned = s->plan(n, ctx);
        // Linear ops run on HE except the OT GEMM strategies (ot-conv*).
        const bool he = is_he(n.op) && std::string(s->name()).rfind("ot-", 0) != 0;
        const Measured got = run_two_party(p, i, *planned, he, in);
        const std::vector<u64> want = s->ideal(p.m, i, in);
        ASSERT_EQ(got.out.size(), want.size());
        const u64 tol = s->tolerance(n, ctx);
        const mpc::Ring ring(plan.values[n.output].ring_bits);
        u64 worst = 0;
        for (std::size_t k = 0; k < want.size(); ++k)
          worst = std::max<u64>(worst, static_cast<u64>(std::llabs(ring.centred(got.out[k] - want[k]))));
        EXPECT_LE(worst, tol) << "largest error " << worst << " above the stated tolerance " << tol;
        const Cost c = planned->cost();
        std::printf("  %-26s %-28s c2s %8llu (est %8llu)  s2c %8llu (est %8llu)  err %llu/%llu\n",
                    std::string(s->name()).c_str(), n.name.c_str(), static_cast<unsigned long long>(got.c2s),
                    static_cast<unsigned long long>(c.bytes_c2s), static_cast<unsigned long long>(got.s2c),
                    static_cast<unsigned long long>(c.bytes_s2c), static_cast<unsigned long long>(worst),
                    static_cast<unsigned long long>(tol));
        const double m = static_cast<double>(got.c2s + got.s2c), e = static_cast<double>(c.bytes_c2s + c.bytes_s2c);
        if (c.exact_bytes) {
          EXPECT_EQ(got.c2s, c.bytes_c2s);
          EXPECT_EQ(got.s2c, c.bytes_s2c);
        } else if (want.size() >= 4096) {
          // OT estimates at scale: both directions together within [2/3, 3/2] of the measurement.
          EXPECT_TRUE(e >= m / 1.5 && e <= 1.5 * m) << "measured " << m << " bytes, estimated " << e;
        } else {
          // Small layers: a Ferret refill (about 18 kB each way) can dominate; only "talks or not".
          EXPECT_EQ(m > 0, e > 0) << "measured " << m << " bytes, estimated " << e;
        }
      }
    }
  }
  for (const auto& [name, count] : covered) EXPECT_GT(count, 0) << "registered strategy '" << name << "' applies to no node of the suite";
}
