// Seed models shared by the onnx and handshake fuzz targets: the ONNX files shipped in models/
// (read at run time from PEREGRINE_MODELS_DIR, the source tree's models/ folder) and a small
// synthetic ONNX model built here with the protobuf API that uses every supported op and every
// folded form (so the mutations start from each code path of the importer and the lowering), plus
// the quantisation a `serve` runs on them. The model is built with the ONNX helpers the tests use
// (tests/common/onnx_builder.hpp: protobuf and the standard library only, so it builds without
// the test suite).
#pragma once
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "../tests/common/onnx_builder.hpp"
#include "../tests/common/qdq_model.hpp"
#include "peregrine/nn/fixed.hpp"
#include "peregrine/nn/graph.hpp"

namespace peregrine::fuzz {

using Bytes = std::vector<std::uint8_t>;

/// The .onnx files of the source tree's models/ folder (sorted by name).
inline std::vector<Bytes> shipped_onnx_models() {
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(PEREGRINE_MODELS_DIR, ec))
    if (e.path().extension() == ".onnx") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  std::vector<Bytes> out;
  for (const auto& p : paths) out.push_back(test::onnx_builder::read_file(p));
  return out;
}

namespace seed_detail {

// A FLOAT initializer of shape `dims` with deterministic, varied values within ±scale (`salt`
// varies the pattern between initializers).
inline void add_floats(onnx::GraphProto& g, const std::string& name, const std::vector<std::int64_t>& dims,
                       float scale, int salt) {
  std::int64_t count = 1;
  for (auto d : dims) count *= d;
  std::vector<float> v(static_cast<std::size_t>(count));
  for (std::size_t k = 0; k < v.size(); ++k)
    v[k] = scale * static_cast<float>(static_cast<int>((k * 37 + static_cast<std::size_t>(salt) * 11) % 41) - 20) / 20.0f;
  test::onnx_builder::float_initializer(g, name, dims, v);
}

}  // namespace seed_detail

