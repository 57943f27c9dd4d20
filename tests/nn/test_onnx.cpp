// ONNX import + float reference executor: the shipped models against their PyTorch reference logits,
// malformed files, the all-at-once unsupported report, and BN folding / bias fusion equivalence.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/nn/fixed.hpp"
#include "peregrine/nn/float_exec.hpp"
#include "peregrine/nn/onnx_import.hpp"
#include "../common/onnx_builder.hpp"

using namespace peregrine;
using namespace peregrine::nn;
using namespace peregrine::test::onnx_builder;
namespace fs = std::filesystem;

namespace {

const fs::path kData = PEREGRINE_SHARED_DATA_DIR;

std::vector<float> split_floats(const std::string& s) {
  std::vector<float> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stof(item));
  return v;
}

// The first `count` test images of the model's dataset, preprocessed as its metadata_props say:
// (pixel · pixel_scale − mean[c]) / std[c].
std::vector<Tensor> load_images(const Graph& g, int count) {
  const Shape& shape = g.shape_of(g.inputs.at(0));  // [1,C,H,W]
  const std::string& ds = g.metadata.at("dataset");
  float scale = std::stof(g.metadata.at("pixel_scale"));
  std::vector<float> mean = split_floats(g.metadata.at("mean")), stdv = split_floats(g.metadata.at("std"));
  std::size_t C = static_cast<std::size_t>(shape[1]), HW = static_cast<std::size_t>(shape[2] * shape[3]);
  EXPECT_EQ(mean.size(), C);
  EXPECT_EQ(stdv.size(), C);
  std::vector<std::uint8_t> bytes;
  std::size_t header = 0, record = 0, skip = 0;
  if (ds == "cifar10") {
    bytes = read_file(kData / "cifar10" / "test_batch_first1017_lossless.bin");
    record = 3073;  // label byte, then R, G, B planes of 32×32
    skip = 1;
  } else if (ds == "mnist") {
    bytes = read_file(kData / "mnist" / "t10k-images-idx3-ubyte");
    header = 16;  // big-endian magic 2051, count, rows, cols
    record = 784;
  } else {
    ADD_FAILURE() << "unknown dataset " << ds;
    return {};
  }
  EXPECT_EQ(C * HW, record - skip);
  std::vector<Tensor> out;
  for (int i = 0; i < count; ++i) {
    Tensor t{shape, std::vector<float>(C * HW)};
    const std::uint8_t* px = bytes.data() + header + static_cast<std::size_t>(i) * record + skip;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t q = 0; q < HW; ++q)
        t.data[c * HW + q] = (static_cast<float>(px[c * HW + q]) * scale - mean[c]) / stdv[c];
    out.push_back(std::move(t));
  }
  return out;
}

struct ModelCase {
  const char* name;
  int images;  // how many of the 32 reference images to run
  const char* dir = PEREGRINE_SHARED_DATA_DIR "/onnx";  // the shared models; PEREGRINE_MODELS_DIR: trained here
};

class ShippedModel : public ::testing::TestWithParam<ModelCase> {};

