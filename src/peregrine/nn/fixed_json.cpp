// Plan serialisation (nn/fixed.hpp plan_to_json / plan_from_json): canonical JSON text and the
// validation of a plan received from a peer or a file.
#include "peregrine/nn/fixed.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "peregrine/core/error.hpp"
#include "peregrine/nn/fixed_internal.hpp"
#include "peregrine/nn/float_exec.hpp"
#include "peregrine/nn/moves.hpp"

namespace peregrine::nn {
using namespace fixed_detail;

// ---- JSON ---------------------------------------------------------------------------------------

namespace {

using nlohmann::json;

constexpr std::size_t kMaxPlanNodes = 4096;

void window_to_json(json& j, const FxWindow& w) {
  j["C"] = w.C; j["H"] = w.H; j["W"] = w.W; j["kh"] = w.kh; j["kw"] = w.kw;
  j["sh"] = w.sh; j["sw"] = w.sw; j["pads"] = w.pads;
}
void weights_to_json(json& j, const FxWeightsRef& w) {
  j["bias"] = w.has_bias;
  j["wbits"] = w.weight_bits;
}

json node_to_json(const FxNode& n) {
  json j;
  j["op"] = fx_op_name(n.op);
  j["name"] = n.name;
  j["in"] = n.inputs;
  j["out"] = n.output;
  switch (n.op) {
    case FxOp::kConv: {
      const auto& a = n.conv();
      window_to_json(j, a);
      weights_to_json(j, a);
      j["M"] = a.M; j["groups"] = a.groups;
      break;
    }
    case FxOp::kMaxPool:
    case FxOp::kAvgPool:
      window_to_json(j, n.pool());
      if (n.op == FxOp::kAvgPool) j["count_include_pad"] = n.pool().count_include_pad;
      break;
    case FxOp::kGemm:
      weights_to_json(j, n.gemm());
      j["K"] = n.gemm().K; j["N"] = n.gemm().N;
      break;
    case FxOp::kAffine:
      weights_to_json(j, n.affine());
      j["C"] = n.affine().C; j["inner"] = n.affine().inner;
      break;
    case FxOp::kTrunc: j["shift"] = n.shift().shift; j["nonneg"] = n.shift().nonneg; break;
    case FxOp::kExtend: j["nonneg"] = n.extend().nonneg; break;
    case FxOp::kScaleUp: j["shift"] = n.shift().shift; break;
    case FxOp::kAddPublic:
    case FxOp::kMulPublic: j["constant"] = n.public_const().constant; break;
    case FxOp::kPad: j["pads"] = n.pad().pads; break;
    case FxOp::kSlice: j["starts"] = n.slice().starts; j["steps"] = n.slice().steps; break;
    case FxOp::kConcat: j["axis"] = n.concat().axis; break;
    case FxOp::kClip: j["lo"] = n.clip().lo; j["hi"] = n.clip().hi; break;
    default: break;
  }
  return j;
}

[[noreturn]] void bad_plan(const std::string& what) {
  throw Error(ErrorCode::kMalformedInput, "plan: " + what);
}

FxOp op_from_name(const std::string& s) {
  for (int k = 0; k <= static_cast<int>(FxOp::kClip); ++k)  // kClip: the last op
    if (s == fx_op_name(static_cast<FxOp>(k))) return static_cast<FxOp>(k);
  bad_plan("unknown op '" + s + "'");
}

I64 get_int(const json& j, const char* key, I64 lo, I64 hi) {
  if (!j.contains(key) || !j[key].is_number_integer()) bad_plan(std::string("missing integer '") + key + "'");
  I64 v = j[key].get<I64>();
  if (v < lo || v > hi) bad_plan(std::string("'") + key + "' out of range");
  return v;
}
bool get_bool(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_boolean()) bad_plan(std::string("missing boolean '") + key + "'");
  return j[key].get<bool>();
}
std::vector<I64> get_ints(const json& j, const char* key, std::size_t max_len, I64 lo, I64 hi) {
  if (!j.contains(key) || !j[key].is_array() || j[key].size() > max_len) bad_plan(std::string("bad list '") + key + "'");
  std::vector<I64> out;
  for (const auto& e : j[key]) {
    if (!e.is_number_integer()) bad_plan(std::string("bad list '") + key + "'");
    I64 v = e.get<I64>();
    if (v < lo || v > hi) bad_plan(std::string("'") + key + "' entry out of range");
    out.push_back(v);
  }
  return out;
}

/// a·b for a, b ≥ 0, saturating at the I64 maximum: the fields of a received node are each ≤ 2^28
/// and their products are compared with element counts (≤ 2^28), so saturation never compares equal.
I64 smul(I64 a, I64 b) {
  I64 r;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<I64>::max() : r;
}

/// Checks that a node's shapes are consistent with its op (what the executors index with).
void check_node(const FixedPlan& p, const FxNode& n) {
  auto shape = [&](std::size_t v) -> const Shape& { return p.values[v].shape; };
  auto count = [&](std::size_t v) { return element_count(shape(v)); };
  const Shape& ys = shape(n.output);
  auto need = [&](bool ok, const char* what) {
    if (!ok) bad_plan("node '" + n.name + "' (" + fx_op_name(n.op) + "): " + what);
  };
  std::size_t want_inputs = n.op == FxOp::kAdd || n.op == FxOp::kSub || n.op == FxOp::kMul ? 2 : 1;
  if (n.op == FxOp::kConcat) need(!n.inputs.empty() && n.inputs.size() <= 64, "input count");
  else need(n.inputs.size() == want_inputs, "input count");
  // Rings: a conversion changes ring in its direction; every other node computes in one ring.
  const int ring = value_ring(p, n.output);
  if (n.op == FxOp::kExtend) need(value_ring(p, n.inputs[0]) < ring, "extension to a smaller ring");
  else if (n.op == FxOp::kTrunc)  // the same ring, or truncate-and-reduce into at most ℓ_in − shift bits
    need(value_ring(p, n.inputs[0]) == ring || ring <= value_ring(p, n.inputs[0]) - n.shift().shift,
         "truncation ring");
  else if (n.op == FxOp::kReduce) need(value_ring(p, n.inputs[0]) > ring, "reduction to a larger ring");
  else
    for (std::size_t v : n.inputs) need(value_ring(p, v) == ring, "inputs in another ring than the output");
  switch (n.op) {
    case FxOp::kConv:
    case FxOp::kMaxPool:
    case FxOp::kAvgPool: {
      const FxWindow& w = n.op == FxOp::kConv ? static_cast<const FxWindow&>(n.conv()) : n.pool();
      need(count(n.inputs[0]) == smul(smul(w.C, w.H), w.W), "input size");
      need(w.kh >= 1 && w.kw >= 1 && w.sh >= 1 && w.sw >= 1, "window");
      // A pooling window must hold an input element (ONNX: pad < kernel per axis); a convolution
      // may pad more (its padded positions are zeros).
      if (n.op != FxOp::kConv)
        need(w.pads[0] < w.kh && w.pads[2] < w.kh && w.pads[1] < w.kw && w.pads[3] < w.kw, "pads");
      need(w.H + w.pads[0] + w.pads[2] >= w.kh && w.W + w.pads[1] + w.pads[3] >= w.kw, "window larger than input");
      I64 m = n.op == FxOp::kConv ? n.conv().M : w.C;
      need(count(n.output) == smul(smul(m, w.out_h()), w.out_w()), "output size");
      if (n.op == FxOp::kConv) {
        const auto& c = n.conv();
        need(c.groups >= 1 && c.C % c.groups == 0 && c.M % c.groups == 0, "groups");
      }
      if (n.op == FxOp::kAvgPool) need(w.kh * w.kw <= (I64{1} << (p.frac_bits + 1)), "window");
      break;
    }
    case FxOp::kGemm:
      need(n.gemm().K > 0 && n.gemm().N > 0 && count(n.inputs[0]) % n.gemm().K == 0 &&
               count(n.inputs[0]) / n.gemm().K >= 1 &&
               count(n.output) == smul(count(n.inputs[0]) / n.gemm().K, n.gemm().N),
           "sizes");
      break;
    case FxOp::kAffine:
      need(count(n.inputs[0]) == smul(n.affine().C, n.affine().inner) &&
               count(n.output) == smul(n.affine().C, n.affine().inner),
           "sizes");
      break;
    case FxOp::kTrunc: need(n.shift().shift >= 1 && n.shift().shift <= value_ring(p, n.inputs[0]) - 2, "shift"); [[fallthrough]];
    case FxOp::kExtend:
    case FxOp::kReduce:
    case FxOp::kRelu:
    case FxOp::kClip:
    case FxOp::kAddConst:
    case FxOp::kAddPublic:
    case FxOp::kMulPublic:
    case FxOp::kSquare:
    case FxOp::kReshape:
      need(count(n.inputs[0]) == count(n.output), "sizes");
      break;
    case FxOp::kScaleUp:
      need(n.shift().shift >= 1 && n.shift().shift < ring, "shift");
      need(count(n.inputs[0]) == count(n.output), "sizes");
      break;
    case FxOp::kAdd:
    case FxOp::kSub:
    case FxOp::kMul:
      need(shape(n.inputs[0]) == ys && shape(n.inputs[1]) == ys, "shapes");
      break;
    case FxOp::kExpand: {
      const Shape& xs = shape(n.inputs[0]);
      need(xs.size() == ys.size(), "rank");
      for (std::size_t d = 0; d < xs.size(); ++d) need(xs[d] == ys[d] || xs[d] == 1, "broadcast shape");
      break;
    }
    case FxOp::kPad: {
      const Shape& xs = shape(n.inputs[0]);
      const auto& pads = n.pad().pads;
      need(pads.size() == 2 * xs.size() && ys.size() == xs.size(), "pads");
      for (std::size_t d = 0; d < xs.size(); ++d)
        need(pads[d] >= 0 && pads[d + xs.size()] >= 0 && ys[d] == xs[d] + pads[d] + pads[d + xs.size()], "pads");
      break;
    }
    case FxOp::kSlice: {
      const Shape& xs = shape(n.inputs[0]);
      const auto& [starts, steps] = n.slice();
      need(starts.size() == xs.size() && steps.size() == xs.size() && ys.size() == xs.size(), "rank");
      for (std::size_t d = 0; d < xs.size(); ++d) {
        need(steps[d] >= 1 && starts[d] >= 0, "starts/steps");
        need(ys[d] == 0 || starts[d] + (ys[d] - 1) * steps[d] < xs[d], "slice out of range");
      }
      break;
    }
    case FxOp::kConcat: {
      const I64 axis = n.concat().axis;
      need(axis >= 0 && at(axis) < ys.size(), "axis");
      I64 total = 0;
      for (std::size_t v : n.inputs) {
        const Shape& xs = shape(v);
        need(xs.size() == ys.size(), "rank");
        for (std::size_t d = 0; d < ys.size(); ++d)
          if (d != at(axis)) need(xs[d] == ys[d], "shapes");
        total += xs[at(axis)];
      }
      need(total == ys[at(axis)], "axis extent");
      break;
    }
  }
}

}  // namespace