/// A small opset-13 model over x [1,3,8,8] that uses every runtime op of the importer (Pad, Conv
/// with stride/groups, BatchNormalization, Relu, Clip, HardSigmoid, MaxPool, AveragePool, Add, Sub,
/// Mul (also broadcast),
/// Slice, Concat, GlobalAveragePool, Reshape, Flatten, Gemm, MatMul, Identity, Dropout, Softmax or
/// ArgMax) and every folded form (Constant, ConstantOfShape, Shape, Gather, Unsqueeze, Squeeze,
/// Transpose, Cast, Div), with preprocessing metadata.
inline onnx::ModelProto synthetic_onnx(bool argmax = false) {
  using namespace test::onnx_builder;
  using seed_detail::add_floats;
  onnx::ModelProto m = new_model();
  for (auto [k, v] : {std::pair{"pixel_scale", "0.00392156862745098"}, {"mean", "0.5,0.4,0.3"}, {"std", "0.25,0.25,0.5"},
                      {"labels", "a,b,c,d,e"}}) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  auto& g = *m.mutable_graph();
  g.set_name("fuzz_seed");
  add_value(g.mutable_input(), "x", {1, 3, 8, 8});
  add_value(g.mutable_output(), "y", argmax ? std::vector<std::int64_t>{1, 1} : std::vector<std::int64_t>{1, 5});
  add_floats(g, "w1", {8, 3, 3, 3}, 0.4f, 1);
  add_floats(g, "b1", {8}, 0.2f, 2);
  for (int k = 0; k < 2; ++k) {
    const std::string s = std::to_string(k);
    add_floats(g, "gamma" + s, {8}, 0.3f, 3 + k);
    add_floats(g, "beta" + s, {8}, 0.2f, 5 + k);
    add_floats(g, "mean" + s, {8}, 0.2f, 7 + k);
    auto* var = g.add_initializer();
    var->set_name("var" + s);
    var->set_data_type(onnx::TensorProto::FLOAT);
    var->add_dims(8);
    for (int c = 0; c < 8; ++c) var->add_float_data(0.5f + 0.1f * static_cast<float>(c));
  }
  add_floats(g, "wdw", {8, 1, 3, 3}, 0.5f, 9);
  add_floats(g, "mscale", {1, 8, 1, 1}, 0.7f, 10);
  add_floats(g, "mshift", {1, 8, 1, 1}, 0.3f, 11);
  add_floats(g, "fw", {5, 14}, 0.5f, 12);
  add_floats(g, "fb", {5}, 0.1f, 13);

  int_constant(g, "pads0", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
  add_node(g, "Pad", {"x", "pads0"}, {"xp"});
  add_node(g, "Conv", {"xp", "w1", "b1"}, {"c1"});
  add_node(g, "BatchNormalization", {"c1", "gamma0", "beta0", "mean0", "var0"}, {"n1"});
  add_node(g, "Relu", {"n1"}, {"r1"});
  auto* dw = add_node(g, "Conv", {"r1", "wdw"}, {"dw"});
  attr_ints(dw, "strides", {2, 2});
  attr_ints(dw, "pads", {1, 1, 1, 1});
  attr_ints(dw, "kernel_shape", {3, 3});
  attr_int(dw, "group", 8);
  add_node(g, "BatchNormalization", {"dw", "gamma1", "beta1", "mean1", "var1"}, {"n2"});
  float_constant(g, "lo", {}, {-0.5f});
  float_constant(g, "hi", {}, {1.5f});
  add_node(g, "Clip", {"n2", "lo", "hi"}, {"cl"});
  auto* mp = add_node(g, "MaxPool", {"r1"}, {"mp"});
  attr_ints(mp, "kernel_shape", {3, 3});
  attr_ints(mp, "strides", {2, 2});
  attr_ints(mp, "pads", {1, 1, 1, 1});
  add_node(g, "Add", {"cl", "mp"}, {"sum"});
  add_node(g, "Mul", {"sum", "sum"}, {"sq"});
  add_node(g, "Mul", {"sq", "cl"}, {"mu"});
  add_node(g, "Mul", {"mu", "mscale"}, {"sc"});
  add_node(g, "Sub", {"sc", "mshift"}, {"sub"});
  auto* ap = add_node(g, "AveragePool", {"sub"}, {"ap"});
  attr_ints(ap, "kernel_shape", {3, 3});
  attr_ints(ap, "strides", {2, 2});
  attr_ints(ap, "pads", {1, 1, 0, 0});
  attr_int(ap, "count_include_pad", 0);
  int_constant(g, "sl_starts", {2}, {0, 1});
  int_constant(g, "sl_ends", {2}, {8, 2});
  int_constant(g, "sl_axes", {2}, {1, 3});
  int_constant(g, "sl_steps", {2}, {2, 1});
  add_node(g, "Slice", {"ap", "sl_starts", "sl_ends", "sl_axes", "sl_steps"}, {"sl"});  // [1,4,2,1]
  int_constant(g, "pads1", {8}, {0, 1, 0, 0, 0, 1, 0, 1});
  add_node(g, "Pad", {"sl", "pads1"}, {"pd"});  // [1,6,2,2]
  attr_int(add_node(g, "Concat", {"pd", "ap"}, {"cat"}), "axis", 1);  // [1,14,2,2]
  add_node(g, "GlobalAveragePool", {"cat"}, {"gp0"});                 // [1,14,1,1]
  auto* hs = add_node(g, "HardSigmoid", {"gp0"}, {"gate"});            // squeeze-and-excitation gate
  auto* alpha = hs->add_attribute();
  alpha->set_name("alpha");
  alpha->set_type(onnx::AttributeProto::FLOAT);
  alpha->set_f(1.0f / 6);
  add_node(g, "Mul", {"cat", "gate"}, {"se"});                         // broadcast [1,14,2,2]
  add_node(g, "GlobalAveragePool", {"se"}, {"gp"});                    // [1,14,1,1]
  add_node(g, "Dropout", {"gp"}, {"gpd"});
  // torch's x.view(x.size(0), -1), folded: Shape → Gather → Unsqueeze → Concat → Reshape
  add_node(g, "Shape", {"gpd"}, {"shp"});
  int_constant(g, "idx0", {}, {0});
  add_node(g, "Gather", {"shp", "idx0"}, {"n0"});
  int_constant(g, "axes0", {1}, {0});
  add_node(g, "Unsqueeze", {"n0", "axes0"}, {"n0u"});
  int_constant(g, "minus1", {1}, {-1});
  attr_int(add_node(g, "Concat", {"n0u", "minus1"}, {"newshape"}), "axis", 0);
  add_node(g, "Reshape", {"gpd", "newshape"}, {"f"});  // [1,14]
  add_node(g, "Identity", {"f"}, {"fi"});
  attr_int(add_node(g, "Gemm", {"fi", "fw", "fb"}, {"h"}), "transB", 1);  // [1,5]
  // A folded weight: ConstantOfShape [5,14] → Transpose → Div 2 → Cast → MatMul, then Add(bias)
  // from a Squeeze of a [1,5] constant (Gemm bias fusion).
  int_constant(g, "cs_shape", {2}, {5, 14});
  {
    auto* n = add_node(g, "ConstantOfShape", {"cs_shape"}, {"cs"});
    auto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_dims(1);
    a->mutable_t()->add_float_data(0.05f);
  }
  add_node(g, "Transpose", {"cs"}, {"cst"});  // [14,5]
  float_constant(g, "two", {}, {2.0f});
  add_node(g, "Div", {"cst", "two"}, {"csd"});
  attr_int(add_node(g, "Cast", {"csd"}, {"csc"}), "to", onnx::TensorProto::FLOAT);
  add_node(g, "MatMul", {"f", "csc"}, {"mm"});
  float_constant(g, "bias2", {1, 5}, {0.1f, -0.1f, 0.2f, -0.2f, 0.0f});
  int_constant(g, "axes1", {1}, {0});
  add_node(g, "Squeeze", {"bias2", "axes1"}, {"bias2s"});
  add_node(g, "Add", {"mm", "bias2s"}, {"mmb"});
  add_node(g, "Add", {"h", "mmb"}, {"logits"});
  if (argmax) {
    auto* am = add_node(g, "ArgMax", {"logits"}, {"y"});
    attr_int(am, "axis", 1);
  } else {
    attr_int(add_node(g, "Softmax", {"logits"}, {"y"}), "axis", 1);
  }
  return m;
}

/// The serialised model (an .onnx file's bytes).
using test::onnx_builder::bytes_of;

/// The small quantised (QDQ) model (tests/common/qdq_model.hpp): QuantizeLinear/DequantizeLinear,
/// int8/uint8/int32 initializers, per-channel weight scales, and the integer plan it lowers to.
using test::onnx_builder::qdq_model;

/// A deterministic calibration input for `g`'s single input (values in [−1, 1]).
inline nn::Tensor calibration_input(const nn::Graph& g) {
  nn::Tensor t;
  t.shape = g.shape_of(g.inputs.at(0));
  t.data.resize(static_cast<std::size_t>(nn::element_count(t.shape)));
  for (std::size_t k = 0; k < t.data.size(); ++k)
    t.data[k] = static_cast<float>(static_cast<int>((k * 7919) % 257) - 128) / 128.0f;
  return t;
}

}  // namespace peregrine::fuzz