// Every ONNX model in ../shared/data/onnx: load, normalise, run the float executor on the first
// test images, compare with the PyTorch logits. Tolerance: |ours − ref| ≤ 1e-4 · max(1, |ref|)
// (absolute below 1, relative above).
TEST_P(ShippedModel, MatchesReferenceLogits) {
  if (!fs::is_directory(kData / "onnx")) GTEST_SKIP() << "shared data not found at " << kData;
  const ModelCase mc = GetParam();
  fs::path model = fs::path(mc.dir) / (std::string(mc.name) + ".onnx");
  Graph g = load_onnx(model.string());
  ASSERT_EQ(g.inputs.size(), 1u);
  ASSERT_EQ(g.outputs.size(), 1u);
  for (const Node& n : g.nodes) EXPECT_NE(n.op_type, "BatchNormalization") << n.name << " not folded";

  std::vector<std::uint8_t> ref_bytes = read_file(fs::path(mc.dir) / (std::string(mc.name) + ".ref_logits_first32.f32"));
  ASSERT_EQ(ref_bytes.size(), 32u * 10u * 4u);
  std::vector<float> ref(32 * 10);
  std::memcpy(ref.data(), ref_bytes.data(), ref_bytes.size());

  std::vector<Tensor> images = load_images(g, mc.images);
  auto t0 = std::chrono::steady_clock::now();
  double max_abs = 0, max_scaled = 0;
  for (int i = 0; i < mc.images; ++i) {
    std::vector<Tensor> out = run_float(g, {images[static_cast<std::size_t>(i)]});
    ASSERT_EQ(out.at(0).shape, (Shape{1, 10}));
    for (int j = 0; j < 10; ++j) {
      double r = ref[static_cast<std::size_t>(i * 10 + j)], v = out[0].data[static_cast<std::size_t>(j)];
      max_abs = std::max(max_abs, std::fabs(v - r));
      max_scaled = std::max(max_scaled, std::fabs(v - r) / std::max(1.0, std::fabs(r)));
      EXPECT_LE(std::fabs(v - r), 1e-4 * std::max(1.0, std::fabs(r))) << "image " << i << " class " << j;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ model    ] %-28s images %2d  nodes %3zu  max|err| %.3g  max scaled err %.3g  %.2f s\n", mc.name,
              mc.images, g.nodes.size(), max_abs, max_scaled, secs);
}

INSTANTIATE_TEST_SUITE_P(Onnx, ShippedModel,
                         ::testing::Values(ModelCase{"convmnist_square_mnist", 32}, ModelCase{"lenet_cifar10_crypten", 32},
                                           ModelCase{"lenet_mnist_shrinkbench", 32}, ModelCase{"mlp_mnist", 32},
                                           ModelCase{"resnet20_cifar10", 32}, ModelCase{"resnet32_cifar10", 32},
                                           ModelCase{"resnet44_cifar10", 32}, ModelCase{"resnet56_cifar10", 32},
                                           ModelCase{"resnet8_cifar10_mlperftiny", 32}, ModelCase{"tfe_a_mnist", 32},
                                           ModelCase{"tfe_b_mnist", 32}, ModelCase{"tfe_c_mnist", 32}),
                         [](const auto& info) { return std::string(info.param.name); });

// The CIFAR-10 networks trained here (python/train_cifar.py, models/), the same check.
INSTANTIATE_TEST_SUITE_P(Trained, ShippedModel,
                         ::testing::Values(ModelCase{"mobilenetv2_cifar10", 32, PEREGRINE_MODELS_DIR},
                                           ModelCase{"efficientnet_b0_cifar10", 32, PEREGRINE_MODELS_DIR},
                                           ModelCase{"resnet20_cifar10_poly", 32, PEREGRINE_MODELS_DIR}),
                         [](const auto& info) { return std::string(info.param.name); });

// Every .onnx file in the folder has a case above (a new model must not go untested).
TEST(ShippedModels, AllFilesCovered) {
  if (!fs::is_directory(kData / "onnx")) GTEST_SKIP() << "shared data not found at " << kData;
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(kData / "onnx")) n += e.path().extension() == ".onnx";
  EXPECT_EQ(n, 12u);
}

// ---- models built in the test with the protobuf API ------------------------------------------

// The test models name their Constant nodes "<output>_const".
void add_int_constant(onnx::GraphProto& g, const std::string& out, const Dims& dims,
                      const std::vector<std::int64_t>& v) {
  int_constant(g, out, dims, v, out + "_const");
}

std::vector<float> random_floats(Prg& prg, std::size_t n, float lo, float hi) {
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(prg.next_u64() >> 40) / static_cast<float>(1 << 24);
  return v;
}

Prg test_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  return Prg::from_seed(s);  // deterministic test stream
}

