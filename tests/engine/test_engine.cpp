// The two-party engine: both parties as threads over an in-memory channel; the revealed logits
// must equal the fixed-point reference (nn::run_fixed) bit for bit, on a synthetic graph that uses
// every program op and on real models with real images. Plus the handshake refusing mismatched
// plans, a malformed plan, and a peer that drops mid-session.
#include <gtest/gtest.h>

#include <bit>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <thread>

#include "../common/qdq_model.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/engine/engine.hpp"
#include "peregrine/engine/wire.hpp"
#include "peregrine/linear/conv.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/nn/float_exec.hpp"
#include "peregrine/nn/input.hpp"
#include "peregrine/nn/onnx_import.hpp"

using namespace peregrine;
using namespace peregrine::nn;
namespace fs = std::filesystem;

namespace {

const fs::path kData = PEREGRINE_SHARED_DATA_DIR;
const fs::path kModels = PEREGRINE_MODELS_DIR;

/// Builds a small graph by hand: every lowering path (Conv with groups and stride, BN affine,
/// Clip, padded MaxPool, AveragePool, residual Add, x², x·y, Sub, Slice, Pad, Concat, Flatten,
/// Gemm, Softmax at the end).
struct Builder {
  Graph g;
  Prg prg = Prg::from_seed(Seed{});
  int k = 0;
  float uniform(float a) {
    std::uint32_t r = 0;
    prg.fill(&r, sizeof r);
    return a * (static_cast<float>(r) / 4294967296.0f * 2.0f - 1.0f);
  }
  std::string init(const Shape& s, float a) {
    std::string name = "w" + std::to_string(k++);
    Tensor t;
    t.shape = s;
    t.data.resize(static_cast<std::size_t>(element_count(s)));
    for (auto& v : t.data) v = uniform(a);
    g.initializers[name] = t;
    g.shapes[name] = s;
    return name;
  }
  std::string node(const std::string& op, std::vector<std::string> in, const Shape& out,
                   std::map<std::string, Attribute> attrs = {}) {
    Node n;
    n.name = op + std::to_string(k);
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {"v" + std::to_string(k++)};
    n.attrs = std::move(attrs);
    g.shapes[n.outputs[0]] = out;
    g.nodes.push_back(n);
    return n.outputs[0];
  }
};

Graph synthetic() {
  Builder b;
  b.g.inputs = {"x"};
  b.g.shapes["x"] = {1, 4, 8, 8};
  using A = Attribute;
  auto c1 = b.node("Conv", {"x", b.init({8, 4, 3, 3}, 0.4f), b.init({8}, 0.2f)}, {1, 8, 8, 8},
                   {{"strides", A::of_ints({1, 1})}, {"pads", A::of_ints({1, 1, 1, 1})}, {"group", A::of_int(1)}});
  auto r1 = b.node("Relu", {c1}, {1, 8, 8, 8});
  auto dw = b.node("Conv", {r1, b.init({8, 1, 3, 3}, 0.5f)}, {1, 8, 4, 4},
                   {{"strides", A::of_ints({2, 2})}, {"pads", A::of_ints({1, 1, 1, 1})}, {"group", A::of_int(8)}});
  auto bn = b.node("BatchNormalization", {dw, b.init({8}, 1.0f), b.init({8}, 0.3f), b.init({8}, 0.2f), "var"},
                   {1, 8, 4, 4}, {{"epsilon", A::of_float(1e-5f)}});
  b.g.initializers["var"] = Tensor{{8}, std::vector<float>(8, 0.8f)};
  b.g.shapes["var"] = {8};
  auto cl = b.node("Clip", {bn}, {1, 8, 4, 4}, {{"min", A::of_float(-0.5f)}, {"max", A::of_float(1.5f)}});
  auto mp = b.node("MaxPool", {r1}, {1, 8, 4, 4},
                   {{"kernel_shape", A::of_ints({3, 3})}, {"strides", A::of_ints({2, 2})}, {"pads", A::of_ints({1, 1, 1, 1})}});
  auto add = b.node("Add", {cl, mp}, {1, 8, 4, 4});
  auto sq = b.node("Mul", {add, add}, {1, 8, 4, 4});
  auto mu = b.node("Mul", {sq, cl}, {1, 8, 4, 4});
  auto sc = b.node("Mul", {mu, b.init({1, 8, 1, 1}, 0.7f)}, {1, 8, 4, 4});
  auto sub = b.node("Sub", {sc, b.init({1, 8, 1, 1}, 0.3f)}, {1, 8, 4, 4});
  auto ap = b.node("AveragePool", {sub}, {1, 8, 2, 2},
                   {{"kernel_shape", A::of_ints({3, 3})}, {"strides", A::of_ints({2, 2})}, {"pads", A::of_ints({1, 1, 0, 0})},
                    {"count_include_pad", A::of_int(0)}});
  auto sl = b.node("Slice", {ap}, {1, 4, 2, 1},
                   {{"starts", A::of_ints({0, 0, 0, 1})}, {"steps", A::of_ints({1, 2, 1, 1})}});
  auto pd = b.node("Pad", {sl}, {1, 6, 2, 2}, {{"pads", A::of_ints({0, 1, 0, 0, 0, 1, 0, 1})}});
  auto cat = b.node("Concat", {pd, ap}, {1, 14, 2, 2}, {{"axis", A::of_int(1)}});
  auto gp = b.node("GlobalAveragePool", {cat}, {1, 14, 1, 1});
  auto fl = b.node("Flatten", {gp}, {1, 14}, {{"axis", A::of_int(1)}});
  auto fc = b.node("Gemm", {fl, b.init({5, 14}, 0.5f), b.init({5}, 0.1f)}, {1, 5});
  auto sm = b.node("Softmax", {fc}, {1, 5}, {{"axis", A::of_int(1)}});
  b.g.outputs = {sm};
  return b.g;
}

Tensor random_input(const Shape& s, std::uint8_t seed) {
  Seed sd{};
  sd[0] = seed;
  Prg prg = Prg::from_seed(sd);
  Tensor t;
  t.shape = s;
  t.data.resize(static_cast<std::size_t>(element_count(s)));
  for (auto& v : t.data) {
    std::uint32_t r = 0;
    prg.fill(&r, sizeof r);
    v = 2.0f * (static_cast<float>(r) / 4294967296.0f) - 1.0f;
  }
  return t;
}

void expect_private_equals_fixed(const FixedModel& m, const engine::ServerModel& server, const Tensor& x) {
  auto run = engine::run_local(server, [&](const FixedPlan&) { return x.data; });
  auto want = run_fixed(m, quantize_input(m.plan, x.data));
  EXPECT_EQ(run.client.logits_ring, want);
  EXPECT_EQ(run.client.report.layers.size(), m.plan.nodes.size());
  EXPECT_EQ(run.server.layers.size(), m.plan.nodes.size());
  // bytes seen by the two parties agree
  EXPECT_EQ(run.client.report.online_bytes_sent, run.server.online_bytes_received);
  EXPECT_EQ(run.server.online_bytes_sent, run.client.report.online_bytes_received);
}

}  // namespace

