// A small quantised (QDQ) ONNX model in the form python/train_quant.py exports (docs/QUANTISED.md),
// for the tests (tests/nn/test_quantised.cpp, tests/engine/test_engine.cpp) and the fuzz seeds
// (fuzz/seed_models.hpp). Built with tests/common/onnx_builder.hpp only (protobuf and the standard
// library), so the fuzz targets can include it without the test suite.
//
// x [1,3,8,8] float → QuantizeLinear (uint8, zero point 128: 8-bit signed) → DequantizeLinear →
// Conv 3→4 3×3 pad 1 (int8 weights with per-output-channel scales when `per_channel`, int32
// bias) → Relu → Clip(0, 15·s) → QuantizeLinear (a 4-bit activation in uint8) → DequantizeLinear
// → Conv 4→4 (per-tensor int8 weights in [−7, 7], int32 bias) → QuantizeLinear (uint8, zero point
// 128) → DequantizeLinear → Add (the first activation: a residual) → Relu → Clip → QuantizeLinear
// (4 bits) → DequantizeLinear → MaxPool 2×2 → GlobalAveragePool → QuantizeLinear (8 bits) →
// DequantizeLinear → Flatten → Gemm 4→3 (int8, transB 1, int32 bias) → logits [1,3].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "onnx_builder.hpp"