// Pad(0) → Conv → BN → Relu → Dropout → Reshape([Shape(d)[0], -1], folded) → Gemm → BN(1d) →
// Identity → MatMul → Add(const) → out. Normal form: Conv, Relu, Reshape, Gemm, Gemm.
onnx::ModelProto bn_model() {
  Prg prg = test_prg(7);
  onnx::ModelProto m = new_model();
  auto& g = *m.mutable_graph();
  g.set_name("bn_fold");
  add_value(g.mutable_input(), "x", {1, 3, 6, 6});
  add_value(g.mutable_output(), "y", {1, 3});
  // The initializers: name, shape, and the range of their random values (drawn from prg in this order).
  const std::vector<std::tuple<std::string, Dims, float, float>> inits = {
      {"cw", {4, 3, 3, 3}, -0.5f, 0.5f}, {"cb", {4}, -0.2f, 0.2f},     {"g1", {4}, 0.5f, 1.5f},
      {"b1", {4}, -0.5f, 0.5f},          {"m1", {4}, -0.5f, 0.5f},     {"v1", {4}, 0.2f, 2.0f},
      {"fw", {5, 144}, -0.1f, 0.1f},     {"fb", {5}, -0.1f, 0.1f},     {"g2", {5}, 0.5f, 1.5f},
      {"b2", {5}, -0.5f, 0.5f},          {"m2", {5}, -0.5f, 0.5f},     {"v2", {5}, 0.2f, 2.0f},
      {"mw", {5, 3}, -1.0f, 1.0f},       {"ab", {3}, -1.0f, 1.0f}};
  for (const auto& [name, dims, lo, hi] : inits)
    float_initializer(g, name, dims, random_floats(prg, static_cast<std::size_t>(element_count(dims)), lo, hi));
  add_int_constant(g, "zero_pads", {8}, {0, 0, 0, 0, 0, 0, 0, 0});
  add_node(g, "Pad", {"x", "zero_pads"}, {"xp"}, "pad0");
  auto* conv = add_node(g, "Conv", {"xp", "cw", "cb"}, {"c"}, "conv");
  attr_ints(conv, "pads", {1, 1, 1, 1});
  attr_ints(conv, "kernel_shape", {3, 3});
  add_node(g, "BatchNormalization", {"c", "g1", "b1", "m1", "v1"}, {"bn1"}, "bn1");
  add_node(g, "Relu", {"bn1"}, {"r"}, "relu");
  add_node(g, "Dropout", {"r"}, {"d"}, "drop");
  // torch-style dynamic flatten: x.view(x.size(0), -1)
  add_node(g, "Shape", {"d"}, {"ds"}, "shape");
  add_int_constant(g, "idx0", {}, {0});
  add_node(g, "Gather", {"ds", "idx0"}, {"n"}, "gather");
  add_int_constant(g, "axes0", {1}, {0});
  add_node(g, "Unsqueeze", {"n", "axes0"}, {"n1"}, "unsq");
  add_int_constant(g, "minus1", {1}, {-1});
  // "axis" is an INT attribute whose value is left unset (read as 0): attr_int would store the 0.
  add_node(g, "Concat", {"n1", "minus1"}, {"newshape"}, "cat")->add_attribute()->set_name("axis");
  g.mutable_node(g.node_size() - 1)->mutable_attribute(0)->set_type(onnx::AttributeProto::INT);
  add_node(g, "Reshape", {"d", "newshape"}, {"f"}, "flat");
  attr_int(add_node(g, "Gemm", {"f", "fw", "fb"}, {"h"}, "fc"), "transB", 1);
  add_node(g, "BatchNormalization", {"h", "g2", "b2", "m2", "v2"}, {"bn2"}, "bn2");
  add_node(g, "Identity", {"bn2"}, {"i"}, "id");
  add_node(g, "MatMul", {"i", "mw"}, {"mmo"}, "mm");
  add_node(g, "Add", {"mmo", "ab"}, {"y"}, "add");
  return m;
}

}  // namespace