std::string plan_to_json(const FixedPlan& plan) {
  json j;
  j["format"] = "peregrine-plan-1";
  j["ring_bits"] = plan.ring_bits;
  j["frac_bits"] = plan.frac_bits;
  j["input"] = plan.input;
  j["output"] = plan.output;
  j["postprocess"] = plan.postprocess;
  j["postprocess_axis"] = plan.postprocess_axis;
  json vals = json::array();
  for (const auto& v : plan.values) {
    json jv = {{"name", v.name}, {"shape", v.shape}, {"scale", v.scale}};
    if (v.ring_bits != plan.ring_bits) jv["ring"] = v.ring_bits;  // uniform plans: as before
    vals.push_back(std::move(jv));
  }
  j["values"] = std::move(vals);
  json nodes = json::array();
  for (const auto& n : plan.nodes) nodes.push_back(node_to_json(n));
  j["nodes"] = std::move(nodes);
  j["metadata"] = plan.metadata;
  if (const auto& io = plan.integer_io)
    j["integer_io"] = {{"input_scale", io->input_scale}, {"input_zero_point", io->input_zero_point},
                       {"input_qmin", io->input_qmin}, {"input_qmax", io->input_qmax},
                       {"output_scale", io->output_scale}};
  try {
    return j.dump();
  } catch (const json::exception&) {  // type_error 316: a string that is not UTF-8
    throw Error(ErrorCode::kInvalidArgument, "plan: a name or metadata entry is not valid UTF-8");
  }
}

