// The fixed-point lowering (nn/fixed.hpp quantize_model): calibration ranges, weight scales,
// deferred truncation and the ring of every value.
#include "peregrine/nn/fixed.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "peregrine/core/error.hpp"
#include "peregrine/nn/fixed_internal.hpp"
#include "peregrine/nn/float_exec.hpp"
#include "peregrine/nn/moves.hpp"

namespace peregrine::nn {
using namespace fixed_detail;
namespace {

/// round(v·2^scale) for a weight, bias or constant of the model. Errors: kUnsupported when v is not
/// finite or the result is not below 2^62 in magnitude (no ring holds it; llround would be
/// unspecified and the weight-bit count would overflow).
I64 round_fixed(double v, int scale) {
  const double x = std::ldexp(v, scale);
  if (!(std::fabs(x) < 0x1p62))
    throw Error(ErrorCode::kUnsupported, "a weight, bias or constant is not finite or exceeds 2^62 at its fixed-point scale");
  return static_cast<I64>(std::llround(x));
}

// ---- lowering -----------------------------------------------------------------------------------

/// Where an ONNX value lives in the program: value index, and whether it is known non-negative.
struct Lowered {
  std::size_t index = 0;
  bool nonneg = false;
};

/// max |v| of every value of the graph over the calibration inputs (float executor).
std::map<std::string, double> calibrate(const Graph& g, const std::vector<Tensor>& calib) {
  std::map<std::string, double> range;
  for (const Tensor& x : calib) {
    auto all = run_float_all(g, {x});
    for (auto& [name, t] : all) {
      double m = 0;
      for (float v : t.data) m = std::max(m, static_cast<double>(std::fabs(v)));
      auto& slot = range[name];
      slot = std::max(slot, m);
    }
  }
  return range;
}

class Lowering {
 public:
  /// per_tensor: rings per value and, for the input of an HE layer, the scale at most f that keeps
  /// the layer's output within opt.he_max_ring_bits (see the header).
  Lowering(const Graph& g, std::map<std::string, double> range, const FixedOptions& opt, bool per_tensor)
      : g_(g), opt_(opt), range_(std::move(range)), per_tensor_(per_tensor) {
    f_ = opt.frac_bits;
    qdq_ = is_qdq(g);
    if (qdq_) {  // exact integer bounds: a sign bit is all the headroom a value needs; rings per value
      opt_.headroom_bits = 1;
      per_tensor_ = true;
    }
  }
  /// True when the graph is a QDQ model (it quantises a runtime tensor).
  static bool is_qdq(const Graph& g) {
    return std::any_of(g.nodes.begin(), g.nodes.end(), [](const Node& n) { return n.op_type == "QuantizeLinear"; });
  }
  /// After run() of a uniform lowering: true when kAuto found the uniform ring above the HE limit
  /// (the caller lowers again per tensor; the model run() returned is then not final).
  bool needs_per_tensor() const { return needs_per_tensor_; }

  FixedModel run() {
    const std::string& in = g_.inputs[0];
    if (!qdq_) {
      model_.plan.input = add_value(in, g_.shape_of(in), f_, range_[in]);
      low_[in] = {model_.plan.input, false};
    }
    const std::string& out_name = g_.outputs[0];
    std::string logits = out_name;
    // Softmax / ArgMax producing the graph output run on the client after the reveal.
    std::ptrdiff_t last = g_.producer(out_name);
    if (last >= 0) {
      const Node& n = g_.nodes[at(last)];
      if (n.op_type == "Softmax" || n.op_type == "ArgMax") {
        model_.plan.postprocess = n.op_type;
        model_.plan.postprocess_axis = n.attr_int("axis", 1);
        logits = n.inputs.at(0);
        skip_ = n.name;
      }
    }
    for (const Node& n : g_.nodes) {
      if (!skip_.empty() && n.name == skip_) continue;
      try {
        lower(n);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kUnsupported) throw;
        unsupported_.push_back(e.what());
      }
    }
    if (!unsupported_.empty()) {
      std::string msg = "fixed-point lowering: " + std::to_string(unsupported_.size()) + " unsupported node(s):";
      for (const auto& u : unsupported_) msg += " [" + u + "]";
      throw Error(ErrorCode::kUnsupported, msg);
    }
    if (qdq_) {
      model_.plan.output = q_output(logits);
    } else {
      auto o = low_.find(logits);
      if (o == low_.end()) throw Error(ErrorCode::kInvalidArgument, "fixed-point lowering: output '" + logits + "' not computed");
      model_.plan.output = at_f(o->second).index;
    }
    finish_ring();
    model_.plan.frac_bits = f_;
    model_.plan.headroom_bits = opt_.headroom_bits;
    model_.plan.metadata = g_.metadata;
    return std::move(model_);
  }

 private:
  [[noreturn]] static void unsupported(const Node& n, const std::string& why) {
    throw Error(ErrorCode::kUnsupported, "node '" + n.name + "' (" + n.op_type + "): " + why);
  }

  std::size_t add_value(const std::string& name, const Shape& shape, int scale, double max_abs) {
    FxValue v;
    v.name = name;
    v.shape = shape;
    v.scale = scale;
    model_.plan.values.push_back(std::move(v));
    max_abs_.push_back(max_abs);
    return model_.plan.values.size() - 1;
  }
  std::size_t emit(FxNode node, const std::string& out_name, const Shape& shape, int scale, double max_abs) {
    const std::size_t out = add_value(out_name, shape, scale, max_abs);
    node.output = out;
    model_.plan.nodes.push_back(std::move(node));
    return out;
  }
  const FxValue& val(std::size_t i) const { return model_.plan.values[i]; }

  const Lowered& get(const Node& n, std::size_t k) {
    if (k >= n.inputs.size() || n.inputs[k].empty()) unsupported(n, "missing input");
    auto it = low_.find(n.inputs[k]);
    if (it == low_.end()) {
      if (g_.initializers.count(n.inputs[k])) unsupported(n, "input " + std::to_string(k) + " is a constant here");
      throw Error(ErrorCode::kInvalidArgument, "fixed-point lowering: value '" + n.inputs[k] + "' not computed");
    }
    return it->second;
  }
  const Tensor* constant(const Node& n, std::size_t k) const {
    if (k >= n.inputs.size() || n.inputs[k].empty()) return nullptr;
    auto it = g_.initializers.find(n.inputs[k]);
    return it == g_.initializers.end() ? nullptr : &it->second;
  }

  /// The value at scale 2^f (or its own, when lower): inserts (once) the truncation of a value
  /// above it.
  Lowered at_f(const Lowered& x) { return at_scale(x, f_); }
  /// The value at scale min(own, target): inserts (once per target) its truncation.
  Lowered at_scale(const Lowered& x, int target) {
    if (val(x.index).scale <= target) return x;
    auto memo = truncated_.find({x.index, target});
    if (memo != truncated_.end()) return {memo->second, x.nonneg};
    FxNode t = FxNode::of(FxOp::kTrunc);
    t.name = val(x.index).name;
    t.inputs = {x.index};
    t.shift().shift = val(x.index).scale - target;
    t.shift().nonneg = x.nonneg;
    const std::string tag = target == f_ ? "@f" : "@s" + std::to_string(target);
    std::size_t out = emit(t, val(x.index).name + tag, val(x.index).shape, target, max_abs_[x.index]);
    truncated_[{x.index, target}] = out;
    return {out, x.nonneg};
  }
  /// The scale of an HE layer's input: f, or (per tensor) the largest scale ≤ f at which the
  /// layer's output — calibrated magnitude `out_max` at scale (input + fw) — fits the HE rings.
  int he_input_scale(double out_max, int fw) const {
    if (!per_tensor_) return f_;
    int t = f_;
    while (t > 0 && signed_bits(std::ldexp(out_max, t + fw)) + opt_.headroom_bits > opt_.he_max_ring_bits) --t;
    return t;
  }
  /// The value at scale 2^scale (≥ its own): x·2^{scale − own} (local, exact).
  Lowered scale_to(const Lowered& x, int scale) {
    if (val(x.index).scale == scale) return x;
    FxNode s = FxNode::of(FxOp::kScaleUp);
    s.name = val(x.index).name;
    s.inputs = {x.index};
    s.shift().shift = scale - val(x.index).scale;
    return {emit(s, val(x.index).name + "@" + std::to_string(scale), val(x.index).shape, scale, max_abs_[x.index]),
            x.nonneg};
  }
  /// Fraction bits of a layer's weights: at least f, more for small weights so that the largest
  /// quantised weight has options.weight_bits_target bits (precision of tiny first-layer weights).
  template <class T>
  int weight_frac(const std::vector<T>& w) const {
    double m = 0;
    for (T v : w) m = std::max(m, static_cast<double>(std::fabs(static_cast<float>(v))));
    if (!std::isfinite(m)) throw Error(ErrorCode::kUnsupported, "a weight is not finite");
    if (!(m > 0)) return f_;
    int fw = opt_.weight_bits_target - 1 - static_cast<int>(std::floor(std::log2(m)));
    return std::clamp(fw, f_, f_ + 16);
  }
  /// Binds an ONNX output; without deferred truncation a scale-2^{2f} result is truncated at once.
  void bind(const Node& n, Lowered v) {
    if (!opt_.defer_truncation) v = at_f(v);
    low_[n.outputs.at(0)] = v;
  }
  double range_of(const std::string& name) const {
    auto it = range_.find(name);
    return it == range_.end() ? 0.0 : it->second;
  }
  const Shape& out_shape(const Node& n) const { return g_.shape_of(n.outputs.at(0)); }