TEST(OnnxImport, BatchNormFoldingAndBiasFusionPreserveOutputs) {
  std::vector<std::uint8_t> bytes = bytes_of(bn_model());
  Graph folded = load_onnx_bytes(bytes);
  ImportOptions plain;
  plain.fold_batchnorm = false;
  plain.fuse_bias_add = false;
  Graph unfolded = load_onnx_bytes(bytes, plain);

  std::vector<std::string> ops;
  for (const Node& n : folded.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"Conv", "Relu", "Reshape", "Gemm", "Gemm"}));
  EXPECT_EQ(folded.shape_of("f"), (Shape{1, 144}));
  int bns = 0;
  for (const Node& n : unfolded.nodes) bns += n.op_type == "BatchNormalization";
  EXPECT_EQ(bns, 2);
  EXPECT_EQ(folded.shape_of("y"), (Shape{1, 3}));
  EXPECT_EQ(folded.outputs, (std::vector<std::string>{"y"}));

  Prg prg = test_prg(8);
  for (int trial = 0; trial < 4; ++trial) {
    Tensor x{{1, 3, 6, 6}, random_floats(prg, 108, -2.0f, 2.0f)};
    Tensor a = run_float(folded, {x}).at(0), b = run_float(unfolded, {x}).at(0);
    ASSERT_EQ(a.shape, b.shape);
    for (std::size_t k = 0; k < a.data.size(); ++k)
      EXPECT_LE(std::fabs(a.data[k] - b.data[k]), 1e-5 * std::max(1.0f, std::fabs(b.data[k]))) << k;
  }
}

TEST(OnnxImport, UnsupportedOpsAreReportedAllAtOnce) {
  onnx::ModelProto m = new_model();
  auto& g = *m.mutable_graph();
  add_value(g.mutable_input(), "x", {1, 2, 5, 5});
  add_value(g.mutable_output(), "y", {1, 2, 5, 5});
  float_initializer(g, "w", {2, 2, 3, 3}, std::vector<float>(36, 0.1f));
  add_node(g, "Relu", {"x"}, {"a"}, "first_relu");
  add_node(g, "Erf", {"a"}, {"b"}, "weird_erf");
  auto* conv = add_node(g, "Conv", {"b", "w"}, {"c"}, "dilated_conv");
  attr_ints(conv, "dilations", {2, 2});
  attr_ints(conv, "pads", {2, 2, 2, 2});
  auto* pad = add_node(g, "Pad", {"c"}, {"d"}, "reflect_pad");
  auto* mode = pad->add_attribute();
  mode->set_name("mode");
  mode->set_type(onnx::AttributeProto::STRING);
  mode->set_s("reflect");
  add_node(g, "LRN", {"d"}, {"y"}, "lrn_norm");
  try {
    load_onnx_bytes(bytes_of(m));
    FAIL() << "expected Error(kUnsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    std::string what = e.what();
    for (const char* name : {"weird_erf", "dilated_conv", "reflect_pad", "lrn_norm"})
      EXPECT_NE(what.find(name), std::string::npos) << name << " missing from: " << what;
    EXPECT_EQ(what.find("first_relu"), std::string::npos) << what;
    std::printf("[ report   ] %s\n", what.c_str());
  }
}

// Many nodes refused for the same reason (EfficientNet-B0: 65 Sigmoids) are listed once, with
// their count and the first three names; fewer than four stay listed one by one.
TEST(OnnxImport, RepeatedUnsupportedNodesAreGrouped) {
  onnx::ModelProto m = new_model();
  auto& g = *m.mutable_graph();
  add_value(g.mutable_input(), "x", {1, 2, 5, 5});
  add_value(g.mutable_output(), "y", {1, 2, 5, 5});
  std::string prev = "x";
  for (int k = 0; k < 6; ++k) {
    add_node(g, "Erf", {prev}, {"e" + std::to_string(k)}, "erf_" + std::to_string(k));
    prev = "e" + std::to_string(k);
  }
  add_node(g, "LRN", {prev}, {"l0"}, "lrn_0");
  add_node(g, "LRN", {"l0"}, {"y"}, "lrn_1");
  try {
    load_onnx_bytes(bytes_of(m));
    FAIL() << "expected Error(kUnsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    const std::string what = e.what();
    EXPECT_NE(what.find("8 unsupported construct(s)"), std::string::npos) << what;
    EXPECT_NE(what.find("Erf: op type not supported (6 nodes: 'erf_0', 'erf_1', 'erf_2', ...)"), std::string::npos)
        << what;
    EXPECT_EQ(what.find("erf_3"), std::string::npos) << what;
    EXPECT_NE(what.find("lrn_0"), std::string::npos) << what;
    EXPECT_NE(what.find("lrn_1"), std::string::npos) << what;
  }
}