namespace peregrine::test::onnx_builder {

/// a + b without std::string's operator+ (GCC 12 warns, -Wrestrict, on its inlined form here).
inline std::string joined(const std::string& a, const char* b) {
  std::string r;
  r.reserve(a.size() + 16);
  r.append(a);
  r.append(b);
  return r;
}

/// narrow_weights: both convs' weights in [−1, 1] (a 2-bit width), so that HEQuant's K- and C-pack,
/// whose packed kernels widen the HE noise, fit every conv (tests/engine/test_engine.cpp).
inline onnx::ModelProto qdq_model(bool per_channel = true, bool narrow_weights = false) {
  onnx::ModelProto m = new_model();
  auto& g = *m.mutable_graph();
  g.set_name("qdq");
  add_value(g.mutable_input(), "x", {1, 3, 8, 8});
  add_value(g.mutable_output(), "logits", {1, 3});
  int k = 0;
  auto scalar = [&](float v) {
    const std::string n = joined("s", std::to_string(k++).c_str());
    float_initializer(g, n, {}, {v});
    return n;
  };
  auto zero_point = [&](int elem, std::int64_t v) {
    const std::string n = joined("z", std::to_string(k++).c_str());
    int_initializer(g, n, {}, elem, {v});
    return n;
  };
  // (value, scale, zero point) → Q → DQ; an optional Clip(lo, hi) first. Returns the DQ output.
  auto qdq = [&](const std::string& x, float s, std::int64_t zp, bool clip4) {
    std::string in = x;
    if (clip4) {
      const std::string c = joined(x, "_clip");
      add_node(g, "Clip", {x, scalar(0.0f), scalar(15.0f * s)}, {c});
      in = c;
    }
    const std::string sn = scalar(s), zn = zero_point(onnx::TensorProto::UINT8, zp);
    add_node(g, "QuantizeLinear", {in, sn, zn}, {joined(x, "_q")});
    add_node(g, "DequantizeLinear", {joined(x, "_q"), sn, zn}, {joined(x, "_dq")});
    return joined(x, "_dq");
  };
  // Deterministic small integers in [−lim, lim].
  auto ints = [](std::size_t n, std::int64_t lim, std::int64_t salt) {
    std::vector<std::int64_t> v(n);
    for (std::size_t i = 0; i < n; ++i)
      v[i] = static_cast<std::int64_t>((i * 37 + static_cast<std::size_t>(salt) * 11) % static_cast<std::size_t>(2 * lim + 1)) - lim;
    return v;
  };
  // DequantizeLinear of an integer initializer; per-axis scales along axis 0 when several.
  auto dq_const = [&](const std::string& name, const Dims& dims, int elem, const std::vector<std::int64_t>& q,
                      const std::vector<float>& scales) {
    int_initializer(g, name, dims, elem, q);
    const std::string sn = joined(name, "_scale"), zn = joined(name, "_zp");
    float_initializer(g, sn, scales.size() == 1 ? Dims{} : Dims{static_cast<std::int64_t>(scales.size())}, scales);
    int_initializer(g, zn, scales.size() == 1 ? Dims{} : Dims{static_cast<std::int64_t>(scales.size())}, elem,
                    std::vector<std::int64_t>(scales.size(), 0));
    auto* n = add_node(g, "DequantizeLinear", {name, sn, zn}, {joined(name, "_f")});
    if (scales.size() > 1) attr_int(n, "axis", 0);
    return joined(name, "_f");
  };
  // Scales as training gives them (not round numbers, whose ratios would make exact rounding ties common).
  const float s_in = 0.0213f, s_a = 0.0517f, s_y = 0.0291f, s_o = 0.0634f, s_p = 0.0123f;
  const std::string x = qdq("x", s_in, 128, false);
  std::vector<float> w1s = per_channel ? std::vector<float>{0.0103f, 0.0131f, 0.0087f, 0.0112f} : std::vector<float>{0.0104f};
  std::vector<float> b1s(4);
  for (std::size_t c = 0; c < 4; ++c) b1s[c] = s_in * w1s[per_channel ? c : 0];
  const std::string w1 = dq_const("w1", {4, 3, 3, 3}, onnx::TensorProto::INT8, ints(108, narrow_weights ? 1 : 100, 1), w1s);
  const std::string b1 = dq_const("b1", {4}, onnx::TensorProto::INT32, {300, -200, 150, -50},
                                  per_channel ? b1s : std::vector<float>{b1s[0]});
  auto* c1 = add_node(g, "Conv", {x, w1, b1}, {"c1"});
  attr_ints(c1, "kernel_shape", {3, 3});
  attr_ints(c1, "pads", {1, 1, 1, 1});
  add_node(g, "Relu", {"c1"}, {"r1"});
  const std::string a1 = qdq("r1", s_a, 0, true);
  const std::string w2 = dq_const("w2", {4, 4, 3, 3}, onnx::TensorProto::INT8, ints(144, narrow_weights ? 1 : 7, 2), {0.0493f});
  const std::string b2 = dq_const("b2", {4}, onnx::TensorProto::INT32, {20, -10, 5, 0}, {s_a * 0.0493f});
  auto* c2 = add_node(g, "Conv", {a1, w2, b2}, {"c2"});
  attr_ints(c2, "kernel_shape", {3, 3});
  attr_ints(c2, "pads", {1, 1, 1, 1});
  const std::string y = qdq("c2", s_y, 128, false);
  add_node(g, "Add", {y, a1}, {"sum"});
  add_node(g, "Relu", {"sum"}, {"r2"});
  const std::string o = qdq("r2", s_o, 0, true);
  auto* mp = add_node(g, "MaxPool", {o}, {"mp"});
  attr_ints(mp, "kernel_shape", {2, 2});
  attr_ints(mp, "strides", {2, 2});
  add_node(g, "GlobalAveragePool", {"mp"}, {"gap"});
  const std::string p = qdq("gap", s_p, 0, false);
  add_node(g, "Flatten", {p}, {"flat"});
  const std::string w3 = dq_const("w3", {3, 4}, onnx::TensorProto::INT8, ints(12, 100, 3), {0.0207f});
  const std::string b3 = dq_const("b3", {3}, onnx::TensorProto::INT32, {1000, -500, 0}, {s_p * 0.0207f});
  attr_int(add_node(g, "Gemm", {"flat", w3, b3}, {"logits"}), "transB", 1);
  return m;
}

}  // namespace peregrine::test::onnx_builder