  std::size_t add_weights(std::vector<I64> w, std::vector<I64> b) {
    model_.weights.entries.push_back({std::move(w), std::move(b)});
    return model_.weights.entries.size() - 1;
  }
  static int weight_bits_of(const std::vector<I64>& w) {
    I64 m = 0;
    for (I64 v : w) m = std::max(m, v < 0 ? -v : v);
    return std::max(2, signed_bits(static_cast<double>(m)));
  }

  void lower(const Node& n) {
    const std::string& op = n.op_type;
    if (qdq_) return q_lower(n);
    if (op == "Conv") conv(n);
    else if (op == "Gemm") gemm(n);
    else if (op == "BatchNormalization") batchnorm(n);
    else if (op == "Relu") relu(n);
    else if (op == "Clip") clip(n);
    else if (op == "HardSigmoid") hard_sigmoid(n);
    else if (op == "Add" || op == "Sub") add_sub(n);
    else if (op == "Mul") mul(n);
    else if (op == "MaxPool") maxpool(n);
    else if (op == "AveragePool" || op == "GlobalAveragePool") avgpool(n);
    else if (op == "Flatten" || op == "Reshape" || op == "Identity") reshape(n);
    else if (op == "Slice") slice(n);
    else if (op == "Pad") pad(n);
    else if (op == "Concat") concat(n);
    else if (op == "Softmax" || op == "ArgMax") unsupported(n, "only supported as the last node (done by the client)");
    else unsupported(n, "op not supported by the fixed-point lowering");
  }

  // ---- integer (QDQ) models (docs/QUANTISED.md) -----------------------------------------------
  //
  // Every value of the program is an integer (scale 2^0). An ONNX value of a QDQ graph is either
  // a quantised tensor (a QuantizeLinear output: the centred integer v = q − zp) or a real tensor
  // Σ_t scale_t·v_t over program values v_t with a pending clamp [lo, hi] (ReLU, Clip) that the
  // next QuantizeLinear applies. Requantisation of a real tensor to (s, zp, qmin, qmax) is
  //   v = clip(⌊(Σ_t m_t·v_t + 2^{S−1}) / 2^S⌋, max(qmin − zp, round(lo/s)), min(qmax − zp, round(hi/s)))
  // with public m_t = round(scale_t/s·2^S), S chosen so that the largest m_t has
  // requant_multiplier_bits() bits: local products, one truncation (truncate-and-reduce into the
  // small ring) and one clip, on shares. A per-channel term (weights quantised per output
  // channel) folds its multipliers into the server's weights instead (they stay private).

  /// Significant bits of the largest requantisation multiplier (public): 24, so that the integer
  /// result differs from a real-valued requantisation only within ~|v|·2^-24 of a rounding tie,
  /// fewer where an HE layer's accumulator times the multiplier would exceed the HE rings
  /// (FixedOptions::he_max_ring_bits), at least 8.
  static constexpr int kRequantMultiplierBits = 24;

  struct QTerm {
    std::size_t index = 0;
    std::vector<double> scale;     ///< one value, or one per channel (axis 1; accumulators only)
    std::ptrdiff_t weights = -1;   ///< the node whose weights produced it (per-channel folding)
    /// True when the channels' scales differ (their multipliers must be folded into the weights).
    bool per_channel() const {
      return std::any_of(scale.begin(), scale.end(), [&](double v) { return v != scale[0]; });
    }
  };
  struct QReal {
    std::vector<QTerm> terms;
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  };
  struct QInt {
    std::size_t index = 0;
    double scale = 1;
    I64 zp = 0, qmin = 0, qmax = 255;
  };

  /// Bits a layer's weights may reach when per-channel multipliers are folded into them (the HE
  /// layers' noise flooding and tiles are sized for weights of about this width).
  static constexpr int kMaxFoldedWeightBits = 16;
  int requant_multiplier_bits(const QReal& r) const {
    double acc = 0;
    bool he = false;
    int mb = kRequantMultiplierBits;
    for (const QTerm& t : r.terms) {
      acc += max_abs_[t.index];
      he = he || t.weights >= 0;
      if (t.per_channel() && t.weights >= 0)
        mb = std::min(mb, kMaxFoldedWeightBits + 1 - model_.plan.nodes.at(at(t.weights)).weights()->weight_bits);
    }
    if (he) mb = std::min(mb, opt_.he_max_ring_bits - 2 - signed_bits(acc));
    return std::max(mb, 8);
  }