TEST(OnnxImport, MalformedBytesAreRejected) {
  auto expect_code = [](const std::vector<std::uint8_t>& b, ErrorCode code, const char* what) {
    try {
      load_onnx_bytes(b);
      ADD_FAILURE() << what << ": expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << what << ": " << e.what();
    }
  };
  Prg prg = test_prg(9);
  for (int trial = 0; trial < 8; ++trial) {
    std::vector<std::uint8_t> junk(4096);
    prg.fill(junk.data(), junk.size());
    expect_code(junk, ErrorCode::kMalformedInput, "random bytes");
  }
  expect_code({}, ErrorCode::kMalformedInput, "empty");

  std::vector<std::uint8_t> good = bytes_of(bn_model());
  EXPECT_NO_THROW(load_onnx_bytes(good));
  for (std::size_t cut : {good.size() / 2, good.size() - 1, std::size_t{10}}) {
    std::vector<std::uint8_t> t(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    expect_code(t, ErrorCode::kMalformedInput, "truncated");
  }

  // raw_data whose length does not match the dims.
  onnx::ModelProto m = bn_model();
  m.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->resize(20);
  expect_code(bytes_of(m), ErrorCode::kMalformedInput, "raw_data length");
  // absurd dims are refused before allocation
  m = bn_model();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, std::int64_t{1} << 40);
  expect_code(bytes_of(m), ErrorCode::kMalformedInput, "huge dims");
  m = bn_model();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, -4);
  expect_code(bytes_of(m), ErrorCode::kMalformedInput, "negative dims");
  // a node reading a value nothing defines
  m = bn_model();
  m.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  expect_code(bytes_of(m), ErrorCode::kMalformedInput, "undefined value");

  ImportOptions small;
  small.max_model_bytes = 100;
  try {
    load_onnx_bytes(good, small);
    ADD_FAILURE() << "size limit not enforced";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kSizeLimit);
  }
}

TEST(OnnxImport, TruncatedShippedFileIsMalformed) {
  fs::path p = kData / "onnx" / "tfe_b_mnist.onnx";
  if (!fs::exists(p)) GTEST_SKIP() << "shared data not found at " << kData;
  std::vector<std::uint8_t> b = read_file(p);
  for (std::size_t cut : {b.size() / 2, b.size() / 3, b.size() - 7}) {
    std::vector<std::uint8_t> t(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut));
    try {
      load_onnx_bytes(t);
      ADD_FAILURE() << "truncated at " << cut << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kMalformedInput) << e.what();
    }
  }
}

