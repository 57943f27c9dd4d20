// Fixed-point plan and reference executor (DESIGN.md §3): semantics of single ops at the edges
// (truncation floors, ring wrap, padded max-pool, average-pool multipliers, Clip), agreement with
// the float model on real images, deferred truncation giving the very same output as the plain
// lowering, and the JSON plan: round trip and rejection of malformed plans.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/nn/fixed.hpp"
#include "peregrine/nn/float_exec.hpp"
#include "peregrine/nn/input.hpp"
#include "peregrine/nn/onnx_import.hpp"

using namespace peregrine;
using namespace peregrine::nn;
namespace fs = std::filesystem;

namespace {

const fs::path kData = PEREGRINE_SHARED_DATA_DIR;
const fs::path kModels = PEREGRINE_MODELS_DIR;

/// Test image `i` of the model's dataset, preprocessed by its metadata.
Tensor image(const Graph& g, const Dataset& ds, std::size_t i) {
  Tensor t;
  t.shape = g.shape_of(g.inputs.at(0));
  t.data = apply_preprocess(ds.record(i), preprocess_from_metadata(g.metadata));
  return t;
}

std::size_t argmax(const std::vector<float>& v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

struct Case {
  const char* model;
  fs::path dataset;
  std::size_t n;  // images compared
};

// A one-node graph around `node` with input shape `in` and output shape `out`.
Graph single(Node node, const Shape& in, const Shape& out) {
  Graph g;
  node.name = node.name.empty() ? "n" : node.name;
  node.inputs.insert(node.inputs.begin(), "x");
  node.outputs = {"y"};
  g.nodes.push_back(node);
  g.inputs = {"x"};
  g.outputs = {"y"};
  g.shapes["x"] = in;
  g.shapes["y"] = out;
  return g;
}

Tensor tensor(const Shape& s, std::vector<float> v) { return Tensor{s, std::move(v)}; }

std::vector<std::int64_t> signed_values(const FixedPlan& p, const std::vector<std::uint64_t>& v) {
  std::vector<std::int64_t> out;
  for (auto x : v) out.push_back(ring_to_signed(x, p.ring_bits));
  return out;
}

}  // namespace

TEST(FixedOps, TruncationFloorsAtTheEdges) {
  // A hand-built program: input at scale 2f, one truncation by f.
  FixedModel m;
  m.plan.ring_bits = 20;
  m.plan.frac_bits = 4;
  m.plan.values = {{"x", {8}, 8, 20}, {"y", {8}, 4, 20}};
  FxNode t = FxNode::of(FxOp::kTrunc);
  t.inputs = {0};
  t.output = 1;
  t.shift().shift = 4;
  m.plan.nodes = {t};
  m.plan.output = 1;
  const std::uint64_t mask = (1u << 20) - 1;
  const std::int64_t in[8] = {0, 1, -1, 15, 16, -16, -17, -(1 << 19)};
  const std::int64_t want[8] = {0, 0, -1, 0, 1, -1, -2, -(1 << 15)};
  std::vector<std::uint64_t> x;
  for (auto v : in) x.push_back(static_cast<std::uint64_t>(v) & mask);
  auto y = signed_values(m.plan, run_fixed(m, x));
  for (int k = 0; k < 8; ++k) EXPECT_EQ(y[k], want[k]) << "input " << in[k];
}

TEST(FixedOps, ProductsWrapModuloTheRing) {
  // x² of 2^10 in a 20-bit ring is 2^20 ≡ 0: the reference is exact mod 2^ℓ like the protocol.
  FixedModel m;
  m.plan.ring_bits = 20;
  m.plan.frac_bits = 4;
  m.plan.values = {{"x", {2}, 4, 20}, {"y", {2}, 8, 20}};
  FxNode s = FxNode::of(FxOp::kSquare);
  s.inputs = {0};
  s.output = 1;
  m.plan.nodes = {s};
  m.plan.output = 1;
  auto y = run_fixed(m, {1u << 10, 3});
  EXPECT_EQ(y[0], 0u);
  EXPECT_EQ(y[1], 9u);
}

// Deferred truncation through ReLU6: Conv → Clip(0, 6) clips the conv output above scale 2^f and
// truncates after it with the sign known (MSB-known protocol), with the same result as the plain
// order (truncate, then clip) on every input; bounds off the 2^{-f} grid still truncate first.
TEST(FixedOps, Relu6DefersTheTruncationPastTheClip) {
  for (float hi : {6.0f, 6.1f}) {
    Graph g;
    Node conv;
    conv.name = "conv";
    conv.op_type = "Conv";
    conv.inputs = {"x", "w"};
    conv.outputs = {"c"};
    conv.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
    conv.attrs["strides"] = Attribute::of_ints({1, 1});
    conv.attrs["group"] = Attribute::of_int(1);
    Node clip;
    clip.name = "relu6";
    clip.op_type = "Clip";
    clip.inputs = {"c"};
    clip.outputs = {"y"};
    clip.attrs["min"] = Attribute::of_float(0.0f);
    clip.attrs["max"] = Attribute::of_float(hi);
    g.nodes = {conv, clip};
    g.inputs = {"x"};
    g.outputs = {"y"};
    g.shapes = {{"x", {1, 2, 5, 5}}, {"c", {1, 3, 5, 5}}, {"y", {1, 3, 5, 5}}, {"w", {3, 2, 3, 3}}};
    std::vector<float> w(54);
    for (std::size_t k = 0; k < w.size(); ++k) w[k] = 0.37f * std::sin(1.7f * static_cast<float>(k) + 0.3f);
    g.initializers["w"] = tensor({3, 2, 3, 3}, w);
    auto input = [](int seed) {
      std::vector<float> v(50);
      for (std::size_t k = 0; k < v.size(); ++k) v[k] = 4.0f * std::sin(0.9f * static_cast<float>(k * (seed + 2)) + seed);
      return tensor({1, 2, 5, 5}, v);
    };
    std::vector<Tensor> calib = {input(0), input(1), input(2)};
    FixedModel m = quantize_model(g, calib);
    FixedOptions plain;
    plain.defer_truncation = false;
    plain.min_ring_bits = m.plan.ring_bits;
    FixedModel mp = quantize_model(g, calib, plain);
    for (int i = 3; i < 11; ++i) {
      const auto xq = quantize_input(m.plan, input(i).data);
      EXPECT_EQ(run_fixed(m, xq), run_fixed(mp, xq)) << "input " << i << ", hi " << hi;
    }
    // Where the truncation sits: after the clip and MSB-known (hi = 6), or on the conv output.
    std::size_t conv_out = 0, known = 0, before_clip = 0;
    for (const FxNode& n : m.plan.nodes)
      if (n.op == FxOp::kConv) conv_out = n.output;
    for (const FxNode& n : m.plan.nodes)
      if (n.op == FxOp::kTrunc) {
        known += n.shift().nonneg;
        before_clip += n.inputs[0] == conv_out;
      }
    // A two-sided clip is one kClip node (no ReLU pair), bounds on the value's grid.
    std::size_t clips = 0, relus = 0;
    for (const FxNode& n : m.plan.nodes) {
      clips += n.op == FxOp::kClip;
      relus += n.op == FxOp::kRelu;
      if (n.op == FxOp::kClip) {
        const int sc = m.plan.values[n.inputs[0]].scale;
        EXPECT_EQ(n.clip().lo, 0);
        EXPECT_EQ(n.clip().hi, std::llround(std::ldexp(static_cast<double>(hi), sc)));
      }
    }
    EXPECT_EQ(clips, 1u);
    EXPECT_EQ(relus, 0u);
    if (hi == 6.0f) {
      EXPECT_EQ(before_clip, 0u);
      EXPECT_EQ(known, 1u);
    } else {
      EXPECT_EQ(before_clip, 1u);
    }
  }
}

TEST(FixedOps, ClipReluMaxPoolAvgPoolMatchTheFloatSemantics) {
  Node clip;
  clip.op_type = "Clip";
  clip.attrs["min"] = Attribute::of_float(0.0f);
  clip.attrs["max"] = Attribute::of_float(6.0f);
  Graph g = single(clip, {1, 8}, {1, 8});
  Tensor x = tensor({1, 8}, {-7.5f, -1.0f, 0.0f, 0.25f, 3.0f, 5.999f, 6.0f, 100.0f});
  FixedModel m = quantize_model(g, {x});
  auto y = dequantize(m.plan, run_fixed(m, quantize_input(m.plan, x.data)));
  auto ref = run_float(g, {x})[0].data;
  for (std::size_t k = 0; k < y.size(); ++k) EXPECT_NEAR(y[k], ref[k], 1.0 / 4096) << k;

  // Padded max-pool over negative values: the padding never wins.
  Node mp;
  mp.op_type = "MaxPool";
  mp.attrs["kernel_shape"] = Attribute::of_ints({3, 3});
  mp.attrs["strides"] = Attribute::of_ints({2, 2});
  mp.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  Graph gm = single(mp, {1, 1, 4, 4}, {1, 1, 2, 2});
  Tensor xm = tensor({1, 1, 4, 4}, {-3, -2, -5, -9, -4, -8, -1, -7, -6, -3.5, -2.5, -4, -9, -9, -9, -0.5});
  FixedModel mm = quantize_model(gm, {xm});
  auto ym = dequantize(mm.plan, run_fixed(mm, quantize_input(mm.plan, xm.data)));
  EXPECT_EQ(ym, run_float(gm, {xm})[0].data);

  // Average pool without counting padding: border windows divide by fewer elements.
  Node ap;
  ap.op_type = "AveragePool";
  ap.attrs["kernel_shape"] = Attribute::of_ints({2, 2});
  ap.attrs["strides"] = Attribute::of_ints({2, 2});
  ap.attrs["pads"] = Attribute::of_ints({1, 1, 1, 1});
  ap.attrs["count_include_pad"] = Attribute::of_int(0);
  Graph ga = single(ap, {1, 1, 4, 4}, {1, 1, 3, 3});
  Tensor xa = tensor({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, 0.5, 0.25, 0.125, 8});
  FixedModel ma = quantize_model(ga, {xa});
  auto ya = dequantize(ma.plan, run_fixed(ma, quantize_input(ma.plan, xa.data)));
  auto ra = run_float(ga, {xa})[0].data;
  for (std::size_t k = 0; k < ya.size(); ++k) EXPECT_NEAR(ya[k], ra[k], 3.0 / 4096) << k;
}

TEST(FixedOps, UnsupportedNodesAreReportedTogether) {
  Graph g;
  g.inputs = {"x"};
  g.outputs = {"z"};
  g.shapes["x"] = {1, 4};
  g.shapes["y"] = {1, 4};
  g.shapes["z"] = {1, 4};
  Node a;
  a.name = "first";
  a.op_type = "Tanh";
  a.inputs = {"x"};
  a.outputs = {"y"};
  Node b;
  b.name = "second";
  b.op_type = "Softmax";  // not at the end: the client cannot do it
  b.inputs = {"y"};
  b.outputs = {"w"};
  g.shapes["w"] = {1, 4};
  Node c;
  c.name = "third";
  c.op_type = "Relu";
  c.inputs = {"w"};
  c.outputs = {"z"};
  g.nodes = {a, b, c};
  try {
    // The float executor cannot run Tanh either: calibrate through a graph without it.
    quantize_model(g, {tensor({1, 4}, {0, 1, 2, 3})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    // Calibration itself fails first on an op outside the normal form; that is also a clear error.
    EXPECT_TRUE(e.code() == ErrorCode::kUnsupported || e.code() == ErrorCode::kInvalidArgument) << e.what();
  }
}

TEST(FixedOps, OptionsAreValidated) {
  Node relu;
  relu.op_type = "Relu";
  Graph g = single(relu, {1, 2}, {1, 2});
  Tensor x = tensor({1, 2}, {1, -1});
  EXPECT_THROW(quantize_model(g, {}), Error);
  FixedOptions o;
  o.frac_bits = 0;
  EXPECT_THROW(quantize_model(g, {x}, o), Error);
  o.frac_bits = 12;
  o.headroom_bits = 0;
  EXPECT_THROW(quantize_model(g, {x}, o), Error);
  FixedModel m = quantize_model(g, {x});
  EXPECT_THROW(quantize_input(m.plan, {1.0f}), Error);
  EXPECT_THROW(quantize_input(m.plan, {1.0f, std::numeric_limits<float>::quiet_NaN()}), Error);
}

class FixedModels : public ::testing::TestWithParam<Case> {};

TEST_P(FixedModels, MatchesTheFloatModelAndDeferredTruncationIsExact) {
  const Case& c = GetParam();
  fs::path model = fs::path(c.model).is_absolute() ? fs::path(c.model) : kData / "onnx" / c.model;
  if (!fs::exists(model) || !fs::exists(c.dataset)) GTEST_SKIP() << "data not present: " << model;
  Graph g = load_onnx(model.string());
  Dataset ds = Dataset::open(c.dataset.string());
  // Calibrate on images the comparison does not use.
  std::vector<Tensor> calib;
  for (std::size_t i = 0; i < 4; ++i) calib.push_back(image(g, ds, ds.size() - 1 - i));
  FixedModel m = quantize_model(g, calib);
  FixedOptions plain;
  plain.defer_truncation = false;
  plain.min_ring_bits = m.plan.ring_bits;
  FixedModel mp = quantize_model(g, calib, plain);
  ASSERT_EQ(mp.plan.ring_bits, m.plan.ring_bits);
  EXPECT_LE(m.plan.ring_bits, 64);
  EXPECT_GE(m.plan.ring_bits, 2 * m.plan.frac_bits + 2);
  std::size_t agree = 0;
  double worst = 0;
  for (std::size_t i = 0; i < c.n; ++i) {
    Tensor x = image(g, ds, i);
    auto ref = run_float(g, {x})[0].data;
    auto xq = quantize_input(m.plan, x.data);
    auto yq = run_fixed(m, xq);
    EXPECT_EQ(yq, run_fixed(mp, xq)) << "deferred truncation changed the result on image " << i;
    auto y = dequantize(m.plan, yq);
    ASSERT_EQ(y.size(), ref.size());
    double scale = 0;
    for (float v : ref) scale = std::max(scale, static_cast<double>(std::fabs(v)));
    for (std::size_t k = 0; k < y.size(); ++k) worst = std::max(worst, std::fabs(y[k] - ref[k]) / std::max(1.0, scale));
    agree += argmax(y) == argmax(ref);
  }
  EXPECT_GE(agree + 1, c.n) << "fixed-point top-1 differs from float too often";
  EXPECT_LT(worst, 0.02) << "fixed-point logits drift from the float model (agree " << agree << "/" << c.n << ")";
  // The plan round-trips through JSON, and its ranges have the promised headroom.
  EXPECT_EQ(plan_to_json(plan_from_json(plan_to_json(m.plan))), plan_to_json(m.plan));
  for (const auto& r : m.plan.ranges) EXPECT_GE(r.headroom, 3) << r.value;
}

INSTANTIATE_TEST_SUITE_P(
    Real, FixedModels,
    ::testing::Values(Case{"resnet20_cifar10.onnx", kData / "cifar10" / "test_batch_first1017_lossless.bin", 4},
                      Case{"resnet8_cifar10_mlperftiny.onnx", kData / "cifar10" / "test_batch_first1017_lossless.bin", 8},
                      Case{"lenet_cifar10_crypten.onnx", kData / "cifar10" / "test_batch_first1017_lossless.bin", 16},
                      Case{"tfe_a_mnist.onnx", kData / "mnist" / "t10k-images-idx3-ubyte", 16},
                      Case{"tfe_b_mnist.onnx", kData / "mnist" / "t10k-images-idx3-ubyte", 16},
                      Case{"convmnist_square_mnist.onnx", kData / "mnist" / "t10k-images-idx3-ubyte", 16},
                      Case{PEREGRINE_MODELS_DIR "/mobilenetv2_cifar10.onnx",
                           kData / "cifar10" / "test_batch_first1017_lossless.bin", 8},
                      Case{PEREGRINE_MODELS_DIR "/efficientnet_b0_cifar10.onnx",
                           kData / "cifar10" / "test_batch_first1017_lossless.bin", 8},
                      Case{PEREGRINE_MODELS_DIR "/digits_cnn.onnx",
                           kModels / "digits-test-images-idx3-ubyte", 32}),
    [](const auto& info) {
      std::string s = fs::path(info.param.model).stem().string();
      std::replace_if(s.begin(), s.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
      return s;
    });

TEST(FixedPlanJson, MalformedPlansAreRejected) {
  Node relu;
  relu.op_type = "Relu";
  Graph g = single(relu, {1, 4}, {1, 4});
  FixedModel m = quantize_model(g, {tensor({1, 4}, {1, -2, 3, -4})});
  std::string good = plan_to_json(m.plan);
  EXPECT_NO_THROW(plan_from_json(good));
  auto expect_bad = [](const std::string& text) {
    try {
      plan_from_json(text);
      ADD_FAILURE() << "accepted: " << text.substr(0, 200);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kMalformedInput) << e.what();
    }
  };
  expect_bad("");
  expect_bad("{");
  expect_bad(good.substr(0, good.size() / 2));
  expect_bad("[1,2,3]");
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
  };
  expect_bad(replace("\"ring_bits\":", "\"ring_bits\":99,\"x\":"));
  expect_bad(replace("\"in\":[0]", "\"in\":[7]"));
  expect_bad(replace("\"in\":[0]", "\"in\":[1]"));
  expect_bad(replace("\"shape\":[1,4]", "\"shape\":[100000000,100000000]"));
  expect_bad(replace("\"shape\":[1,4]", "\"shape\":[1,5]"));
  expect_bad(replace("\"op\":\"Relu\"", "\"op\":\"Launch\""));
  expect_bad(replace("peregrine-plan-1", "peregrine-plan-2"));
}

// A Clip plan round-trips through JSON; bounds out of order or outside the node's ring are
// malformed.
TEST(FixedPlanJson, ClipBoundsRoundTripAndAreChecked) {
  Node clip;
  clip.op_type = "Clip";
  clip.attrs["min"] = Attribute::of_float(-1.0f);
  clip.attrs["max"] = Attribute::of_float(2.5f);
  Graph g = single(clip, {1, 4}, {1, 4});
  FixedModel m = quantize_model(g, {tensor({1, 4}, {1, -2, 3, -4})});
  const std::string text = plan_to_json(m.plan);
  EXPECT_EQ(plan_to_json(plan_from_json(text)), text);
  const int sc = m.plan.frac_bits;
  const std::string lo = "\"lo\":" + std::to_string(-(std::int64_t{1} << sc));
  const std::string hi = "\"hi\":" + std::to_string(std::int64_t{5} << (sc - 1));
  ASSERT_NE(text.find(lo), std::string::npos) << text;
  ASSERT_NE(text.find(hi), std::string::npos) << text;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = text;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_THROW(plan_from_json(with(lo, "\"lo\":" + std::to_string(std::int64_t{3} << sc))), Error);  // lo > hi
  EXPECT_THROW(plan_from_json(with(hi, "\"hi\":" + std::to_string(std::int64_t{1} << 62))), Error);  // outside ℓ
  const auto xq = quantize_input(m.plan, {1, -2, 3, -4});
  const auto y = signed_values(m.plan, run_fixed(m, xq));
  EXPECT_EQ(y, (std::vector<std::int64_t>{1 << sc, -(1 << sc), 5 << (sc - 1), -(1 << sc)}));
}

// Typed attributes: every op takes exactly one attribute alternative, a node holding another
// one is refused when read (not misread as zeros), and a window node's pads must be four values.
TEST(FixedPlan, EachOpHasItsOwnTypedAttributes) {
  for (int k = 0; k <= static_cast<int>(FxOp::kClip); ++k) {
    const auto op = static_cast<FxOp>(k);
    const FxNode n = FxNode::of(op);
    EXPECT_TRUE(fx_attrs_match(op, n.attrs)) << fx_op_name(op);
    const bool weighted = op == FxOp::kConv || op == FxOp::kGemm || op == FxOp::kAffine || op == FxOp::kAddConst;
    EXPECT_EQ(n.weights() != nullptr, weighted) << fx_op_name(op);
  }
  EXPECT_FALSE(fx_attrs_match(FxOp::kConv, FxPoolAttrs{}));
  EXPECT_FALSE(fx_attrs_match(FxOp::kRelu, FxShiftAttrs{}));
  FxNode relu = FxNode::of(FxOp::kRelu);
  relu.name = "r";
  try {
    (void)relu.shift();
    ADD_FAILURE() << "a Relu node gave shift attributes";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'r' (Relu)"), std::string::npos) << e.what();
  }
  // A Trunc node built as a ScaleUp's sibling shares FxShiftAttrs; a Conv node whose attributes
  // were overwritten by a pool's is caught by the executor's typed access.
  FixedModel m;
  m.plan.ring_bits = 20;
  m.plan.frac_bits = 4;
  m.plan.values = {{"x", {1, 1, 2, 2}, 4, 20}, {"y", {1, 1, 1, 1}, 8, 20}};
  FxNode c = FxNode::of(FxOp::kConv);
  c.attrs = FxPoolAttrs{};
  c.inputs = {0};
  c.output = 1;
  m.plan.nodes = {c};
  m.plan.output = 1;
  m.weights.entries = {{{1}, {}}};
  EXPECT_THROW(run_fixed(m, {1, 2, 3, 4}), Error);

  // JSON: a max-pool with three pads is malformed.
  Node pool;
  pool.op_type = "MaxPool";
  pool.attrs["kernel_shape"] = Attribute::of_ints({2, 2});
  pool.attrs["strides"] = Attribute::of_ints({2, 2});
  Graph g = single(pool, {1, 1, 2, 2}, {1, 1, 1, 1});
  const std::string text = plan_to_json(quantize_model(g, {tensor({1, 1, 2, 2}, {1, -2, 3, -4})}).plan);
  EXPECT_EQ(plan_to_json(plan_from_json(text)), text);
  const auto pos = text.find("\"pads\":[0,0,0,0]");
  ASSERT_NE(pos, std::string::npos) << text;
  std::string bad = text;
  bad.replace(pos, 17, "\"pads\":[0,0,0]");
  EXPECT_THROW(plan_from_json(bad), Error);
}

// Fuzz regression (fuzz_onnx): a plan whose names or metadata are not UTF-8 (from a hand-built
// Graph; the importer refuses such models) is refused with a typed error, not nlohmann's
// type_error, when it is encoded; and a convolution padded more than its kernel round-trips.
TEST(FixedPlanJson, NonUtf8StringsAreATypedErrorAndWideConvPaddingRoundTrips) {
  Node relu;
  relu.op_type = "Relu";
  Graph g = single(relu, {1, 4}, {1, 4});
  FixedModel m = quantize_model(g, {tensor({1, 4}, {1, -2, 3, -4})});
  for (int where = 0; where < 2; ++where) {
    FixedPlan p = m.plan;
    if (where == 0) p.nodes.at(0).name = "relu\xff";
    else p.metadata["labels"] = "a,\xc3";
    try {
      (void)plan_to_json(p);
      ADD_FAILURE() << "encoded " << where;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    }
  }

  Node conv;
  conv.op_type = "Conv";
  conv.inputs = {"w"};
  conv.attrs["pads"] = Attribute::of_ints({2, 1, 2, 0});
  conv.attrs["strides"] = Attribute::of_ints({1, 1});
  conv.attrs["group"] = Attribute::of_int(1);
  Graph c = single(conv, {1, 1, 2, 2}, {1, 2, 6, 3});
  c.initializers["w"] = tensor({2, 1, 1, 1}, {0.5f, -0.25f});
  c.shapes["w"] = {2, 1, 1, 1};
  FixedModel cm = quantize_model(c, {tensor({1, 1, 2, 2}, {1, 2, 3, 4})});
  const std::string text = plan_to_json(cm.plan);
  EXPECT_EQ(plan_to_json(plan_from_json(text)), text);
}

// Overflow regression (found reviewing what fuzz_handshake feeds plan_from_json): C·H·W and M·Ho·Wo
// of a received node were multiplied in int64 (signed overflow, UB); with C = H = W = M = 2^28 the
// products wrapped to 0 and matched zero-size values, so the node passed validation.
TEST(FixedPlanJson, HugeNodeFieldsDoNotOverflowIntoAValidPlan) {
  const std::int64_t big = std::int64_t{1} << 28;
  for (FxOp op : {FxOp::kConv, FxOp::kMaxPool}) {
    FixedPlan p;
    p.ring_bits = 37;
    p.frac_bits = 12;
    p.values = {{"x", {1, 0}, 12, 37}, {"y", {1, 0}, 12, 37}};
    FxNode n = FxNode::of(op);
    n.name = "huge";
    n.inputs = {0};
    n.output = 1;
    FxWindow& w = op == FxOp::kConv ? static_cast<FxWindow&>(n.conv()) : n.pool();
    w.C = big; w.H = big; w.W = big;
    w.kh = 1; w.kw = 1;
    if (op == FxOp::kConv) {
      n.conv().M = big;
      n.conv().weight_bits = 13;
    }
    p.nodes = {n};
    p.input = 0;
    p.output = 1;
    const std::string text = plan_to_json(p);
    try {
      plan_from_json(text);
      ADD_FAILURE() << fx_op_name(op) << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kMalformedInput) << e.what();
    }
  }
}

// Fuzz regression (fuzz_handshake): a node "name" or the "format" of another JSON type made
// nlohmann throw type_error 302 (not a peregrine::Error) out of plan_from_json.
TEST(FixedPlanJson, FieldsOfTheWrongJsonTypeAreMalformed) {
  Node relu;
  relu.op_type = "Relu";
  Graph g = single(relu, {1, 4}, {1, 4});
  const std::string good = plan_to_json(quantize_model(g, {tensor({1, 4}, {1, -2, 3, -4})}).plan);
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
  };
  for (const std::string& text : {replaced("\"name\":\"n\"", "\"name\":[1]"), replaced("\"name\":\"n\"", "\"name\":7"),
                                  replaced("\"format\":\"peregrine-plan-1\"", "\"format\":5"),
                                  replaced("\"format\":\"peregrine-plan-1\"", "\"format\":null")}) {
    try {
      plan_from_json(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kMalformedInput) << e.what();
    }
  }
}