  void q_lower(const Node& n) {
    const std::string& op = n.op_type;
    if (op == "QuantizeLinear") q_quantize(n);
    else if (op == "DequantizeLinear") q_dequantize(n);
    else if (op == "Conv" || op == "Gemm") q_weighted(n);
    else if (op == "Relu" || op == "Clip") q_clamp(n);
    else if (op == "Add") q_add(n);
    else if (op == "Slice" || op == "Pad" || op == "Flatten" || op == "Reshape" || op == "Identity" ||
             op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") q_move(n);
    else unsupported(n, "op not supported in an integer (QDQ) model");
  }

  const QReal& q_real(const Node& n, std::size_t k) {
    if (k >= n.inputs.size()) unsupported(n, "missing input");
    auto it = qreal_.find(n.inputs[k]);
    if (it != qreal_.end()) return it->second;
    if (qint_.count(n.inputs[k])) unsupported(n, "reads a quantised tensor without DequantizeLinear");
    if (g_.initializers.count(n.inputs[k])) unsupported(n, "input " + std::to_string(k) + " is a constant here");
    unsupported(n, "input '" + n.inputs[k] + "' is neither quantised nor computed from quantised tensors");
  }
  /// The single program value of a real tensor with one per-tensor scale (a conv input, a move).
  const QTerm& q_single(const Node& n, const QReal& r, bool clamp_ok) {
    if (r.terms.size() != 1 || r.terms[0].scale.size() != 1)
      unsupported(n, "needs one quantised tensor with one scale (requantise the sum first)");
    if (!clamp_ok && (std::isfinite(r.lo) || std::isfinite(r.hi)))
      unsupported(n, "reads an activation before its QuantizeLinear");
    return r.terms[0];
  }

  void q_quantize(const Node& n) {
    const double s = n.attr_float("scale", 1.0f);
    const I64 zp = n.attr_int("zero_point", 0), qmin = n.attr_int("qmin", 0), qmax = n.attr_int("qmax", 255);
    const double bound = static_cast<double>(std::max(std::llabs(qmin - zp), std::llabs(qmax - zp)));
    if (n.inputs.at(0) == g_.inputs[0]) {  // the client quantises the network input
      if (input_set_) unsupported(n, "the network input is quantised twice");
      model_.plan.input = add_value(g_.inputs[0], g_.shape_of(g_.inputs[0]), 0, bound);
      input_set_ = true;
      model_.plan.integer_io = FxIntegerIO{s, zp, qmin, qmax, 1.0};
      qint_[n.outputs[0]] = {model_.plan.input, s, zp, qmin, qmax};
      return;
    }
    const QReal& r = q_real(n, 0);
    const std::size_t v = q_requantise(n, r, s, qmin - zp, qmax - zp);
    qint_[n.outputs[0]] = {v, s, zp, qmin, qmax};
  }

  void q_dequantize(const Node& n) {
    auto it = qint_.find(n.inputs.at(0));
    if (it == qint_.end()) unsupported(n, "DequantizeLinear of a runtime tensor must read a QuantizeLinear output");
    const QInt& q = it->second;
    const I64 zp = n.attr_int("zero_point", 0);
    std::size_t v = q.index;
    if (zp != q.zp) {  // (q − zp') = (q − zp) + (zp − zp')
      FxNode a = FxNode::of(FxOp::kAddPublic);
      a.name = n.name;
      a.inputs = {v};
      a.public_const().constant = q.zp - zp;
      v = emit(a, n.outputs[0] + "/zp", val(v).shape, 0, max_abs_[v] + static_cast<double>(std::llabs(q.zp - zp)));
    }
    QReal r;
    r.terms.push_back({v, {static_cast<double>(n.attr_float("scale", 1.0f))}, -1});
    qreal_[n.outputs[0]] = std::move(r);
  }

  /// The integers of a quantised initializer (symmetric: zero point 0), per-tensor or per-channel
  /// along axis 0 (Conv [M,..] / Gemm [N,K]) — its scales per output channel (size 1 or M).
  std::pair<std::vector<I64>, std::vector<double>> q_weights(const Node& n, std::size_t k, std::size_t out_channels) {
    const auto it = k < n.inputs.size() ? g_.quantized.find(n.inputs[k]) : g_.quantized.end();
    if (it == g_.quantized.end()) unsupported(n, "weights are not quantised (DequantizeLinear of an int8 initializer)");
    const QuantizedTensor& q = it->second;
    if (q.axis > 0) unsupported(n, "weights quantised along an axis other than the output channels");
    std::vector<double> scale(q.scale.begin(), q.scale.end());
    if (scale.size() != 1 && scale.size() != out_channels) unsupported(n, "weight scales per channel do not match the outputs");
    for (I64 z : q.zero_point)
      if (z != 0) unsupported(n, "weights with a non-zero zero point (only symmetric weights)");
    return {q.values, scale};
  }

  void q_weighted(const Node& n) {
    const QTerm x = q_single(n, q_real(n, 0), false);
    const Shape& xs = val(x.index).shape;
    const Tensor* w = constant(n, 1);
    if (!w) unsupported(n, "weights must be an initializer");
    FxNode node = weighted_node(n, xs, *w);
    const std::size_t M = at(w->shape[0]);
    auto [wq, ws] = q_weights(n, 1, M);
    const double sx = x.scale[0];
    std::vector<double> acc_scale(ws.size());
    for (std::size_t c = 0; c < ws.size(); ++c) acc_scale[c] = sx * ws[c];
    auto sc = [&](std::size_t c) { return acc_scale[acc_scale.size() == 1 ? 0 : c]; };
    // Bias: its integers when quantised at the accumulator's scale, else round(b / (s_x·s_w)).
    std::vector<I64> bq;
    const Tensor* b = constant(n, 2);
    if (n.inputs.size() > 2 && !n.inputs[2].empty() && !b) unsupported(n, "bias must be an initializer");
    if (b) {
      if (b->data.size() != M) unsupported(n, "bias must have one value per output");
      bq.resize(M);
      const auto qb = g_.quantized.find(n.inputs[2]);
      for (std::size_t c = 0; c < M; ++c) {
        const QuantizedTensor* q = qb == g_.quantized.end() ? nullptr : &qb->second;
        const double bs = q ? q->scale[q->scale.size() == 1 ? 0 : c] : 0;
        if (q && q->zero_point[q->scale.size() == 1 ? 0 : c] == 0 && std::fabs(bs - sc(c)) <= 1e-6 * sc(c))
          bq[c] = q->values[c];
        else
          bq[c] = round_fixed(static_cast<double>(b->data[c]) / sc(c), 0);
      }
    }
    // |acc[c]| ≤ Σ|w[c,·]|·max|x| + |b[c]| (TECHNIQUES.md §3.6, over the whole input).
    const std::size_t per = wq.size() / std::max<std::size_t>(1, M);
    double bound = 0;
    for (std::size_t c = 0; c < M; ++c) {
      double sum = 0;
      for (std::size_t k = 0; k < per; ++k) sum += static_cast<double>(std::llabs(wq[c * per + k]));
      bound = std::max(bound, sum * max_abs_[x.index] + (bq.empty() ? 0.0 : static_cast<double>(std::llabs(bq[c]))));
    }
    node.inputs = {x.index};
    FxWeightsRef& ref = *node.weights();
    ref.has_bias = b != nullptr;
    ref.weight_bits = weight_bits_of(wq);
    ref.index = add_weights(std::move(wq), std::move(bq));
    const std::size_t node_index = model_.plan.nodes.size();
    const std::size_t acc = emit(std::move(node), n.outputs[0], out_shape(n), 0, bound);
    QReal r;
    r.terms.push_back({acc, acc_scale, static_cast<std::ptrdiff_t>(node_index)});
    qreal_[n.outputs[0]] = std::move(r);
  }

  void q_clamp(const Node& n) {
    QReal r = q_real(n, 0);
    if (n.op_type == "Relu") {
      r.lo = std::max(r.lo, 0.0);
    } else {
      r.lo = std::max(r.lo, static_cast<double>(n.attr_float("min", -std::numeric_limits<float>::infinity())));
      r.hi = std::min(r.hi, static_cast<double>(n.attr_float("max", std::numeric_limits<float>::infinity())));
    }
    if (!(r.lo <= r.hi)) unsupported(n, "empty clamp range");
    qreal_[n.outputs[0]] = std::move(r);
  }

  void q_add(const Node& n) {
    const QReal& a = q_real(n, 0);
    const QReal& b = q_real(n, 1);
    for (const QReal* r : {&a, &b})
      if (std::isfinite(r->lo) || std::isfinite(r->hi)) unsupported(n, "adds an activation before its QuantizeLinear");
    const Shape& ys = out_shape(n);
    QReal r = a;
    r.terms.insert(r.terms.end(), b.terms.begin(), b.terms.end());
    for (const QTerm& t : r.terms)
      if (val(t.index).shape != ys) unsupported(n, "broadcasting in an integer model");
    qreal_[n.outputs[0]] = std::move(r);
  }

  /// Moves and pools on one quantised tensor: the fixed-point handlers on its program value (the
  /// scale follows; average pooling multiplies by round(2^f/k) — the scale becomes s·2^−f).
  void q_move(const Node& n) {
    const QReal& r = q_real(n, 0);
    const bool commutes = n.op_type != "Pad" && n.op_type != "AveragePool" && n.op_type != "GlobalAveragePool";
    const QTerm x = q_single(n, r, commutes);
    low_[n.inputs[0]] = {x.index, false};
    double scale = x.scale[0];
    if (n.op_type == "Slice") {
      slice(n);
    } else if (n.op_type == "Pad") {
      pad(n);
    } else if (n.op_type == "MaxPool") {
      maxpool(n);
    } else if (n.op_type == "AveragePool" || n.op_type == "GlobalAveragePool") {
      const std::vector<I64> pads = n.attr_ints("pads", {0, 0, 0, 0});
      if (n.op_type == "AveragePool" && n.attr_int("count_include_pad", 0) == 0 &&
          std::any_of(pads.begin(), pads.end(), [](I64 p) { return p != 0; }))
        unsupported(n, "average pooling over padding without count_include_pad (the divisor varies)");
      avgpool(n);
      const std::size_t out = low_.at(n.outputs[0]).index;
      const FxPoolAttrs& pa = model_.plan.nodes.back().pool();
      const double k = static_cast<double>(pa.kh * pa.kw);
      max_abs_[out] = max_abs_[x.index] * k * std::round(std::ldexp(1.0, f_) / k);
      scale = std::ldexp(scale, -f_);
    } else {
      reshape(n);
    }
    if (n.op_type == "MaxPool") max_abs_[low_.at(n.outputs[0]).index] = max_abs_[x.index];  // exact, not calibrated
    QReal o = r;
    o.terms[0] = {low_.at(n.outputs[0]).index, {scale}, -1};
    qreal_[n.outputs[0]] = std::move(o);
  }

  /// Folds per-channel multipliers m[c] into the weights and bias of term t's producer; its
  /// integers then carry one common scale, `common`. Returns the largest multiplier.
  double q_fold(const QTerm& t, const std::vector<I64>& m) {
    FxNode& node = model_.plan.nodes.at(at(t.weights));
    FxWeightsRef& ref = *node.weights();
    auto& e = model_.weights.entries.at(ref.index);
    const std::size_t per = e.w.size() / m.size();
    for (std::size_t c = 0; c < m.size(); ++c) {
      for (std::size_t k = 0; k < per; ++k) e.w[c * per + k] *= m[c];
      if (!e.b.empty()) e.b[c] *= m[c];
    }
    ref.weight_bits = weight_bits_of(e.w);
    if (ref.weight_bits > 32)
      throw Error(ErrorCode::kUnsupported, "node '" + node.name + "': per-channel requantisation makes the weights wider than 32 bits");
    return static_cast<double>(*std::max_element(m.begin(), m.end()));
  }

  /// Σ_t m_t·v_t + 2^{S−1}, truncated by S, clipped to [lo, hi] ∩ the pending clamp (see above).
  std::size_t q_requantise(const Node& n, const QReal& r, double s_out, I64 lo, I64 hi) {
    double max_m = 0;
    for (const QTerm& t : r.terms)
      for (double sc : t.scale) max_m = std::max(max_m, sc / s_out);
    if (!(max_m > 0) || !std::isfinite(max_m)) unsupported(n, "requantisation scale is not positive");
    const int S = requant_multiplier_bits(r) - 1 - static_cast<int>(std::floor(std::log2(max_m)));
    if (S < 1) unsupported(n, "requantisation multiplier of 2^15 or more (scales too far apart)");
    if (S > 60) unsupported(n, "requantisation multiplier below 2^-45 (scales too far apart)");
    std::vector<std::size_t> parts;
    double bound = std::ldexp(1.0, S - 1);
    for (const QTerm& t : r.terms) {
      std::vector<I64> m(t.scale.size());
      for (std::size_t c = 0; c < m.size(); ++c) m[c] = static_cast<I64>(std::llround(std::ldexp(t.scale[c] / s_out, S)));
      const bool uniform = std::all_of(m.begin(), m.end(), [&](I64 v) { return v == m[0]; });
      std::size_t v = t.index;
      if (!uniform) {  // per-channel: private multipliers, folded into the producer's weights
        if (t.weights < 0 || folded_.count(t.index)) unsupported(n, "per-channel scales that cannot be folded into weights");
        folded_.insert(t.index);
        max_abs_[v] *= q_fold(t, m);
      } else if (m[0] == 0) {
        unsupported(n, "a term's requantisation multiplier rounds to 0");
      } else if (m[0] != 1) {
        FxNode mp = FxNode::of(FxOp::kMulPublic);
        mp.name = n.name;
        mp.inputs = {v};
        mp.public_const().constant = m[0];
        v = emit(mp, n.outputs[0] + "/m" + std::to_string(parts.size()), val(v).shape, 0,
                 max_abs_[v] * static_cast<double>(m[0]));
      }
      bound += max_abs_[v];
      parts.push_back(v);
    }
    std::size_t sum = parts[0];
    for (std::size_t k = 1; k < parts.size(); ++k) {
      FxNode a = FxNode::of(FxOp::kAdd);
      a.name = n.name;
      a.inputs = {sum, parts[k]};
      sum = emit(a, n.outputs[0] + "/sum" + std::to_string(k), val(sum).shape, 0, bound);
    }
    // The accumulators and the products are sized for the sum that follows, so that they are
    // computed in its ring (no extension between an HE layer or a product and the sum; a small
    // quantised term is extended once, before its product).
    for (const QTerm& t : r.terms)
      if (t.weights >= 0) max_abs_[t.index] = std::max(max_abs_[t.index], bound);
    for (std::size_t v : parts) max_abs_[v] = std::max(max_abs_[v], bound);
    FxNode half = FxNode::of(FxOp::kAddPublic);
    half.name = n.name;
    half.inputs = {sum};
    half.public_const().constant = I64{1} << (S - 1);
    const std::size_t rounded = emit(half, n.outputs[0] + "/round", val(sum).shape, 0, bound);
    FxNode t = FxNode::of(FxOp::kTrunc);
    t.name = n.name;
    t.inputs = {rounded};
    t.shift().shift = S;
    const double tb = std::floor(bound / std::ldexp(1.0, S)) + 1;
    // ONNX: round(clip(x, lo, hi)/s) = clip(round(x/s), round(lo/s), round(hi/s)) (round is monotone).
    if (std::isfinite(r.lo)) lo = std::max(lo, static_cast<I64>(std::nearbyint(static_cast<float>(r.lo) / static_cast<float>(s_out))));
    if (std::isfinite(r.hi)) hi = std::min(hi, static_cast<I64>(std::nearbyint(static_cast<float>(r.hi) / static_cast<float>(s_out))));
    if (lo > hi) unsupported(n, "empty quantisation range after the clamp");
    const std::size_t q = emit(t, n.outputs[0] + "/shift", val(sum).shape, 0, tb);
    if (static_cast<double>(lo) <= -tb && tb <= static_cast<double>(hi)) return q;  // nothing to clip
    FxNode c = FxNode::of(FxOp::kClip);
    c.name = n.name;
    c.inputs = {q};
    c.clip().lo = lo;
    c.clip().hi = hi;
    return emit(c, n.outputs[0], val(q).shape, 0, static_cast<double>(std::max(std::llabs(lo), std::llabs(hi))));
  }

  /// The program value revealed as the logits: one term; a per-channel accumulator is brought to
  /// a common scale by folding (FxIntegerIO::output_scale).
  std::size_t q_output(const std::string& name) {
    if (!input_set_)
      throw Error(ErrorCode::kUnsupported, "integer model: the network input is not quantised by a QuantizeLinear");
    auto it = qreal_.find(name);
    if (it == qreal_.end()) {
      if (qint_.count(name))
        throw Error(ErrorCode::kUnsupported, "integer model: the output '" + name + "' is quantised; end with DequantizeLinear or a layer");
      throw Error(ErrorCode::kInvalidArgument, "fixed-point lowering: output '" + name + "' not computed");
    }
    const QReal& r = it->second;
    if (r.terms.size() != 1 || std::isfinite(r.lo) || std::isfinite(r.hi))
      throw Error(ErrorCode::kUnsupported, "integer model: the output '" + name + "' must be one layer's result without a pending activation");
    const QTerm& t = r.terms[0];
    double scale = t.scale[0];
    if (t.per_channel()) {
      if (t.weights < 0) throw Error(ErrorCode::kUnsupported, "integer model: per-channel output scales");
      const double top = *std::max_element(t.scale.begin(), t.scale.end());
      const int S = requant_multiplier_bits(r) - 1;
      std::vector<I64> m(t.scale.size());
      for (std::size_t c = 0; c < m.size(); ++c) m[c] = std::max<I64>(1, std::llround(std::ldexp(t.scale[c] / top, S)));
      max_abs_[t.index] *= q_fold(t, m);
      scale = std::ldexp(top, -S);
    }
    model_.plan.integer_io->output_scale = scale;
    return t.index;
  }

  /// A weighted layer's weights (input 1) and optional bias (input 2, null when absent); both must
  /// be initializers.
  std::pair<const Tensor*, const Tensor*> weights_and_bias(const Node& n) {
    const Tensor* w = constant(n, 1);
    if (!w) unsupported(n, "weights must be an initializer");
    const Tensor* b = constant(n, 2);
    if (n.inputs.size() > 2 && !n.inputs[2].empty() && !b) unsupported(n, "bias must be an initializer");
    return {w, b};
  }

  void conv(const Node& n) {
    const auto [w, b] = weights_and_bias(n);
    Lowered x = get(n, 0);
    emit_weighted(n, weighted_node(n, val(x.index).shape, *w), x, w->data, b ? &b->data : nullptr);
  }

  /// The program node of an ONNX Conv or Gemm on input shape xs ([1,C,H,W] / [1,K]) with weights w
  /// ([M,C/g,kh,kw] / [N,K]): its public attributes; inputs and weights are filled by the caller.
  FxNode weighted_node(const Node& n, const Shape& xs, const Tensor& w) const {
    FxNode node = FxNode::of(n.op_type == "Conv" ? FxOp::kConv : FxOp::kGemm);
    node.name = n.name;
    if (node.op == FxOp::kGemm) {
      if (xs.size() != 2 || xs[0] != 1) unsupported(n, "input must be [1,K]");
      node.gemm().K = xs[1];
      node.gemm().N = w.shape[0];
      return node;
    }
    if (xs.size() != 4 || xs[0] != 1) unsupported(n, "input must be [1,C,H,W]");
    FxConvAttrs& a = node.conv();
    a.C = xs[1]; a.H = xs[2]; a.W = xs[3];
    a.M = w.shape[0]; a.kh = w.shape[2]; a.kw = w.shape[3];
    auto st = n.attr_ints("strides", {1, 1});
    a.sh = st[0]; a.sw = st[1];
    auto p = n.attr_ints("pads", {0, 0, 0, 0});
    a.pads = {p[0], p[1], p[2], p[3]};
    a.groups = n.attr_int("group", 1);
    return node;
  }

  /// Brings the input x to its HE scale s (f; per tensor possibly lower, he_input_scale), quantises
  /// the layer's weights at 2^{f_w} and its bias / shift at 2^{s+f_w} (null: none) into the
  /// server's weights, fills `node`'s input and public weight fields, then emits and binds its
  /// output at scale 2^{s+f_w}.
  template <class T>
  void emit_weighted(const Node& n, FxNode node, const Lowered& x_in, const std::vector<T>& w, const std::vector<T>* b) {
    const int fw = weight_frac(w);
    const Lowered x = at_scale(x_in, he_input_scale(range_of(n.outputs[0]), fw));
    const int s_in = val(x.index).scale;
    node.inputs = {x.index};
    std::vector<I64> wq(w.size()), bq;
    for (std::size_t k = 0; k < wq.size(); ++k) wq[k] = round_fixed(w[k], fw);
    if (b) {
      bq.resize(b->size());
      for (std::size_t k = 0; k < bq.size(); ++k) bq[k] = round_fixed((*b)[k], s_in + fw);
    }
    FxWeightsRef& ref = *node.weights();
    ref.has_bias = b != nullptr;
    ref.weight_bits = weight_bits_of(wq);
    if (ref.weight_bits > 32) unsupported(n, "weights need " + std::to_string(ref.weight_bits) + " bits (at most 32)");
    ref.index = add_weights(std::move(wq), std::move(bq));
    bind(n, {emit(std::move(node), n.outputs[0], out_shape(n), s_in + fw, range_of(n.outputs[0])), false});
  }

  void gemm(const Node& n) {
    const auto [w, b] = weights_and_bias(n);
    Lowered x = get(n, 0);
    FxNode c = weighted_node(n, val(x.index).shape, *w);
    if (b && static_cast<I64>(b->data.size()) != c.gemm().N) unsupported(n, "bias must have one value per output");
    emit_weighted(n, std::move(c), x, w->data, b ? &b->data : nullptr);
  }

  /// Per-channel affine x·γ[c] + β[c] (β empty: none); x at scale 2^f, shape [1,C,...].
  void affine(const Node& n, const Lowered& x_in, const std::vector<double>& gamma, const std::vector<double>& beta) {
    const Shape& xs = val(x_in.index).shape;
    if (xs.size() < 2 || xs[0] != 1) unsupported(n, "input must be [1,C,...]");
    FxNode a = FxNode::of(FxOp::kAffine);
    a.name = n.name;
    a.affine().C = xs[1];
    a.affine().inner = element_count(xs) / std::max<I64>(1, xs[1]);
    emit_weighted(n, std::move(a), x_in, gamma, beta.empty() ? nullptr : &beta);
  }

  void batchnorm(const Node& n) {
    const Tensor *gamma = constant(n, 1), *beta = constant(n, 2), *mean = constant(n, 3), *var = constant(n, 4);
    if (!gamma || !beta || !mean || !var) unsupported(n, "scale, bias, mean and var must be initializers");
    double eps = n.attr_float("epsilon", 1e-5f);
    std::size_t C = gamma->data.size();
    std::vector<double> s(C), t(C);
    for (std::size_t c = 0; c < C; ++c) {
      s[c] = gamma->data[c] / std::sqrt(static_cast<double>(var->data[c]) + eps);
      t[c] = beta->data[c] - mean->data[c] * s[c];
    }
    affine(n, get(n, 0), s, t);
  }

  void relu(const Node& n) {
    Lowered x = get(n, 0);
    FxNode r = FxNode::of(FxOp::kRelu);
    r.name = n.name;
    r.inputs = {x.index};
    bind(n, {emit(r, n.outputs[0], out_shape(n), val(x.index).scale, range_of(n.outputs[0])), true});
  }

  std::size_t add_public(const Node& n, std::size_t x, double c, const std::string& tag) {
    FxNode a = FxNode::of(FxOp::kAddPublic);
    a.name = n.name;
    a.inputs = {x};
    a.public_const().constant = round_fixed(c, val(x).scale);
    return emit(a, n.outputs[0] + tag, val(x).shape, val(x).scale, max_abs_[x] + std::fabs(c));
  }
  std::size_t relu_of(const Node& n, std::size_t x, const std::string& tag) {
    FxNode r = FxNode::of(FxOp::kRelu);
    r.name = n.name;
    r.inputs = {x};
    return emit(r, n.outputs[0] + tag, val(x).shape, val(x).scale, max_abs_[x]);
  }

  /// clip(x, lo, hi) at x's scale (bounds rounded to it): one kClip node when both bounds are
  /// finite; a one-sided clip is lo + relu(x − lo) or x − relu(x − hi). Returns the value (x itself
  /// when both bounds are infinite).
  std::size_t clip_of(const Node& n, std::size_t x, double lo, double hi, const std::string& tag) {
    const int scale = val(x).scale;
    const Shape shape = val(x).shape;  // a copy: emit() grows the value list
    if (std::isfinite(lo) && std::isfinite(hi)) {
      FxNode c = FxNode::of(FxOp::kClip);
      c.name = n.name;
      c.inputs = {x};
      c.clip().lo = round_fixed(lo, scale);
      c.clip().hi = round_fixed(hi, scale);
      // |clip(x)| ≤ the larger bound, and ≤ max(|x|, the bound that lifts it away from 0).
      const double lifted = std::max(lo > 0 ? lo : 0.0, hi < 0 ? -hi : 0.0);
      const double bound = std::min(std::max(std::fabs(lo), std::fabs(hi)), std::max(max_abs_[x], lifted));
      return emit(c, n.outputs[0] + tag, shape, scale, bound);
    }
    auto sub = [&](std::size_t a, std::size_t b) {
      FxNode s = FxNode::of(FxOp::kSub);
      s.name = n.name;
      s.inputs = {a, b};
      return emit(s, n.outputs[0] + tag + "/sub", shape, scale, max_abs_[a] + max_abs_[b]);
    };
    if (std::isfinite(lo))
      return add_public(n, relu_of(n, add_public(n, x, -lo, tag + "/x-lo"), tag + "/relu_lo"), lo, tag);
    if (std::isfinite(hi)) return sub(x, relu_of(n, add_public(n, x, -hi, tag + "/x-hi"), tag + "/relu_hi"));
    return x;
  }

  /// Bits a kClip node needs in its ring: the protocol forms x − lo and x − hi there.
  int clip_ring_bits(const FxNode& c) const {
    const double bound = static_cast<double>(std::max(std::llabs(c.clip().lo), std::llabs(c.clip().hi)));
    const std::size_t x = c.inputs.at(0);
    return signed_bits(std::ldexp(max_abs_[x], model_.plan.values[x].scale) + bound);
  }

  // Deferred truncation: a floor by 2^k is monotone, so ⌊clip(x, L, H)/2^k⌋ = clip(⌊x/2^k⌋, ⌊L/2^k⌋,
  // ⌊H/2^k⌋); with bounds on the 2^{-f} grid (ReLU6: 0 and 6) the clip runs on the value above
  // scale 2^f and the truncation after it knows the sign (lo ≥ 0). Bounds off the grid truncate first.
  void clip(const Node& n) {
    double lo = n.attr_float("min", -std::numeric_limits<float>::infinity());
    double hi = n.attr_float("max", std::numeric_limits<float>::infinity());
    if (!(lo <= hi)) unsupported(n, "min > max");
    const auto on_grid = [&](double b) { return !std::isfinite(b) || std::ldexp(b, f_) == std::round(std::ldexp(b, f_)); };
    const Lowered x_in = get(n, 0);
    const Lowered x = opt_.defer_truncation && on_grid(lo) && on_grid(hi) ? x_in : at_f(x_in);
    if (!std::isfinite(lo) && !std::isfinite(hi)) {
      low_[n.outputs[0]] = x;
      return;
    }
    const std::size_t out = clip_of(n, x.index, lo, hi, "");
    max_abs_[out] = range_of(n.outputs[0]);
    bind(n, {out, std::isfinite(lo) && lo >= 0});
  }

  // HardSigmoid(x) = clip(α·x + β, 0, 1) = α·clip(x, −β/α, (1 − β)/α) + β (bounds swapped for α < 0):
  // the clip on x at scale 2^f, then a local product by the public round(α·2^f) and the public β,
  // at scale 2^{2f} (the truncation deferred to the consumer, like a product's).
  void hard_sigmoid(const Node& n) {
    const double alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
    double lo = -beta / alpha, hi = (1.0 - beta) / alpha;
    if (alpha < 0) std::swap(lo, hi);
    const Lowered x = at_f(get(n, 0));
    const std::size_t t = clip_of(n, x.index, lo, hi, "/clip");
    FxNode m = FxNode::of(FxOp::kMulPublic);
    m.name = n.name;
    m.inputs = {t};
    m.public_const().constant = round_fixed(alpha, f_);
    if (m.public_const().constant == 0) unsupported(n, "alpha rounds to 0 at scale 2^-f");
    const std::size_t y = emit(m, n.outputs[0] + "/scaled", val(t).shape, val(t).scale + f_,
                               max_abs_[t] * std::fabs(alpha));
    const std::size_t out = add_public(n, y, beta, "");
    max_abs_[out] = range_of(n.outputs[0]);
    bind(n, {out, true});
  }

  /// x broadcast to `shape` (same rank, axes of x equal or 1): a local kExpand, or x itself.
  Lowered expand_to(const Node& n, const Lowered& x, const Shape& shape) {
    const Shape& xs = val(x.index).shape;
    if (xs == shape) return x;
    bool ok = xs.size() == shape.size();
    for (std::size_t d = 0; ok && d < xs.size(); ++d) ok = xs[d] == shape[d] || xs[d] == 1;
    if (!ok) unsupported(n, "broadcasting between two runtime tensors of different ranks or extents");
    FxNode e = FxNode::of(FxOp::kExpand);
    e.name = n.name;
    e.inputs = {x.index};
    return {emit(e, val(x.index).name + "@expand", shape, val(x.index).scale, max_abs_[x.index]), x.nonneg};
  }

  void add_sub(const Node& n) {
    bool is_sub = n.op_type == "Sub";
    const Tensor* c0 = constant(n, 0);
    const Tensor* c1 = constant(n, 1);
    const Shape& ys = out_shape(n);
    if (c0 && c1) unsupported(n, "both operands constant (not folded)");
    if (c0 || c1) {
      if (c0 && is_sub) unsupported(n, "constant minus tensor");
      const Tensor& c = c0 ? *c0 : *c1;
      Lowered x = get(n, c0 ? 1 : 0);
      if (val(x.index).shape != ys) unsupported(n, "the runtime operand must have the output shape");
      FxNode a = FxNode::of(FxOp::kAddConst);
      a.name = n.name;
      a.inputs = {x.index};
      // Expand the constant to the output shape (numpy broadcasting), quantised at x's scale.
      Tensor full;
      full.shape = ys;
      std::vector<I64> cq(at(element_count(ys)));
      std::vector<I64> ost(ys.size(), 1), cst(c.shape.size(), 1);
      for (std::size_t k = ys.size(); k-- > 1;) ost[k - 1] = ost[k] * ys[k];
      for (std::size_t k = c.shape.size(); k-- > 1;) cst[k - 1] = cst[k] * c.shape[k];
      std::size_t off = ys.size() - std::min(ys.size(), c.shape.size());
      for (I64 e = 0; e < static_cast<I64>(cq.size()); ++e) {
        I64 rem = e, src = 0;
        for (std::size_t d = 0; d < ys.size(); ++d) {
          I64 j = rem / ost[d];
          rem %= ost[d];
          if (d >= off && c.shape[d - off] != 1) src += j * cst[d - off];
        }
        double v = c.data[at(src)];
        cq[at(e)] = round_fixed(is_sub ? -v : v, val(x.index).scale);
      }
      a.weights()->index = add_weights(std::move(cq), {});
      bind(n, {emit(a, n.outputs[0], ys, val(x.index).scale, range_of(n.outputs[0])), false});
      return;
    }
    Lowered a = get(n, 0), b = get(n, 1);
    if (val(a.index).shape != ys || val(b.index).shape != ys) unsupported(n, "broadcasting between two runtime tensors");
    // At most one operand may carry untruncated low bits: ⌊(a + 2^f·s)/2^f⌋ = ⌊a/2^f⌋ + s holds,
    // ⌊(a + b)/2^f⌋ = ⌊a/2^f⌋ + ⌊b/2^f⌋ does not. With both at 2^{2f}, truncate one (preferably
    // one whose truncation exists already, e.g. a ReLU output that also feeds a conv).
    if (val(a.index).scale > f_ && val(b.index).scale > f_) {
      if (truncated_.count({a.index, f_})) a = at_f(a);
      else b = at_f(b);
    }
    int scale = std::max(val(a.index).scale, val(b.index).scale);
    a = scale_to(a, scale);
    b = scale_to(b, scale);
    FxNode s = FxNode::of(is_sub ? FxOp::kSub : FxOp::kAdd);
    s.name = n.name;
    s.inputs = {a.index, b.index};
    bind(n, {emit(s, n.outputs[0], ys, val(a.index).scale, range_of(n.outputs[0])), false});
  }

  void mul(const Node& n) {
    const Tensor* c0 = constant(n, 0);
    const Tensor* c1 = constant(n, 1);
    if (c0 && c1) unsupported(n, "both operands constant (not folded)");
    if (c0 || c1) {
      const Tensor& c = c0 ? *c0 : *c1;
      Lowered x = get(n, c0 ? 1 : 0);
      const Shape& xs = val(x.index).shape;
      if (xs.size() < 2 || xs[0] != 1) unsupported(n, "input must be [1,C,...]");
      std::size_t C = at(xs[1]);
      std::vector<double> g(C);
      I64 cn = element_count(c.shape);
      if (cn == 1) {
        std::fill(g.begin(), g.end(), c.data[0]);
      } else {
        // per-channel: [C], [C,1,..], [1,C,1,..] aligned to axis 1 of x
        bool ok = static_cast<std::size_t>(cn) == C;
        if (ok) {
          std::size_t off = xs.size() - c.shape.size();
          for (std::size_t d = 0; d < c.shape.size(); ++d)
            if (c.shape[d] != 1 && d + off != 1) ok = false;
        }
        if (!ok) unsupported(n, "product with a constant must be per-channel or scalar");
        for (std::size_t k = 0; k < C; ++k) g[k] = c.data[k];
      }
      affine(n, x, g, {});
      return;
    }
    Lowered a = at_f(get(n, 0)), b = at_f(get(n, 1));
    const Shape& ys = out_shape(n);
    const bool square = n.inputs[0] == n.inputs[1];
    if (!square) {  // a broadcast operand (squeeze-and-excitation's [1,C,1,1]) is expanded locally
      a = expand_to(n, a, ys);
      b = expand_to(n, b, ys);
    }
    FxNode m = FxNode::of(square ? FxOp::kSquare : FxOp::kMul);
    m.name = n.name;
    m.inputs = square ? std::vector<std::size_t>{a.index} : std::vector<std::size_t>{a.index, b.index};
    const int scale = val(a.index).scale + val(m.op == FxOp::kSquare ? a.index : b.index).scale;  // 2f, or lower per tensor
    bind(n, {emit(m, n.outputs[0], ys, scale, range_of(n.outputs[0])), n.inputs[0] == n.inputs[1]});
  }

  void pool_shape(const Node& n, FxPoolAttrs& p, const Shape& xs) {
    if (xs.size() != 4 || xs[0] != 1) unsupported(n, "input must be [1,C,H,W]");
    p.C = xs[1]; p.H = xs[2]; p.W = xs[3];
    if (n.op_type == "GlobalAveragePool") {
      p.kh = p.H; p.kw = p.W;
      p.pads = {0, 0, 0, 0};
      return;
    }
    auto ks = n.attr_ints("kernel_shape");
    auto st = n.attr_ints("strides", {1, 1});
    auto pd = n.attr_ints("pads", {0, 0, 0, 0});
    if (ks.size() != 2 || st.size() != 2 || pd.size() != 4) unsupported(n, "only 2-D pooling");
    p.kh = ks[0]; p.kw = ks[1]; p.sh = st[0]; p.sw = st[1];
    std::copy(pd.begin(), pd.end(), p.pads.begin());
  }

  void maxpool(const Node& n) {
    Lowered x = get(n, 0);
    FxNode p = FxNode::of(FxOp::kMaxPool);
    p.name = n.name;
    p.inputs = {x.index};
    pool_shape(n, p.pool(), val(x.index).shape);
    bind(n, {emit(p, n.outputs[0], out_shape(n), val(x.index).scale, range_of(n.outputs[0])), x.nonneg});
  }

  void avgpool(const Node& n) {
    Lowered x = at_f(get(n, 0));
    FxNode p = FxNode::of(FxOp::kAvgPool);
    p.name = n.name;
    p.inputs = {x.index};
    pool_shape(n, p.pool(), val(x.index).shape);
    p.pool().count_include_pad = n.attr_int("count_include_pad", 0) != 0;
    I64 kmax = p.pool().kh * p.pool().kw;
    if (kmax > (I64{1} << (f_ + 1))) unsupported(n, "window larger than 2^(f+1): the multiplier would be 0");
    bind(n, {emit(p, n.outputs[0], out_shape(n), val(x.index).scale + f_, range_of(n.outputs[0])), x.nonneg});
  }

  void reshape(const Node& n) {
    Lowered x = get(n, 0);
    FxNode r = FxNode::of(FxOp::kReshape);
    r.name = n.name;
    r.inputs = {x.index};
    double m = max_abs_[x.index];
    low_[n.outputs[0]] = {emit(r, n.outputs[0], out_shape(n), val(x.index).scale, m), x.nonneg};
  }

  void slice(const Node& n) {
    Lowered x = get(n, 0);
    FxNode s = FxNode::of(FxOp::kSlice);
    s.name = n.name;
    s.inputs = {x.index};
    s.slice().starts = n.attr_ints("starts");
    s.slice().steps = n.attr_ints("steps");
    // The private slice (linear::strided_slice) and the plan take positive steps only.
    if (std::any_of(s.slice().steps.begin(), s.slice().steps.end(), [](std::int64_t v) { return v < 1; }))
      unsupported(n, "negative Slice steps (reversal)");
    low_[n.outputs[0]] = {emit(s, n.outputs[0], out_shape(n), val(x.index).scale, max_abs_[x.index]), x.nonneg};
  }

  void pad(const Node& n) {
    Lowered x = get(n, 0);
    if (n.attr_float("value", 0.0f) != 0.0f) unsupported(n, "only zero padding");
    FxNode p = FxNode::of(FxOp::kPad);
    p.name = n.name;
    p.inputs = {x.index};
    p.pad().pads = n.attr_ints("pads");
    low_[n.outputs[0]] = {emit(p, n.outputs[0], out_shape(n), val(x.index).scale, max_abs_[x.index]), x.nonneg};
  }

  void concat(const Node& n) {
    std::vector<Lowered> xs;
    bool same = true, nonneg = true;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      xs.push_back(get(n, k));
      same = same && val(xs.back().index).scale == val(xs[0].index).scale;
    }
    FxNode c = FxNode::of(FxOp::kConcat);
    c.name = n.name;
    c.concat().axis = n.attr_int("axis", 0);
    if (!same) {  // a common scale: f, or the largest below it (per-tensor scales)
      int top = 0;
      for (auto& x : xs) top = std::max(top, val((x = at_f(x)).index).scale);
      for (auto& x : xs) x = scale_to(x, top);
    }
    for (auto& x : xs) {
      nonneg = nonneg && x.nonneg;
      c.inputs.push_back(x.index);
    }
    int scale = val(c.inputs[0]).scale;
    low_[n.outputs[0]] = {emit(c, n.outputs[0], out_shape(n), scale, range_of(n.outputs[0])), nonneg};
  }