TEST(OnnxImport, MissingFileIsInvalidArgument) {
  try {
    load_onnx("/nonexistent/model.onnx");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

// Byte flips anywhere in a valid model: the importer either accepts the result or throws a
// peregrine::Error (never another exception type, never a crash; run under ASan/UBSan in CI).
TEST(OnnxImport, MutatedModelsFailCleanly) {
  std::vector<std::uint8_t> good = bytes_of(bn_model());
  Prg prg = test_prg(10);
  int accepted = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::uint8_t> b = good;
    int flips = 1 + static_cast<int>(prg.uniform_below(4));
    for (int f = 0; f < flips; ++f) b[prg.uniform_below(b.size())] ^= static_cast<std::uint8_t>(1 + prg.uniform_below(255));
    try {
      Graph g = load_onnx_bytes(b);
      ++accepted;
      Tensor x{g.shape_of(g.inputs.at(0)), {}};
      x.data.assign(static_cast<std::size_t>(element_count(x.shape)), 0.5f);
      run_float(g, {x});
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "trial " << trial << ": non-peregrine exception: " << e.what();
    }
  }
  std::printf("[ mutate   ] %d of 300 mutated models still loaded\n", accepted);
}

// Fuzz regression (fuzz_onnx): a pooling pad must be below the kernel on its own axis (ONNX), not
// only below the larger kernel side; else a window may hold no input element and the client
// refuses the server's plan (nn::plan_from_json checks per axis).
TEST(OnnxImport, PoolPaddingNotBelowTheKernelOnItsAxisIsMalformed) {
  for (const char* op : {"MaxPool", "AveragePool"}) {
    onnx::ModelProto m = new_model();
    auto& g = *m.mutable_graph();
    add_value(g.mutable_input(), "x", {1, 2, 5, 5});
    add_value(g.mutable_output(), "y", {1, 2, 7, 3});
    auto* pool = add_node(g, op, {"x"}, {"y"}, "pool");
    attr_ints(pool, "kernel_shape", {1, 3});
    attr_ints(pool, "pads", {1, 0, 1, 0});  // pad 1 on H, where the kernel is 1
    try {
      load_onnx_bytes(bytes_of(m));
      ADD_FAILURE() << op << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kMalformedInput) << e.what();
    }
    pool->mutable_attribute(1)->set_ints(0, 0);
    pool->mutable_attribute(1)->set_ints(2, 0);
    pool->mutable_attribute(1)->set_ints(1, 2);  // pad 2 on W, where the kernel is 3: fine
    pool->mutable_attribute(1)->set_ints(3, 2);
    EXPECT_EQ(load_onnx_bytes(bytes_of(m)).shape_of("y"), (Shape{1, 2, 5, 7})) << op;
  }
}

// ceil_mode 1 (SqueezeNet's max-pools): the output size rounds up, less a last window that would
// start in the end padding (PyTorch's rule); normalised to floor mode with extra end padding that
// never wins the max. An average pool whose ceil mode adds a partial window is reported.
TEST(OnnxImport, CeilModePoolsNormaliseToExtraEndPadding) {
  struct Case {
    const char* op;
    std::int64_t in, k, s, pad;
    std::int64_t out;  // -1: reported unsupported
  };
  for (const Case& c : {Case{"MaxPool", 5, 2, 2, 0, 3}, Case{"MaxPool", 6, 3, 2, 0, 3}, Case{"MaxPool", 7, 3, 2, 1, 4},
                        Case{"MaxPool", 111, 3, 2, 0, 55}, Case{"AveragePool", 4, 2, 2, 0, 2},
                        Case{"AveragePool", 5, 2, 2, 0, -1}}) {
    onnx::ModelProto m = new_model();
    auto& g = *m.mutable_graph();
    add_value(g.mutable_input(), "x", {1, 1, c.in, c.in});
    add_value(g.mutable_output(), "y", {1, 1, std::max<std::int64_t>(c.out, 1), std::max<std::int64_t>(c.out, 1)});
    auto* pool = add_node(g, c.op, {"x"}, {"y"}, "pool");
    attr_ints(pool, "kernel_shape", {c.k, c.k});
    attr_ints(pool, "strides", {c.s, c.s});
    attr_ints(pool, "pads", {c.pad, c.pad, c.pad, c.pad});
    attr_int(pool, "ceil_mode", 1);
    const std::string what = std::string(c.op) + " in " + std::to_string(c.in) + " k " + std::to_string(c.k);
    if (c.out < 0) {
      EXPECT_THROW(load_onnx_bytes(bytes_of(m)), Error) << what;
      continue;
    }
    Graph gr = load_onnx_bytes(bytes_of(m));
    ASSERT_EQ(gr.shape_of("y"), (Shape{1, 1, c.out, c.out})) << what;
    // Every output is the max over its window's real inputs (the plain definition, computed here).
    Tensor x{{1, 1, c.in, c.in}, std::vector<float>(static_cast<std::size_t>(c.in * c.in))};
    for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = -static_cast<float>((i * 7919) % 101) - 1.0f;
    const Tensor y = run_float(gr, {x})[0];
    for (std::int64_t oh = 0; oh < c.out; ++oh)
      for (std::int64_t ow = 0; ow < c.out; ++ow) {
        float best = -1e30f, sum = 0;
        int cnt = 0;
        for (std::int64_t i = oh * c.s - c.pad; i < oh * c.s - c.pad + c.k; ++i)
          for (std::int64_t j = ow * c.s - c.pad; j < ow * c.s - c.pad + c.k; ++j)
            if (i >= 0 && i < c.in && j >= 0 && j < c.in) {
              best = std::max(best, x.data[static_cast<std::size_t>(i * c.in + j)]);
              sum += x.data[static_cast<std::size_t>(i * c.in + j)];
              ++cnt;
            }
        const float want = std::string(c.op) == "MaxPool" ? best : sum / static_cast<float>(cnt);
        EXPECT_FLOAT_EQ(y.data[static_cast<std::size_t>(oh * c.out + ow)], want) << what << " at " << oh << "," << ow;
      }
  }
}