// Fuzz regression (fuzz_onnx): a Slice with a negative step (reversal) was lowered as is; the
// server planned it but every client refuses such a plan (steps ≥ 1; the private slice has no
// reversal), so the model could not be served. The lowering now refuses it up front.
TEST(FixedOps, NegativeSliceStepsAreUnsupported) {
  Node sl;
  sl.op_type = "Slice";
  sl.attrs["starts"] = Attribute::of_ints({0, 3});
  sl.attrs["steps"] = Attribute::of_ints({1, -1});
  Graph g = single(sl, {1, 4}, {1, 4});
  try {
    quantize_model(g, {tensor({1, 4}, {1, -2, 3, -4})});
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
  }
}

// Fuzz regression (fuzz_onnx under UBSan): a non-finite or huge weight was rounded with llround
// (unspecified result, LLONG_MIN), then negated in the weight-bit count (signed overflow, UB); a
// merely large one gave weights of more than the 32 bits a plan may carry, so the client refused
// the server's plan. Both are kUnsupported at quantisation now.
TEST(FixedOps, NonFiniteOrHugeWeightsAreUnsupported) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -3e38f, 1e12f}) {
    for (int where = 0; where < 2; ++where) {  // weight, bias
      Node gemm;
      gemm.op_type = "Gemm";
      gemm.inputs = {"w", "b"};
      Graph g = single(gemm, {1, 2}, {1, 2});
      g.initializers["w"] = tensor({2, 2}, {0.5f, where == 0 ? bad : 0.25f, -0.5f, 1.0f});
      g.initializers["b"] = tensor({2}, {where == 1 ? bad : 0.1f, 0.2f});
      g.shapes["w"] = {2, 2};
      g.shapes["b"] = {2};
      if (where == 1 && bad == 1e12f) continue;  // a bias of 2^40·2^24 fits the range of round_fixed
      try {
        quantize_model(g, {tensor({1, 2}, {1, -2})});
        ADD_FAILURE() << bad << " as " << (where ? "bias" : "weight") << ": accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
      }
    }
  }
}