  /// Bits a value needs at its scale: its calibrated magnitude plus the sign bit.
  int value_bits(std::size_t v) const { return signed_bits(std::ldexp(max_abs_[v], model_.plan.values[v].scale)); }

  void finish_ring() {
    FixedPlan& p = model_.plan;
    int need = 2 * f_ + 2;  // room for the products of x² and pooling
    for (std::size_t i = 0; i < p.values.size(); ++i) need = std::max(need, value_bits(i) + opt_.headroom_bits);
    for (const FxNode& nd : p.nodes)
      if (nd.op == FxOp::kClip) need = std::max(need, clip_ring_bits(nd) + opt_.headroom_bits);
    need = std::max(need, opt_.min_ring_bits);
    const bool has_he = std::any_of(p.nodes.begin(), p.nodes.end(), [](const FxNode& n) {
      return n.op == FxOp::kConv || n.op == FxOp::kGemm || n.op == FxOp::kAffine;
    });
    if (!per_tensor_ && opt_.rings == FixedOptions::Rings::kAuto && has_he && need > opt_.he_max_ring_bits) {
      needs_per_tensor_ = true;  // quantize_model lowers again, per tensor
      return;
    }
    const bool per_tensor = per_tensor_;
    if (need > 64 && !per_tensor)
      throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: the calibration range needs " + std::to_string(need) +
                                                   " ring bits (> 64); lower frac_bits or headroom");
    if (per_tensor) {
      assign_rings();
    } else {
      p.ring_bits = need;
      for (auto& v : p.values) v.ring_bits = need;
    }
    for (std::size_t i = 0; i < p.values.size(); ++i) {
      FxRange r;
      r.value = p.values[i].name;
      r.op = i == p.input ? "Input" : "";
      r.scale = p.values[i].scale;
      r.max_abs = max_abs_[i];
      r.bits = value_bits(i);
      r.ring_bits = p.values[i].ring_bits;
      r.headroom = r.ring_bits - r.bits;
      p.ranges.push_back(r);
    }
    for (const FxNode& nd : p.nodes) p.ranges[nd.output].op = fx_op_name(nd.op);
  }