namespace {

FixedPlan plan_from_text(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad_plan(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != "peregrine-plan-1") bad_plan("unknown format");
  FixedPlan p;
  p.ring_bits = static_cast<int>(get_int(j, "ring_bits", 2, 64));
  p.frac_bits = static_cast<int>(get_int(j, "frac_bits", 1, 24));
  if (2 * p.frac_bits + 2 > p.ring_bits) bad_plan("ring too small for the scale");
  if (!j.contains("values") || !j["values"].is_array() || j["values"].size() > 4 * kMaxPlanNodes + 1) bad_plan("values");
  for (const auto& v : j["values"]) {
    if (!v.is_object() || !v.contains("name") || !v["name"].is_string()) bad_plan("value entry");
    FxValue fv;
    fv.name = v["name"].get<std::string>();
    auto s = get_ints(v, "shape", kMaxRank, 0, kMaxTensorElements);
    fv.shape.assign(s.begin(), s.end());
    try {
      element_count(fv.shape);
    } catch (const Error&) {
      bad_plan("value '" + fv.name + "' too large");
    }
    fv.scale = static_cast<int>(get_int(v, "scale", 0, std::min(62, 2 * p.frac_bits + 16)));
    fv.ring_bits = v.contains("ring") ? static_cast<int>(get_int(v, "ring", 2, p.ring_bits - 1)) : p.ring_bits;
    p.values.push_back(std::move(fv));
  }
  I64 nv = static_cast<I64>(p.values.size());
  if (nv == 0) bad_plan("no values");
  p.input = at(get_int(j, "input", 0, nv - 1));
  p.output = at(get_int(j, "output", 0, nv - 1));
  if (!j.contains("postprocess") || !j["postprocess"].is_string()) bad_plan("postprocess");
  p.postprocess = j["postprocess"].get<std::string>();
  if (p.postprocess != "" && p.postprocess != "Softmax" && p.postprocess != "ArgMax") bad_plan("postprocess");
  p.postprocess_axis = get_int(j, "postprocess_axis", 0, 8);
  if (!j.contains("nodes") || !j["nodes"].is_array() || j["nodes"].size() > kMaxPlanNodes) bad_plan("nodes");
  std::vector<bool> defined(p.values.size(), false);
  defined[p.input] = true;
  const I64 big = kMaxTensorElements;
  for (const auto& jn : j["nodes"]) {
    if (!jn.is_object() || !jn.contains("op") || !jn["op"].is_string()) bad_plan("node entry");
    FxNode n = FxNode::of(op_from_name(jn["op"].get<std::string>()));
    if (jn.contains("name")) {
      if (!jn["name"].is_string()) bad_plan("node name");
      n.name = jn["name"].get<std::string>();
    }
    for (I64 v : get_ints(jn, "in", 64, 0, nv - 1)) {
      if (!defined[at(v)]) bad_plan("node '" + n.name + "' reads a value before it is defined");
      n.inputs.push_back(at(v));
    }
    n.output = at(get_int(jn, "out", 0, nv - 1));
    if (defined[n.output]) bad_plan("value defined twice");
    defined[n.output] = true;
    auto window = [&](FxWindow& w) {
      w.C = get_int(jn, "C", 1, big); w.H = get_int(jn, "H", 1, big); w.W = get_int(jn, "W", 1, big);
      w.kh = get_int(jn, "kh", 1, 1 << 16); w.kw = get_int(jn, "kw", 1, 1 << 16);
      w.sh = get_int(jn, "sh", 1, 1 << 16); w.sw = get_int(jn, "sw", 1, 1 << 16);
      auto pads = get_ints(jn, "pads", 4, 0, 1 << 16);
      if (pads.size() != 4) bad_plan("node '" + n.name + "': pads");
      std::copy(pads.begin(), pads.end(), w.pads.begin());
    };
    auto weights = [&](FxWeightsRef& w) {
      w.has_bias = get_bool(jn, "bias");
      w.weight_bits = static_cast<int>(get_int(jn, "wbits", 2, 32));
    };
    switch (n.op) {
      case FxOp::kConv: {
        auto& a = n.conv();
        a.M = get_int(jn, "M", 1, big);
        a.groups = get_int(jn, "groups", 1, big);
        weights(a);
        window(a);
        break;
      }
      case FxOp::kMaxPool:
      case FxOp::kAvgPool:
        window(n.pool());
        if (n.op == FxOp::kAvgPool) n.pool().count_include_pad = get_bool(jn, "count_include_pad");
        break;
      case FxOp::kGemm:
        n.gemm().K = get_int(jn, "K", 1, big); n.gemm().N = get_int(jn, "N", 1, big);
        weights(n.gemm());
        break;
      case FxOp::kAffine:
        n.affine().C = get_int(jn, "C", 1, big); n.affine().inner = get_int(jn, "inner", 1, big);
        weights(n.affine());
        break;
      case FxOp::kExtend: n.extend().nonneg = get_bool(jn, "nonneg"); break;
      case FxOp::kTrunc: n.shift().nonneg = get_bool(jn, "nonneg"); [[fallthrough]];
      case FxOp::kScaleUp: n.shift().shift = static_cast<int>(get_int(jn, "shift", 1, 63)); break;
      case FxOp::kAddPublic:
      case FxOp::kMulPublic:
        n.public_const().constant =
            get_int(jn, "constant", std::numeric_limits<I64>::min(), std::numeric_limits<I64>::max());
        break;
      case FxOp::kPad: n.pad().pads = get_ints(jn, "pads", 2 * kMaxRank, 0, big); break;
      case FxOp::kSlice:
        n.slice().starts = get_ints(jn, "starts", kMaxRank, 0, big);
        n.slice().steps = get_ints(jn, "steps", kMaxRank, 1, big);
        break;
      case FxOp::kConcat: n.concat().axis = get_int(jn, "axis", 0, kMaxRank - 1); break;
      case FxOp::kClip: {
        // Bounds inside the node's ring (|bound| < 2^{ℓ−1}), lo ≤ hi.
        const int rb = value_ring(p, n.output);
        const I64 lim = rb >= 64 ? std::numeric_limits<I64>::max() : (I64{1} << (rb - 1)) - 1;
        n.clip().lo = get_int(jn, "lo", -lim, lim);
        n.clip().hi = get_int(jn, "hi", -lim, lim);
        if (n.clip().lo > n.clip().hi) bad_plan("node " + std::to_string(p.nodes.size()) + ": Clip lo > hi");
        break;
      }
      default: break;
    }
    check_node(p, n);
    p.nodes.push_back(std::move(n));
  }
  if (!defined[p.output]) bad_plan("the output is never computed");
  if (p.values[p.output].scale > p.frac_bits) bad_plan("the output must be at scale f or below");
  if (j.contains("metadata")) {
    if (!j["metadata"].is_object()) bad_plan("metadata");
    for (auto& [k, v] : j["metadata"].items()) {
      if (!v.is_string()) bad_plan("metadata");
      p.metadata[k] = v.get<std::string>();
    }
  }
  if (j.contains("integer_io")) {
    const json& io = j["integer_io"];
    if (!io.is_object()) bad_plan("integer_io");
    auto positive = [&](const char* key) {
      if (!io.contains(key) || !io[key].is_number()) bad_plan(std::string("integer_io ") + key);
      const double v = io[key].get<double>();
      if (!std::isfinite(v) || !(v > 0) || v > 1e30 || v < 1e-30) bad_plan(std::string("integer_io ") + key);
      return v;
    };
    FxIntegerIO q;
    q.input_scale = positive("input_scale");
    q.output_scale = positive("output_scale");
    q.input_qmin = get_int(io, "input_qmin", -(I64{1} << 31), I64{1} << 31);
    q.input_qmax = get_int(io, "input_qmax", q.input_qmin, I64{1} << 31);
    q.input_zero_point = get_int(io, "input_zero_point", q.input_qmin, q.input_qmax);
    const int in_ring = p.values[p.input].ring_bits;
    const I64 lim = I64{1} << std::min(in_ring - 1, 62);
    if (q.input_qmax - q.input_zero_point >= lim || q.input_zero_point - q.input_qmin > lim)
      bad_plan("integer_io: the input range does not fit the input ring");
    p.integer_io = q;
  }
  return p;
}

}  // namespace

FixedPlan plan_from_json(const std::string& text) {
  try {
    return plan_from_text(text);
  } catch (const json::exception& e) {  // a field of another JSON type than the one read
    bad_plan(std::string("a field has the wrong JSON type (") + e.what() + ")");
  }
}

}  // namespace peregrine::nn