// MaxPool after a ReLU or Clip that feeds only it runs first (the activation on the pooled tensor):
// the same outputs as the graph imported without the rewrite, in float and in fixed point; an
// activation with a second reader keeps its place.
TEST(OnnxImport, MaxPoolMovesBeforeItsActivation) {
  for (const std::string act : {"Relu", "Clip", "Relu-shared"}) {
    onnx::ModelProto m = new_model();
    auto& g = *m.mutable_graph();
    add_value(g.mutable_input(), "x", {1, 2, 7, 7});
    add_value(g.mutable_output(), "y", {1, 2, 4, 4});
    if (act == "Clip") {
      float_constant(g, "lo", {}, {0.0f});
      float_constant(g, "hi", {}, {0.5f});
      add_node(g, "Clip", {"x", "lo", "hi"}, {"r"}, "act");
    } else {
      add_node(g, "Relu", {"x"}, {"r"}, "act");
    }
    auto* pool = add_node(g, "MaxPool", {"r"}, {act == "Relu-shared" ? "p" : "y"}, "pool");
    attr_ints(pool, "kernel_shape", {3, 3});
    attr_ints(pool, "strides", {2, 2});
    attr_ints(pool, "pads", {1, 1, 1, 1});
    if (act == "Relu-shared") {  // y = pool + a slice of the activation: the ReLU has two readers
      auto* sl = add_node(g, "MaxPool", {"r"}, {"q"}, "pool2");
      attr_ints(sl, "kernel_shape", {1, 1});
      attr_ints(sl, "strides", {2, 2});
      add_node(g, "Add", {"p", "q"}, {"y"}, "add");
    }
    ImportOptions off;
    off.pool_before_activation = false;
    const Graph moved = load_onnx_bytes(bytes_of(m)), kept = load_onnx_bytes(bytes_of(m), off);
    const bool swapped = moved.nodes.front().op_type == "MaxPool";
    EXPECT_EQ(swapped, act != "Relu-shared") << act;
    EXPECT_EQ(kept.nodes.front().op_type, act == "Clip" ? "Clip" : "Relu") << act;
    Tensor x{{1, 2, 7, 7}, std::vector<float>(98)};
    for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = std::sin(0.7f * static_cast<float>(i)) * 0.9f;
    EXPECT_EQ(run_float(moved, {x})[0].data, run_float(kept, {x})[0].data) << act;
    const FixedModel fm = quantize_model(moved, {x}), fk = quantize_model(kept, {x});
    EXPECT_EQ(run_fixed(fm, quantize_input(fm.plan, x.data)), run_fixed(fk, quantize_input(fk.plan, x.data))) << act;
  }
}