  /// Per-tensor rings: each value gets the ring it needs; the program is rewritten so that every
  /// node computes in one ring (comparisons in their input's, the rest in their output's), with
  /// kExtend / kReduce nodes where a value changes ring (memoised per value and ring).
  void assign_rings() {
    FixedPlan& p = model_.plan;
    const int head = opt_.headroom_bits;
    auto needs = [&](std::size_t v, bool he_out) {
      int r = std::max({value_bits(v) + head, p.values[v].scale + 2, opt_.min_ring_bits, 2});
      if (he_out) r = std::max(r, 13);  // the HE parameters start at 13 bits
      return r;
    };
    std::vector<bool> nonneg(p.values.size(), false);
    std::vector<FxNode> nodes = std::move(p.nodes);
    p.nodes.clear();
    p.values[p.input].ring_bits = needs(p.input, false);
    std::map<std::pair<std::size_t, int>, std::size_t> converted;
    int widest = 0;
    auto convert = [&](std::size_t v, int ring) -> std::size_t {
      const int have = p.values[v].ring_bits;
      if (have == ring) return v;
      if (ring > 64)
        throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: value '" + p.values[v].name + "' needs " +
                                                     std::to_string(ring) + " ring bits (> 64)");
      auto key = std::make_pair(v, ring);
      if (auto it = converted.find(key); it != converted.end()) return it->second;
      FxNode c = FxNode::of(have < ring ? FxOp::kExtend : FxOp::kReduce);
      c.name = p.values[v].name;
      c.inputs = {v};
      if (c.op == FxOp::kExtend) c.extend().nonneg = nonneg[v];
      const std::size_t out = add_value(p.values[v].name + "@l" + std::to_string(ring), p.values[v].shape,
                                        p.values[v].scale, max_abs_[v]);
      p.values[out].ring_bits = ring;
      nonneg.push_back(nonneg[v]);
      c.output = out;
      p.nodes.push_back(std::move(c));
      converted[key] = out;
      return out;
    };
    for (FxNode n : nodes) {
      const bool comparison =
          n.op == FxOp::kRelu || n.op == FxOp::kClip || n.op == FxOp::kMaxPool || n.op == FxOp::kTrunc;
      const bool he = n.op == FxOp::kConv || n.op == FxOp::kGemm || n.op == FxOp::kAffine;
      int ring = comparison ? p.values[n.inputs.at(0)].ring_bits : needs(n.output, he);
      if (n.op == FxOp::kTrunc) ring = std::max(ring, n.shift().shift + 2);
      if (n.op == FxOp::kClip) ring = std::max({ring, clip_ring_bits(n) + head, needs(n.output, false)});
      for (auto& v : n.inputs) v = convert(v, ring);
      p.values[n.output].ring_bits = ring;
      // A truncation moves into its output's smaller ring when that fits below ℓ_in − shift
      // (truncate-and-reduce: cheaper than the truncation, and the reduction comes with it).
      if (n.op == FxOp::kTrunc && needs(n.output, false) <= ring - n.shift().shift)
        p.values[n.output].ring_bits = needs(n.output, false);
      bool nn_out = false;
      switch (n.op) {
        case FxOp::kRelu:
        case FxOp::kSquare: nn_out = true; break;
        case FxOp::kClip: nn_out = n.clip().lo >= 0; break;
        case FxOp::kTrunc:
        case FxOp::kMaxPool:
        case FxOp::kPad:
        case FxOp::kSlice:
        case FxOp::kExpand:
        case FxOp::kReshape: nn_out = nonneg[n.inputs[0]]; break;
        case FxOp::kConcat:
          nn_out = std::all_of(n.inputs.begin(), n.inputs.end(), [&](std::size_t v) { return nonneg[v]; });
          break;
        default: break;
      }
      nonneg[n.output] = nn_out;
      widest = std::max(widest, ring);
      p.nodes.push_back(std::move(n));
    }
    for (const auto& v : p.values) widest = std::max(widest, v.ring_bits);
    p.ring_bits = std::max(widest, 2 * f_ + 2);
    if (p.ring_bits > 64)
      throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: a value needs more than 64 ring bits");
  }

  const Graph& g_;
  FixedOptions opt_;
  int f_ = 12;
  std::map<std::string, double> range_;
  std::map<std::string, Lowered> low_;
  std::map<std::pair<std::size_t, int>, std::size_t> truncated_;  // (value, target scale) → truncation
  bool per_tensor_ = false;
  bool needs_per_tensor_ = false;
  bool qdq_ = false;          // an integer program from a QDQ model
  bool input_set_ = false;    // qdq_: the network input's QuantizeLinear was lowered
  std::map<std::string, QReal> qreal_;
  std::map<std::string, QInt> qint_;
  std::set<std::size_t> folded_;  // accumulators whose per-channel multipliers are in their weights
  std::vector<double> max_abs_;
  std::vector<std::string> unsupported_;
  std::string skip_;
  FixedModel model_;
};

}  // namespace