TEST(Engine, SyntheticGraphEveryOpBitExact) {
  Graph g = synthetic();
  std::vector<Tensor> calib = {random_input({1, 4, 8, 8}, 1), random_input({1, 4, 8, 8}, 2)};
  FixedModel m = quantize_model(g, calib);
  EXPECT_EQ(m.plan.postprocess, "Softmax");
  engine::ServerModel server(m);
  for (std::uint8_t s : {3, 4}) expect_private_equals_fixed(m, server, random_input({1, 4, 8, 8}, s));
  // and the client's softmax of the fixed logits is close to the float model's
  Tensor x = random_input({1, 4, 8, 8}, 5);
  auto run = engine::run_local(server, [&](const FixedPlan&) { return x.data; });
  auto probs = postprocess(run.client.plan->fixed(), run.client.logits);
  auto ref = run_float(g, {x})[0].data;
  ASSERT_EQ(probs.size(), ref.size());
  for (std::size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(probs[k], ref[k], 0.02) << k;
}

/// The shipped digits model, its test images and preprocessing, calibrated on its last 8 images.
struct Digits {
  Graph g = load_onnx((kModels / "digits_cnn.onnx").string());
  Dataset ds = Dataset::open((kModels / "digits-test-images-idx3-ubyte").string());
  Preprocess pp = preprocess_from_metadata(g.metadata);
  Tensor image(std::size_t i) const { return {g.shape_of("input"), apply_preprocess(ds.record(i), pp)}; }
  std::vector<Tensor> calibration() const {
    std::vector<Tensor> calib;
    for (std::size_t i = 0; i < 8; ++i) calib.push_back(image(ds.size() - 1 - i));
    return calib;
  }
};

TEST(Engine, DigitsModelOnRealImagesEqualsFixedReference) {
  const Digits d;
  FixedModel m = quantize_model(d.g, d.calibration());
  engine::ServerModel server(m);
  for (std::size_t i = 0; i < 3; ++i) expect_private_equals_fixed(m, server, d.image(i));
}

// Per-tensor rings (nn::FixedOptions::Rings::kPerTensor): every value in its own ring, with
// extensions and reductions on shares between them; the private logits still equal the reference.
TEST(Engine, PerTensorRingsDigitsModelEqualsFixedReference) {
  const Digits d;
  FixedOptions opt;
  opt.rings = FixedOptions::Rings::kPerTensor;
  FixedModel m = quantize_model(d.g, d.calibration(), opt);
  EXPECT_FALSE(is_uniform(m.plan));
  bool has_extend = false;
  for (const auto& n : m.plan.nodes) has_extend = has_extend || n.op == FxOp::kExtend;
  EXPECT_TRUE(has_extend);
  // the plan survives its JSON form (per-value rings included)
  EXPECT_EQ(plan_to_json(plan_from_json(plan_to_json(m.plan))), plan_to_json(m.plan));
  engine::ServerModel server(m);
  for (std::size_t i = 0; i < 2; ++i) expect_private_equals_fixed(m, server, d.image(i));
}

// A polynomial-activation network whose activations reach ~10^3 (x² ~ 10^5): one uniform ring
// would need more than the HE layers' 44 bits, so --rings auto plans per tensor (rings, and the
// scale of each HE layer's input chosen so that the layer fits 44 bits); it runs privately and
// equals its fixed-point reference, which stays close to the float model.
TEST(Engine, LargeActivationsRunWithPerTensorFormats) {
  Builder b;
  b.g.inputs = {"x"};
  b.g.shapes["x"] = {1, 2, 6, 6};
  using A = Attribute;
  const std::map<std::string, Attribute> conv = {
      {"strides", A::of_ints({1, 1})}, {"pads", A::of_ints({1, 1, 1, 1})}, {"group", A::of_int(1)}};
  auto c1 = b.node("Conv", {"x", b.init({4, 2, 3, 3}, 100.0f)}, {1, 4, 6, 6}, conv);
  auto sq = b.node("Mul", {c1, c1}, {1, 4, 6, 6});
  auto c2 = b.node("Conv", {sq, b.init({4, 4, 3, 3}, 0.05f)}, {1, 4, 6, 6}, conv);
  auto r = b.node("Relu", {c2}, {1, 4, 6, 6});
  auto fl = b.node("Flatten", {r}, {1, 144}, {{"axis", A::of_int(1)}});
  auto fc = b.node("Gemm", {fl, b.init({3, 144}, 0.001f), b.init({3}, 0.1f)}, {1, 3});
  b.g.outputs = {fc};
  std::vector<Tensor> calib;
  for (std::uint8_t k = 1; k <= 4; ++k) calib.push_back(random_input({1, 2, 6, 6}, k));

  FixedOptions uniform;
  uniform.rings = FixedOptions::Rings::kUniform;
  FixedModel mu = quantize_model(b.g, calib, uniform);
  EXPECT_GT(mu.plan.ring_bits, 44);
  EXPECT_THROW(engine::ServerModel{mu}, Error);  // a uniform plan cannot run its HE layers

  FixedModel m = quantize_model(b.g, calib);  // auto
  EXPECT_FALSE(is_uniform(m.plan));
  EXPECT_GT(m.plan.ring_bits, 44);  // the x² before its truncation (on OT, not HE)
  for (const auto& n : m.plan.nodes) {
    if (n.op == FxOp::kConv || n.op == FxOp::kGemm) {
      EXPECT_LE(value_ring(m.plan, n.output), 44) << n.name;
    }
  }
  engine::ServerModel server(m);
  for (std::uint8_t k = 11; k <= 12; ++k) {
    const Tensor x = random_input({1, 2, 6, 6}, k);
    expect_private_equals_fixed(m, server, x);
    const auto fixed = dequantize(m.plan, run_fixed(m, quantize_input(m.plan, x.data)));
    const auto ref = run_float(b.g, {x})[0].data;
    float top = 0;
    for (float v : ref) top = std::max(top, std::fabs(v));
    for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(fixed[i], ref[i], 1e-3 * top) << i;
  }
}

TEST(Engine, Resnet20OnOneCifarImageEqualsFixedReference) {
  fs::path model = kData / "onnx" / "resnet20_cifar10.onnx";
  fs::path data = kData / "cifar10" / "test_batch_first1017_lossless.bin";
  if (!fs::exists(model) || !fs::exists(data)) GTEST_SKIP() << "shared data not present";
  Graph g = load_onnx(model.string());
  Dataset ds = Dataset::open(data.string());
  Preprocess pp = preprocess_from_metadata(g.metadata);
  std::vector<Tensor> calib;
  for (std::size_t i = 0; i < 4; ++i) calib.push_back({g.shape_of("input"), apply_preprocess(ds.record(1000 + i), pp)});
  FixedModel m = quantize_model(g, calib);
  engine::ServerModel server(m);
  expect_private_equals_fixed(m, server, {g.shape_of("input"), apply_preprocess(ds.record(0), pp)});
}

namespace {

Graph tiny(float w) {
  Builder b;
  b.g.inputs = {"x"};
  b.g.shapes["x"] = {1, 3};
  auto fc = b.node("Gemm", {"x", "W"}, {1, 2});
  b.g.initializers["W"] = Tensor{{2, 3}, {w, 0.5f, -0.25f, 1.0f, 0.0f, 0.75f}};
  b.g.shapes["W"] = {2, 3};
  auto r = b.node("Relu", {fc}, {1, 2});
  b.g.outputs = {r};
  return b.g;
}

/// Runs server and client on their own threads over a memory pair, closing each channel when its
/// party ends; returns both errors (empty when none).
std::pair<std::string, std::string> run_pair(const std::function<void(net::Channel&)>& server,
                                             const std::function<void(net::Channel&)>& client) {
  net::ChannelOptions o;
  o.read_timeout = std::chrono::milliseconds(5000);
  auto [a, b] = net::make_memory_pair(o);
  std::string es, ec;
  std::thread t([&, ch = std::move(a)]() mutable {
    try {
      server(*ch);
    } catch (const Error& e) {
      es = e.what();
    }
    ch.reset();
  });
  try {
    client(*b);
  } catch (const Error& e) {
    ec = e.what();
  }
  b.reset();
  t.join();
  return {es, ec};
}

/// The server side of run_pair: one session of `model`.
std::function<void(net::Channel&)> serving(const engine::ServerModel& model) {
  return [&model](net::Channel& ch) {
    Prg prg = Prg::from_os();
    engine::serve_session(ch, model, prg);
  };
}

}  // namespace

TEST(Engine, HandshakeRefusesADifferentPlanOnBothSides) {
  Tensor x{{1, 3}, {0.5f, -1.0f, 2.0f}};
  FixedModel m1 = quantize_model(tiny(1.0f), {x});
  FixedModel m2 = quantize_model(tiny(1.0f), {x});
  engine::ServerModel s1(m1);
  engine::ServerModel s2(m2);
  // The client insists on a plan hash; here both are the same model, so it succeeds ...
  auto expected = s2.plan().hash();
  auto [e0, e1] = run_pair(
      serving(s1),
      [&](net::Channel& ch) {
        Prg prg = Prg::from_os();
        engine::client_session(ch, [&](const FixedPlan&) { return x.data; }, prg, &expected);
      });
  EXPECT_EQ(e0, "");
  EXPECT_EQ(e1, "");
  // ... and with another expected hash the client refuses before any secret flows; the server
  // sees the session end.
  expected[0] ^= 1;
  std::tie(e0, e1) = run_pair(
      serving(s1),
      [&](net::Channel& ch) {
        Prg prg = Prg::from_os();
        engine::client_session(ch, [&](const FixedPlan&) { return x.data; }, prg, &expected);
      });
  EXPECT_NE(e1.find("not the one this client expects"), std::string::npos) << e1;
  EXPECT_NE(e0, "");
}

TEST(Engine, OtBackendsMustMatchAndBothRunTheSameResult) {
  Tensor x{{1, 3}, {0.5f, -1.0f, 2.0f}};
  FixedModel m = quantize_model(tiny(1.0f), {x});
  engine::ServerModel server(m);
  // A silent-OT server and an IKNP client: both sides stop at the hello with the reason.
  auto [e0, e1] = run_pair(
      [&](net::Channel& ch) {
        Prg prg = Prg::from_os();
        engine::serve_session(ch, server, prg, mpc::OtBackend::kSilent);
      },
      [&](net::Channel& ch) {
        Prg prg = Prg::from_os();
        engine::client_session(ch, [&](const FixedPlan&) { return x.data; }, prg, nullptr, mpc::OtBackend::kIknp);
      });
  EXPECT_NE(e0.find("different OT back-ends"), std::string::npos) << e0;
  EXPECT_NE(e1.find("different OT back-ends"), std::string::npos) << e1;
  // Matching back-ends: the same logits, equal to the fixed-point reference, on either.
  const auto want = run_fixed(m, quantize_input(m.plan, x.data));
  for (auto ot : {mpc::OtBackend::kSilent, mpc::OtBackend::kIknp}) {
    auto run = engine::run_local(server, [&](const FixedPlan&) { return x.data; }, {}, ot);
    EXPECT_EQ(run.client.logits_ring, want) << mpc::ot_backend_name(ot);
  }
}

namespace {

/// The client's error when a "server" sends `plan_frame` as its first frame and then waits.
std::string client_error_for_plan(const std::string& plan_frame, const Tensor& x) {
  return run_pair(
             [&](net::Channel& ch) {
               ch.send_frame({reinterpret_cast<const std::uint8_t*>(plan_frame.data()), plan_frame.size()});
               ch.flush();
               std::this_thread::sleep_for(std::chrono::milliseconds(50));
             },
             [&](net::Channel& ch) {
               Prg prg = Prg::from_os();
               engine::client_session(ch, [&](const FixedPlan&) { return x.data; }, prg);
             })
      .second;
}

}  // namespace

TEST(Engine, MalformedPlanAndGarbageFromTheServerAreRejected) {
  Tensor x{{1, 3}, {0.5f, -1.0f, 2.0f}};
  for (std::string bad : {std::string("not json\nlocal"), std::string("{}\n"), std::string(100, '\xff')}) {
    const std::string e1 = client_error_for_plan(bad, x);
    EXPECT_NE(e1.find("malformed_input"), std::string::npos) << e1;
  }
}

// A ReLU6 network runs with the one-pass clip (private = fixed point), and a server whose plan
// holds a Clip with its bounds out of order, or beyond the ring, is refused by the client
// (malformed_input) before anything else happens.
TEST(Engine, ClipRunsPrivatelyAndBadClipBoundsFromTheServerAreRejected) {
  Builder b;
  b.g.inputs = {"x"};
  b.g.shapes["x"] = {1, 3};
  auto fc = b.node("Gemm", {"x", "W"}, {1, 2});
  b.g.initializers["W"] = Tensor{{2, 3}, {2.0f, 0.5f, -0.25f, 1.0f, 3.0f, 0.75f}};
  b.g.shapes["W"] = {2, 3};
  auto c = b.node("Clip", {fc}, {1, 2}, {{"min", Attribute::of_float(0.0f)}, {"max", Attribute::of_float(6.0f)}});
  b.g.outputs = {c};
  Tensor x{{1, 3}, {2.5f, -1.0f, 2.0f}};
  FixedModel m = quantize_model(b.g, {x, Tensor{{1, 3}, {-1.0f, 1.0f, 0.5f}}});
  engine::ServerModel server(m);
  std::size_t clips = 0;
  for (std::size_t i = 0; i < m.plan.nodes.size(); ++i)
    if (m.plan.nodes[i].op == FxOp::kClip) {
      ++clips;
      EXPECT_EQ(server.plan().layers()[i].strategy, "clip-millionaire");
    }
  ASSERT_EQ(clips, 1u);
  const auto want = run_fixed(m, quantize_input(m.plan, x.data));
  auto run = engine::run_local(server, [&](const FixedPlan&) { return x.data; });
  EXPECT_EQ(run.client.logits_ring, want);
  const std::string text = server.plan().wire_text();
  const auto hi_at = text.find("\"hi\":");
  ASSERT_NE(hi_at, std::string::npos) << text;
  const auto hi_end = text.find_first_of(",}", hi_at);
  for (const std::string& hi : {std::string("-1"), std::string("4611686018427387904")}) {
    std::string bad = text;
    bad.replace(hi_at, hi_end - hi_at, "\"hi\":" + hi);
    const std::string e1 = client_error_for_plan(bad, x);
    EXPECT_NE(e1.find("malformed_input"), std::string::npos) << "hi " << hi << ": " << e1;
  }
}

// The client's progress callback sees every node once, in order, with its report.
TEST(Engine, ProgressIsReportedAfterEveryNode) {
  Tensor x{{1, 3}, {0.5f, -1.0f, 2.0f}};
  FixedModel m = quantize_model(tiny(1.0f), {x});
  engine::ServerModel server(m);
  std::vector<std::size_t> done;
  std::vector<std::string> ops;
  auto run = engine::run_local(server, [&](const FixedPlan&) { return x.data; }, {}, mpc::OtBackend::kSilent,
                               [&](const engine::LayerReport& l, std::size_t d, std::size_t total) {
                                 EXPECT_EQ(total, m.plan.nodes.size());
                                 done.push_back(d);
                                 ops.push_back(l.op);
                               });
  ASSERT_EQ(done.size(), m.plan.nodes.size());
  for (std::size_t i = 0; i < done.size(); ++i) {
    EXPECT_EQ(done[i], i + 1);
    EXPECT_EQ(ops[i], nn::fx_op_name(m.plan.nodes[i].op));
  }
  EXPECT_EQ(run.client.report.layers.size(), done.size());
}

TEST(Engine, ClientDroppingMidSessionEndsTheServerWithAnError) {
  Tensor x{{1, 3}, {0.5f, -1.0f, 2.0f}};
  FixedModel m = quantize_model(tiny(1.0f), {x});
  engine::ServerModel s(m);
  // The client's input callback fails (e.g. an unreadable image) after the set-up.
  auto [e0, e1] = run_pair(
      serving(s),
      [&](net::Channel& ch) {
        Prg prg = Prg::from_os();
        engine::client_session(ch, [&](const FixedPlan&) -> std::vector<float> {
          throw Error(ErrorCode::kInvalidArgument, "bad image");
        }, prg);
      });
  EXPECT_NE(e1.find("bad image"), std::string::npos) << e1;
  EXPECT_NE(e0.find("peer_closed"), std::string::npos) << e0;
  // A client sending a wrong-size input is refused locally before anything is sent.
  std::tie(e0, e1) = run_pair(
      serving(s),
      [&](net::Channel& ch) {
        Prg prg = Prg::from_os();
        engine::client_session(ch, [&](const FixedPlan&) { return std::vector<float>{1.0f}; }, prg);
      });
  EXPECT_NE(e1.find("invalid_argument"), std::string::npos) << e1;
  EXPECT_NE(e0, "");
}

// Fuzz regression (fuzz_onnx): a convolution may pad more than its kernel (PyTorch allows a 1×1
// conv with padding 1); the server planned it but the client refused the plan ("pads"), so such a
// model could never be served. Now the session runs and equals the fixed-point reference.
TEST(Engine, ConvPaddedMoreThanItsKernelRunsEndToEnd) {
  Builder b;
  b.g.inputs = {"x"};
  b.g.shapes["x"] = {1, 2, 3, 3};
  using A = Attribute;
  auto c = b.node("Conv", {"x", b.init({3, 2, 1, 1}, 0.5f), b.init({3}, 0.2f)}, {1, 3, 5, 6},
                  {{"strides", A::of_ints({1, 1})}, {"pads", A::of_ints({1, 2, 1, 1})}, {"group", A::of_int(1)}});
  auto f = b.node("Flatten", {c}, {1, 90}, {{"axis", A::of_int(1)}});
  b.g.outputs = {b.node("Gemm", {f, b.init({4, 90}, 0.3f)}, {1, 4})};
  const Tensor x = random_input({1, 2, 3, 3}, 6);
  FixedModel m = quantize_model(b.g, {x});
  engine::ServerModel server(m);
  const std::string& text = server.plan().wire_text();
  EXPECT_EQ(engine::detail::decode_plan({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()})->hash(),
            server.plan().hash());
  expect_private_equals_fixed(m, server, x);
}

// The hello on the wire (engine/wire.hpp): 52 bytes that round-trip, and every field checked.
TEST(Engine, HelloDecodesOnlyFiftyTwoBytesAndChecksEveryField) {
  using namespace engine::detail;
  FixedModel m = quantize_model(tiny(1.0f), {Tensor{{1, 3}, {0.5f, -1.0f, 2.0f}}});
  engine::ProtocolPlan plan(m.plan, engine::NetworkProfile::lan());
  const Hello server = hello_for(plan, mpc::Party::kServer, mpc::OtBackend::kSilent);
  const Hello client = hello_for(plan, mpc::Party::kClient, mpc::OtBackend::kSilent);
  std::vector<std::uint8_t> b = encode_hello(server);
  ASSERT_EQ(b.size(), kHelloBytes);
  EXPECT_EQ(encode_hello(decode_hello(b)), b);
  EXPECT_NO_THROW(check_hello(client, decode_hello(b)));
  for (std::size_t n : {std::size_t{0}, std::size_t{51}, std::size_t{53}}) {
    std::vector<std::uint8_t> c = b;
    c.resize(n);
    EXPECT_THROW(decode_hello(c), Error) << n;
  }
  // Flipping any bit of the hello is refused (the role byte holds 0 or 1, nothing else).
  for (std::size_t i = 0; i < 8 * kHelloBytes; ++i) {
    std::vector<std::uint8_t> c = b;
    c[i / 8] ^= static_cast<std::uint8_t>(1u << (i % 8));
    try {
      check_hello(client, decode_hello(c));
      ADD_FAILURE() << "bit " << i << " flipped and accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kProtocol) << i;
    }
  }
}

// Hostile-plan regression (fuzz_handshake seeds, found by hand-crafted plans): a 500-byte plan
// with one batch-norm over 2^28 elements or one 4096→4096-channel conv on 64×64 passed every
// check and made the client build the HE layout (2.6 GB, seconds; a 16384-channel conv did not
// finish). Now the size budget refuses them before any layer is planned.
TEST(Engine, PlansAboveTheSizeBudgetAreRefusedBeforePlanning) {
  auto make = [](FxOp op, const Shape& in, const Shape& out, auto&& set) {
    FixedPlan p;
    p.ring_bits = 37;
    p.frac_bits = 12;
    p.values = {{"x", in, 12, 37}, {"c", out, 24, 37}, {"y", out, 12, 37}};
    FxNode he = FxNode::of(op);
    he.name = "big";
    he.inputs = {0};
    he.output = 1;
    he.weights()->weight_bits = 13;
    set(he);
    FxNode t = FxNode::of(FxOp::kTrunc);
    t.name = "t";
    t.inputs = {1};
    t.output = 2;
    t.shift().shift = 12;
    p.nodes = {he, t};
    p.input = 0;
    p.output = 2;
    return p;
  };
  const std::int64_t k14 = std::int64_t{1} << 14;
  struct Case {
    FixedPlan plan;
    const char* strategy;
  };
  std::vector<Case> cases;
  cases.push_back({make(FxOp::kAffine, {1, k14, k14}, {1, k14, k14}, [&](FxNode& n) { n.affine().C = k14; n.affine().inner = k14; }),
                   "cheetah-bn"});
  cases.push_back({make(FxOp::kConv, {1, 4096, 64, 64}, {1, 4096, 64, 64}, [](FxNode& n) {
                     FxConvAttrs& a = n.conv();
                     a.C = 4096; a.H = 64; a.W = 64; a.M = 4096; a.kh = 1; a.kw = 1;
                   }),
                   "cheetah-conv"});
  cases.push_back({make(FxOp::kGemm, {1, std::int64_t{1} << 24}, {1, 1024}, [](FxNode& n) { n.gemm().K = std::int64_t{1} << 24; n.gemm().N = 1024; }),
                   "cheetah-fc"});
  for (const Case& c : cases) {
    const std::string text = plan_to_json(c.plan) + "\n" + c.strategy + ",trunc-exact";
    ASSERT_NO_THROW(plan_from_json(text.substr(0, text.find('\n'))));  // a valid plan, only too big
    try {
      engine::detail::decode_plan({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
      ADD_FAILURE() << c.strategy << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
    }
    EXPECT_THROW(engine::ProtocolPlan(c.plan, engine::NetworkProfile::lan()), Error) << c.strategy;
  }
}

// The planner weighs falcon-dw against cheetah-conv's block-diagonal run of a depthwise layer by
// cost: on a small many-channel plane the packing wins, on a large single-tile plane the dense
// layout stays (and a dense conv is never offered to falcon-dw); --strategies can force either.
TEST(Engine, PlannerChoosesTheDepthwisePackingByCost) {
  auto dw_plan = [](std::int64_t C, std::int64_t H, std::int64_t groups, std::int64_t M) {
    FixedPlan p;
    p.ring_bits = 37;
    p.frac_bits = 12;
    const std::int64_t Ho = H;
    p.values = {{"x", {1, C, H, H}, 12, 37}, {"y", {1, M, Ho, Ho}, 24, 37}};
    FxNode n = FxNode::of(FxOp::kConv);
    n.name = "dw";
    n.inputs = {0};
    n.output = 1;
    FxConvAttrs& a = n.conv();
    a.C = C;
    a.H = a.W = H;
    a.M = M;
    a.kh = a.kw = 3;
    a.pads = {1, 1, 1, 1};
    a.groups = groups;
    a.weight_bits = 8;
    p.nodes = {n};
    p.input = 0;
    p.output = 1;
    return p;
  };
  auto choice = [&](FixedPlan p, const engine::PlanOptions& o = {}) {
    engine::ProtocolPlan plan(std::move(p), engine::NetworkProfile::lan(), o);
    std::string others;
    for (const auto& c : plan.candidates()[0]) others += c.strategy + ",";
    return plan.layers()[0].strategy + "|" + others;
  };
  const std::string small = choice(dw_plan(384, 4, 384, 384));
  EXPECT_EQ(small.substr(0, small.find('|')), "falcon-dw") << small;
  EXPECT_NE(small.find("cheetah-conv,"), std::string::npos) << small;
  const std::string large = choice(dw_plan(8, 56, 8, 8));
  EXPECT_EQ(large.substr(0, large.find('|')), "cheetah-conv") << large;
  EXPECT_EQ(choice(dw_plan(384, 4, 1, 384)).find("falcon-dw"), std::string::npos) << "dense conv offered to falcon-dw";
  engine::PlanOptions forced;
  forced.allowed = {"cheetah-conv"};
  const std::string f = choice(dw_plan(384, 4, 384, 384), forced);
  EXPECT_EQ(f.substr(0, f.find('|')), "cheetah-conv") << f;
}

// Per-layer HE parameters (smallest_q): a conv in a small ring plans with a q below the 109-bit
// default and moves fewer bytes than at the default; the OpenCheetah baseline keeps 109 bits; both
// cost models stay exact.
TEST(Engine, HeLayersTakeTheSmallestCiphertextModulusThatPays) {
  FixedPlan p;
  p.ring_bits = 20;
  p.frac_bits = 6;
  p.values = {{"x", {1, 16, 16, 16}, 6, 20}, {"y", {1, 16, 16, 16}, 12, 20}};
  FxNode n = FxNode::of(FxOp::kConv);
  n.name = "conv";
  n.inputs = {0};
  n.output = 1;
  FxConvAttrs& a = n.conv();
  a.C = a.M = 16;
  a.H = a.W = 16;
  a.kh = a.kw = 3;
  a.pads = {1, 1, 1, 1};
  a.weight_bits = 8;
  p.nodes = {n};
  p.input = 0;
  p.output = 1;
  const auto q_bits = [](const engine::PlannedLayer& l) {
    int bits = 0;
    for (std::uint64_t prime : l.he_needs().at(0).params->spec().coeff_primes) bits += std::bit_width(prime);
    return bits;
  };
  engine::PlanOptions cheetah, open;
  cheetah.allowed = {"cheetah-conv"};
  open.allowed = {"cheetah-conv-opencheetah"};
  const engine::ProtocolPlan small(p, engine::NetworkProfile::lan(), cheetah);
  const engine::ProtocolPlan base(p, engine::NetworkProfile::lan(), open);
  EXPECT_LT(q_bits(small.planned(0)), 109);
  EXPECT_EQ(q_bits(base.planned(0)), 109);
  linear::Conv2dMeta m;
  m.C = m.M = 16;
  m.H = m.W = 16;
  m.kh = m.kw = 3;
  m.pad_top = m.pad_left = m.pad_bottom = m.pad_right = 1;
  m.weight_bits = 8;
  const linear::LayerCost at109 = linear::CheetahConvStrategy(he::HeParams::cheetah(20), m).cost();
  const engine::Cost c = small.planned(0).cost();
  EXPECT_TRUE(c.exact_bytes);
  EXPECT_LT(c.bytes_c2s + c.bytes_s2c, at109.bytes_client_to_server + at109.bytes_server_to_client);
  EXPECT_LT(c.bytes_c2s, at109.bytes_client_to_server);  // the input ciphertexts shrink with q
}

// EfficientNet's squeeze-and-excitation with HardSigmoid (the Sigmoid of the CIFAR variant
// trained here) and ReLU6: the gate [1,C,1,1] is broadcast to [1,C,H,W] locally (kExpand) and
// multiplied on shares; HardSigmoid is a clip, a product with the public slope and the public
// offset. Private equals the fixed-point reference; the reference stays close to float.
TEST(Engine, SqueezeExcitationWithHardSigmoidRunsEndToEnd) {
  Builder b;
  b.g.inputs = {"x"};
  b.g.shapes["x"] = {1, 4, 6, 6};
  using A = Attribute;
  const std::map<std::string, Attribute> conv3 = {
      {"strides", A::of_ints({1, 1})}, {"pads", A::of_ints({1, 1, 1, 1})}, {"group", A::of_int(1)}};
  const std::map<std::string, Attribute> conv1 = {
      {"strides", A::of_ints({1, 1})}, {"pads", A::of_ints({0, 0, 0, 0})}, {"group", A::of_int(1)}};
  auto c1 = b.node("Conv", {"x", b.init({8, 4, 3, 3}, 0.4f), b.init({8}, 0.2f)}, {1, 8, 6, 6}, conv3);
  auto r6 = b.node("Clip", {c1}, {1, 8, 6, 6}, {{"min", A::of_float(0.0f)}, {"max", A::of_float(6.0f)}});
  auto sq = b.node("GlobalAveragePool", {r6}, {1, 8, 1, 1});
  auto f1 = b.node("Conv", {sq, b.init({2, 8, 1, 1}, 0.6f), b.init({2}, 0.1f)}, {1, 2, 1, 1}, conv1);
  auto a1 = b.node("Relu", {f1}, {1, 2, 1, 1});
  auto f2 = b.node("Conv", {a1, b.init({8, 2, 1, 1}, 0.8f), b.init({8}, 0.1f)}, {1, 8, 1, 1}, conv1);
  auto gate = b.node("HardSigmoid", {f2}, {1, 8, 1, 1}, {{"alpha", A::of_float(1.0f / 6)}, {"beta", A::of_float(0.5f)}});
  auto se = b.node("Mul", {r6, gate}, {1, 8, 6, 6});
  auto gp = b.node("GlobalAveragePool", {se}, {1, 8, 1, 1});
  auto fl = b.node("Flatten", {gp}, {1, 8}, {{"axis", A::of_int(1)}});
  b.g.outputs = {b.node("Gemm", {fl, b.init({3, 8}, 0.5f), b.init({3}, 0.1f)}, {1, 3})};
  std::vector<Tensor> calib = {random_input({1, 4, 6, 6}, 11), random_input({1, 4, 6, 6}, 12)};
  FixedModel m = quantize_model(b.g, calib);
  std::size_t expands = 0, mul_public = 0;
  for (const FxNode& n : m.plan.nodes) {
    expands += n.op == FxOp::kExpand;
    mul_public += n.op == FxOp::kMulPublic;
  }
  EXPECT_EQ(expands, 1u);
  EXPECT_EQ(mul_public, 1u);
  engine::ServerModel server(m);
  for (std::uint8_t s : {13, 14}) {
    const Tensor x = random_input({1, 4, 6, 6}, s);
    expect_private_equals_fixed(m, server, x);
    const auto ref = run_float(b.g, {x})[0].data;
    const auto fixed = dequantize(m.plan, run_fixed(m, quantize_input(m.plan, x.data)));
    for (std::size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(fixed[k], ref[k], 0.02 + 0.01 * std::fabs(ref[k])) << k;
  }
  // The plan with the new ops round-trips, and a broadcast to a shape that does not fit is refused.
  const std::string text = plan_to_json(m.plan);
  EXPECT_EQ(plan_to_json(plan_from_json(text)), text);
  FixedPlan bad = m.plan;
  for (FxNode& n : bad.nodes)
    if (n.op == FxOp::kExpand) bad.values[n.inputs[0]].shape = {1, 8, 2, 1};
  EXPECT_THROW(plan_from_json(plan_to_json(bad)), Error);
}

// The networks trained here (models/, issue 17): MobileNetV2 (depthwise layers planned as falcon-dw,
// ReLU6) and the EfficientNet-B0-style network (squeeze-and-excitation with a HardSigmoid gate)
// privately on one CIFAR-10 image, equal to the fixed-point reference.
TEST(Engine, TrainedEfficientNetworksEqualTheFixedReference) {
  fs::path data = kData / "cifar10" / "test_batch_first1017_lossless.bin";
  if (!fs::exists(data)) GTEST_SKIP() << "shared data not present";
  Dataset ds = Dataset::open(data.string());
  for (const char* name : {"mobilenetv2_cifar10.onnx", "efficientnet_b0_cifar10.onnx"}) {
    Graph g = load_onnx((fs::path(PEREGRINE_MODELS_DIR) / name).string());
    Preprocess pp = preprocess_from_metadata(g.metadata);
    std::vector<Tensor> calib;
    for (std::size_t i = 0; i < 4; ++i) calib.push_back({g.shape_of("input"), apply_preprocess(ds.record(1000 + i), pp)});
    FixedModel m = quantize_model(g, calib);
    engine::ServerModel server(m);
    std::size_t packed = 0;
    for (const auto& l : server.plan().layers()) packed += l.strategy == "falcon-dw";
    EXPECT_GT(packed, 0u) << name;
    expect_private_equals_fixed(m, server, {g.shape_of("input"), apply_preprocess(ds.record(1), pp)});
  }
}

// The x²+x ResNet-20 trained here (python/train_poly.py, issue 20) on the hybrid path: every
// activation Add(Mul(x, x), x) planned as a Gilboa square beside the Cheetah convolutions, privately
// on one CIFAR-10 image, equal to the fixed-point reference.
TEST(Engine, TrainedSquarePlusXResNetEqualsTheFixedReference) {
  fs::path data = kData / "cifar10" / "test_batch_first1017_lossless.bin";
  if (!fs::exists(data)) GTEST_SKIP() << "shared data not present";
  Dataset ds = Dataset::open(data.string());
  Graph g = load_onnx((kModels / "resnet20_cifar10_poly.onnx").string());
  Preprocess pp = preprocess_from_metadata(g.metadata);
  std::vector<Tensor> calib;
  for (std::size_t i = 0; i < 4; ++i) calib.push_back({g.shape_of("input"), apply_preprocess(ds.record(1000 + i), pp)});
  FixedModel m = quantize_model(g, calib);
  engine::ServerModel server(m);
  std::size_t squares = 0, relus = 0;
  for (const auto& l : server.plan().layers()) {
    squares += l.strategy == "square-gilboa";
    relus += l.strategy.rfind("relu", 0) == 0;
  }
  EXPECT_EQ(squares, 19u);
  EXPECT_EQ(relus, 0u);
  expect_private_equals_fixed(m, server, {g.shape_of("input"), apply_preprocess(ds.record(2), pp)});
}

// The quantised ResNet-20 trained here, planned with `opts` (check(server) sees the plan), run
// privately on lossless CIFAR-10 record `record` and compared with its integer reference; false
// when the model or the shared data is absent.
bool quantised_resnet20_equals_reference(const engine::PlanOptions& opts, std::size_t record,
                                         const std::function<void(const engine::ServerModel&)>& check = {}) {
  const fs::path model = kModels / "resnet20_cifar10_quant.onnx";
  const fs::path data = kData / "cifar10" / "test_batch_first1017_lossless.bin";
  if (!fs::exists(model) || !fs::exists(data)) return false;
  Graph g = load_onnx(model.string());
  Dataset ds = Dataset::open(data.string());
  Preprocess pp = preprocess_from_metadata(g.metadata);
  FixedModel m = quantize_model(g, {{g.shape_of("input"), apply_preprocess(ds.record(1000), pp)}});
  engine::ServerModel server(m, engine::NetworkProfile::lan(), opts);
  if (check) check(server);
  expect_private_equals_fixed(m, server, {g.shape_of("input"), apply_preprocess(ds.record(record), pp)});
  return true;
}

// Quantised (QDQ) models (docs/QUANTISED.md): the integer program runs privately and reveals the
// integer reference bit for bit — the small QDQ model with per-channel and per-tensor weight
// scales (low-bit rings, extensions before the HE layers, requantisation by truncation and clip),
// and the quantised ResNet-20 trained here on a CIFAR-10 image.
TEST(Engine, QuantisedModelsEqualTheIntegerReference) {
  for (bool per_channel : {true, false}) {
    const auto bytes = test::onnx_builder::bytes_of(test::onnx_builder::qdq_model(per_channel));
    Graph g = load_onnx_bytes(bytes);
    FixedModel m = quantize_model(g, {random_input(g.shape_of("x"), 1)});
    ASSERT_TRUE(m.plan.integer_io.has_value());
    engine::ServerModel server(m);
    std::size_t extends = 0;
    for (const auto& l : server.plan().layers()) extends += l.strategy.rfind("extend", 0) == 0;
    EXPECT_GE(extends, 3u);
    for (std::uint8_t s : {2, 3}) {
      Tensor x = random_input(g.shape_of("x"), s);
      for (auto& v : x.data) v *= 3.0f;  // beyond the input's 8-bit range: saturates
      expect_private_equals_fixed(m, server, x);
    }
  }
  if (!quantised_resnet20_equals_reference({}, 3)) GTEST_SKIP() << "quantised ResNet-20 or shared data not present";
}

// HEQuant's packed convolution (hequant-conv) in whole integer programs: with the Cheetah conv
// strategies withheld every convolution must plan as hequant-conv (its inputs have public bounds:
// the quantised input, Clips), and the private run still equals the integer reference. Per-tensor
// weights only: folded per-channel weights (up to 17 bits) make the public digit bound wider than
// the ring the exact bounds give the conv, where hequant-conv does not apply.
TEST(Engine, QuantisedModelsWithPackedConvolutionsEqualTheIntegerReference) {
  engine::PlanOptions opts;
  for (const engine::Strategy* s : engine::registry())
    if (s->name().find("cheetah-conv") != 0 && s->name().find("falcon-") != 0 && s->name().find("ot-conv") != 0)
      opts.allowed.emplace_back(s->name());
  const auto convs_packed = [](const engine::ServerModel& server) {
    const auto& nodes = server.model().plan.nodes;
    const auto& layers = server.plan().layers();
    std::size_t convs = 0, packed = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      convs += nodes[i].op == nn::FxOp::kConv;
      packed += nodes[i].op == nn::FxOp::kConv && layers.at(i).strategy.rfind("hequant-conv", 0) == 0;
    }
    return convs > 0 && convs == packed;
  };
  {
    const auto bytes = test::onnx_builder::bytes_of(test::onnx_builder::qdq_model(false));
    Graph g = load_onnx_bytes(bytes);
    FixedModel m = quantize_model(g, {random_input(g.shape_of("x"), 1)});
    engine::ServerModel server(m, engine::NetworkProfile::lan(), opts);
    EXPECT_TRUE(convs_packed(server));
    Tensor x = random_input(g.shape_of("x"), 4);
    for (auto& v : x.data) v *= 3.0f;
    expect_private_equals_fixed(m, server, x);
  }
  if (!quantised_resnet20_equals_reference(opts, 5, [&](const engine::ServerModel& s) { EXPECT_TRUE(convs_packed(s)); }))
    GTEST_SKIP() << "quantised ResNet-20 or shared data not present";
}

// Each conv family alone — HEQuant K-pack (output channels) and C-pack (input channels, Kronecker,
// top digit), and the OT GEMM convs (direct, Winograd F2 and F4) — every conv of the small QDQ model
// (2-bit weights, so that the wider packed kernels fit the noise budget) plans as that family and
// the private run equals the integer reference, on the LAN and WAN profiles (the HEQuant searches
// may pick other b and splits).
TEST(Engine, EachConvFamilyAloneEqualsTheIntegerReference) {
  const auto bytes = test::onnx_builder::bytes_of(test::onnx_builder::qdq_model(false, true));
  Graph g = load_onnx_bytes(bytes);
  FixedModel m = quantize_model(g, {random_input(g.shape_of("x"), 1)});
  for (const std::string family : {"hequant-conv-k", "hequant-conv-c", "ot-conv", "ot-conv-f2", "ot-conv-f4"}) {
    engine::PlanOptions opts;
    for (const engine::Strategy* s : engine::registry()) {
      const std::string name(s->name());
      const bool conv = name.find("cheetah-conv") == 0 || name.find("falcon-") == 0 ||
                        name.find("hequant-conv") == 0 || name.find("ot-conv") == 0;
      if (!conv || name == family) opts.allowed.push_back(name);
    }
    for (const engine::NetworkProfile& net : {engine::NetworkProfile::lan(), engine::NetworkProfile::wan()}) {
      engine::ServerModel server(m, net, opts);
      const auto& nodes = server.model().plan.nodes;
      std::size_t convs = 0;
      for (std::size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i].op == nn::FxOp::kConv) {
          ++convs;
          EXPECT_EQ(server.plan().layers().at(i).strategy, family) << nodes[i].name;
        }
      EXPECT_EQ(convs, 2u);
      Tensor x = random_input(g.shape_of("x"), 6);
      for (auto& v : x.data) v *= 3.0f;
      expect_private_equals_fixed(m, server, x);
    }
  }
}

// A server whose plan carries an integer input/output description out of range (zero point
// outside the container, a negative scale) is refused by the client before anything else.
TEST(Engine, BadIntegerInputOutputFromTheServerIsRejected) {
  const auto bytes = test::onnx_builder::bytes_of(test::onnx_builder::qdq_model(false));
  Graph g = load_onnx_bytes(bytes);
  FixedModel m = quantize_model(g, {random_input(g.shape_of("x"), 1)});
  engine::ServerModel server(m);
  const Tensor x = random_input(g.shape_of("x"), 2);
  const std::string text = server.plan().wire_text();
  for (const auto& [field, bad] : std::vector<std::pair<std::string, std::string>>{
           {"\"input_zero_point\":128", "\"input_zero_point\":999"},
           {"\"input_scale\":", "\"input_scale\":-"},
           {"\"output_scale\":", "\"output_scale\":1e300,\"x\":"}}) {
    const auto at = text.find(field);
    ASSERT_NE(at, std::string::npos) << field << " in " << text.substr(0, 200);
    std::string t = text;
    t.replace(at, field.size(), bad);
    const std::string e = client_error_for_plan(t, x);
    EXPECT_NE(e.find("malformed_input"), std::string::npos) << bad << ": " << e;
  }
}