// Fuzz regression (fuzz_onnx): names and metadata reach the JSON plan, whose encoder throws a
// non-peregrine exception on bytes that are not UTF-8; the importer refuses them up front.
TEST(OnnxImport, StringsThatAreNotUtf8AreMalformed) {
  auto expect_malformed = [](const onnx::ModelProto& m, const char* what) {
    try {
      load_onnx_bytes(bytes_of(m));
      ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kMalformedInput) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
    }
  };
  onnx::ModelProto m = bn_model();
  m.mutable_graph()->mutable_node(1)->set_name("conv\x80");
  expect_malformed(m, "node name");
  m = bn_model();
  m.mutable_graph()->mutable_node(2)->set_output(0, "bn\xc3");  // truncated 2-byte sequence
  m.mutable_graph()->mutable_node(3)->set_input(0, "bn\xc3");
  expect_malformed(m, "value name");
  m = bn_model();
  auto* p = m.add_metadata_props();
  p->set_key("labels");
  p->set_value("a,\xed\xa0\x80");  // a UTF-16 surrogate
  expect_malformed(m, "metadata value");
  m = bn_model();
  m.mutable_graph()->mutable_input(0)->set_name("x\xc0\xaf");  // overlong '/'
  m.mutable_graph()->mutable_node(1)->set_input(0, "x\xc0\xaf");  // pad0 reads x
  expect_malformed(m, "input name");
  // Valid multi-byte UTF-8 is fine.
  m = bn_model();
  m.mutable_graph()->mutable_node(1)->set_name("faltung_\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80");
  p = m.add_metadata_props();
  p->set_key("labels");
  p->set_value("null,eins,zw\xc3\xb6lf");
  EXPECT_NO_THROW(load_onnx_bytes(bytes_of(m)));
}

// Overflow regression (fuzz_onnx review): Slice's element count was ⌈(e − s + step − 1)/step⌉,
// which overflows int64 for a step near ±2^63 (UB). Any step is fine now; a step that only meets
// one element is stored as 1 (the plan bounds steps by 2^28), and a runtime Slice keeps its
// reversal (negative step) for the float model.
TEST(OnnxImport, SliceStepsOfAnySizeGiveTheRightShape) {
  const std::int64_t big = std::numeric_limits<std::int64_t>::max(), low = std::numeric_limits<std::int64_t>::min();
  onnx::ModelProto m = new_model();
  auto& g = *m.mutable_graph();
  add_value(g.mutable_input(), "x", {1, 3, 6, 6});
  add_value(g.mutable_output(), "y", {1, 1, 1, 3});
  add_int_constant(g, "st", {3}, {0, 5, 1});
  add_int_constant(g, "en", {3}, {big, low, big});
  add_int_constant(g, "ax", {3}, {1, 2, 3});
  add_int_constant(g, "sp", {3}, {big, low, 2});
  add_node(g, "Slice", {"x", "st", "en", "ax", "sp"}, {"y"}, "slice");
  Graph gr = load_onnx_bytes(bytes_of(m));
  EXPECT_EQ(gr.shape_of("y"), (Shape{1, 1, 1, 3}));
  ASSERT_EQ(gr.nodes.size(), 1u);
  EXPECT_EQ(gr.nodes[0].attr_ints("steps"), (std::vector<std::int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(gr.nodes[0].attr_ints("starts"), (std::vector<std::int64_t>{0, 0, 5, 1}));
}

// Fuzz regression (fuzz_onnx): a Shape node without an input made the constant folder call
// std::vector::at(0) on its empty input list (std::out_of_range, not a peregrine::Error).
TEST(OnnxImport, ShapeWithoutAnInputIsMalformed) {
  for (const char* input : std::initializer_list<const char*>{"", nullptr}) {
    onnx::ModelProto m = bn_model();
    auto* shape = m.mutable_graph()->add_node();
    shape->set_name("shape_of_nothing");
    shape->set_op_type("Shape");
    if (input) shape->add_input(input);  // an empty name, or no input at all
    shape->add_output("nothing_shape");
    try {
      load_onnx_bytes(bytes_of(m));
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kMalformedInput) << e.what();
    }
  }
}