FixedModel quantize_model(const Graph& graph, const std::vector<Tensor>& calibration, const FixedOptions& options) {
  if (options.frac_bits < 1 || options.frac_bits > 24)
    throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: frac_bits must be in [1, 24]");
  if (options.headroom_bits < 1 || options.headroom_bits > 20)
    throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: headroom_bits must be in [1, 20]");
  if (options.weight_bits_target < 4 || options.weight_bits_target > 20)
    throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: weight_bits_target must be in [4, 20]");
  if (options.he_max_ring_bits < 13 || options.he_max_ring_bits > 64)
    throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: he_max_ring_bits must be in [13, 64]");
  if (options.min_ring_bits < 0 || options.min_ring_bits > 64)
    throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: min_ring_bits must be in [0, 64]");
  if (calibration.empty()) throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: no calibration input");
  if (graph.inputs.size() != 1 || graph.outputs.size() != 1)
    throw Error(ErrorCode::kInvalidArgument, "fixed-point plan: the graph must have one input and one output");
  auto range = calibrate(graph, calibration);
  if (options.rings != FixedOptions::Rings::kPerTensor) {
    Lowering uniform(graph, range, options, false);
    FixedModel m = uniform.run();
    if (!uniform.needs_per_tensor()) return m;
  }
  Lowering per_tensor(graph, std::move(range), options, true);
  return per_tensor.run();
}

std::vector<std::uint64_t> quantize_input(const FixedPlan& plan, const std::vector<float>& x) {
  std::size_t n = at(element_count(plan.values.at(plan.input).shape));
  if (x.size() != n)
    throw Error(ErrorCode::kInvalidArgument, "quantize_input: expected " + std::to_string(n) + " values, got " +
                                                 std::to_string(x.size()));
  const u64 mask = ring_mask(value_ring(plan, plan.input));
  std::vector<u64> out(n);
  if (const auto& io = plan.integer_io) {  // as ONNX QuantizeLinear: float32 division, half to even
    const float s = static_cast<float>(io->input_scale);
    for (std::size_t k = 0; k < n; ++k) {
      if (!std::isfinite(x[k])) throw Error(ErrorCode::kInvalidArgument, "quantize_input: non-finite input value");
      const double q = std::clamp(static_cast<double>(std::nearbyint(x[k] / s)) + static_cast<double>(io->input_zero_point),
                                  static_cast<double>(io->input_qmin), static_cast<double>(io->input_qmax));
      out[k] = static_cast<u64>(static_cast<I64>(q) - io->input_zero_point) & mask;
    }
    return out;
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (!std::isfinite(x[k])) throw Error(ErrorCode::kInvalidArgument, "quantize_input: non-finite input value");
    double v = std::ldexp(static_cast<double>(x[k]), plan.frac_bits);
    if (std::fabs(v) > 9.0e18) throw Error(ErrorCode::kInvalidArgument, "quantize_input: input value out of range");
    out[k] = static_cast<u64>(std::llround(v)) & mask;
  }
  return out;
}

}  // namespace peregrine::nn
