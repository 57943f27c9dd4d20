// The fixed-point reference executor (nn/fixed.hpp run_fixed*): the exact semantics the private
// run reproduces.
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
namespace {

// ---- reference executor ---------------------------------------------------------------------------


class Reference {
 public:
  Reference(const FixedModel& m) : m_(m), p_(m.plan) {
    set_ring(p_.ring_bits);
  }

  std::vector<std::vector<u64>> run(const std::vector<u64>& input) {
    vals_.assign(p_.values.size(), {});
    if (input.size() != at(element_count(p_.values[p_.input].shape)))
      throw Error(ErrorCode::kInvalidArgument, "fixed executor: input must have " +
                                                   std::to_string(element_count(p_.values[p_.input].shape)) + " values");
    vals_[p_.input] = input;
    const u64 in_mask = ring_mask(value_ring(p_, p_.input));
    for (auto& v : vals_[p_.input]) v &= in_mask;
    for (const FxNode& n : p_.nodes) {
      std::vector<u64> y(at(element_count(p_.values[n.output].shape)), 0);
      step(n, y);
      vals_[n.output] = std::move(y);
    }
    return std::move(vals_);
  }

  /// One node on the given input values (in node input order).
  std::vector<u64> run_node(const FxNode& n, const std::vector<std::vector<u64>>& inputs) {
    if (inputs.size() != n.inputs.size())
      throw Error(ErrorCode::kInvalidArgument, "fixed executor: node '" + n.name + "' takes " +
                                                   std::to_string(n.inputs.size()) + " inputs");
    vals_.assign(p_.values.size(), {});
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k].size() != at(element_count(p_.values.at(n.inputs[k]).shape)))
        throw Error(ErrorCode::kInvalidArgument, "fixed executor: input " + std::to_string(k) + " of node '" +
                                                     n.name + "' has the wrong size");
      vals_[n.inputs[k]] = inputs[k];
      const u64 m = ring_mask(value_ring(p_, n.inputs[k]));
      for (auto& v : vals_[n.inputs[k]]) v &= m;
    }
    std::vector<u64> y(at(element_count(p_.values.at(n.output).shape)), 0);
    step(n, y);
    return y;
  }

 private:
  const std::vector<u64>& in(const FxNode& n, std::size_t k) const { return vals_[n.inputs[k]]; }
  /// Signed value of an element of the node's ring.
  I64 sx(u64 v) const { return ring_to_signed(v & mask_, bits_); }
  void set_ring(int bits) {
    bits_ = bits;
    mask_ = ring_mask(bits);
  }

  /// Runs one node into y (sized to its output) and reduces y into the output's ring. Every node
  /// but kExtend / kReduce computes in one ring, its output's (its inputs share it: plan_from_json
  /// and the lowering keep that invariant).
  void step(const FxNode& n, std::vector<u64>& y) {
    const int out_bits = value_ring(p_, n.output);
    if (n.op == FxOp::kExtend || n.op == FxOp::kReduce) {
      set_ring(value_ring(p_, n.inputs.at(0)));  // read signed in the input's ring
      const auto& x = in(n, 0);
      for (std::size_t k = 0; k < y.size(); ++k) y[k] = static_cast<u64>(sx(x[k]));
    } else {
      // A truncation reads its input signed in the input's ring (its output may be a smaller
      // ring: truncate-and-reduce); every other node computes in its output's ring.
      set_ring(n.op == FxOp::kTrunc ? value_ring(p_, n.inputs.at(0)) : out_bits);
      compute(n, y);
    }
    const u64 m = ring_mask(out_bits);
    for (auto& v : y) v &= m;
  }

  void compute(const FxNode& n, std::vector<u64>& y) {
    const auto& w = m_.weights.entries;
    switch (n.op) {
      case FxOp::kConv: conv(n, y); break;
      case FxOp::kGemm: {
        const auto& x = in(n, 0);
        const I64 K = n.gemm().K, N = n.gemm().N;
        const auto& e = w[n.gemm().index];
        const std::size_t rows = x.size() / at(K);
        for (std::size_t r = 0; r < rows; ++r)
          for (I64 j = 0; j < N; ++j) {
            u64 acc = e.b.empty() ? 0 : static_cast<u64>(e.b[at(j)]);
            for (I64 k = 0; k < K; ++k) acc += static_cast<u64>(e.w[at(j * K + k)]) * x[r * at(K) + at(k)];
            y[r * at(N) + at(j)] = acc;
          }
        break;
      }
      case FxOp::kAffine: {
        const auto& x = in(n, 0);
        const auto& a = n.affine();
        const auto& e = w[a.index];
        for (I64 c = 0; c < a.C; ++c)
          for (I64 q = 0; q < a.inner; ++q) {
            std::size_t k = at(c * a.inner + q);
            y[k] = static_cast<u64>(e.w[at(c)]) * x[k] + (e.b.empty() ? 0 : static_cast<u64>(e.b[at(c)]));
          }
        break;
      }
      case FxOp::kTrunc: {
        const auto& x = in(n, 0);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = static_cast<u64>(sx(x[k]) >> n.shift().shift);
        break;
      }
      case FxOp::kRelu: {
        const auto& x = in(n, 0);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = sx(x[k]) > 0 ? x[k] : 0;
        break;
      }
      case FxOp::kClip: {
        const auto& x = in(n, 0);
        const I64 lo = n.clip().lo, hi = n.clip().hi;
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = static_cast<u64>(std::clamp(sx(x[k]), lo, hi));
        break;
      }
      case FxOp::kAdd:
      case FxOp::kSub: {
        const auto &a = in(n, 0), &b = in(n, 1);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = n.op == FxOp::kAdd ? a[k] + b[k] : a[k] - b[k];
        break;
      }
      case FxOp::kAddConst: {
        const auto& x = in(n, 0);
        const auto& c = w[n.weights()->index].w;
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = x[k] + static_cast<u64>(c[k]);
        break;
      }
      case FxOp::kAddPublic: {
        const auto& x = in(n, 0);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = x[k] + static_cast<u64>(n.public_const().constant);
        break;
      }
      case FxOp::kMulPublic: {
        const auto& x = in(n, 0);
        const u64 c = static_cast<u64>(n.public_const().constant);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = x[k] * c;
        break;
      }
      case FxOp::kExpand: detail::expand_into(in(n, 0), shape(n.inputs[0]), y, shape(n.output)); break;
      case FxOp::kScaleUp: {
        const auto& x = in(n, 0);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = x[k] << n.shift().shift;
        break;
      }
      case FxOp::kSquare: {
        const auto& x = in(n, 0);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = x[k] * x[k];
        break;
      }
      case FxOp::kMul: {
        const auto &a = in(n, 0), &b = in(n, 1);
        for (std::size_t k = 0; k < y.size(); ++k) y[k] = a[k] * b[k];
        break;
      }
      case FxOp::kMaxPool:
      case FxOp::kAvgPool: pool(n, y); break;
      case FxOp::kReshape: y = in(n, 0); break;
      case FxOp::kSlice: slice(n, y); break;
      case FxOp::kPad: pad(n, y); break;
      case FxOp::kConcat: concat(n, y); break;
      case FxOp::kExtend:
      case FxOp::kReduce: break;  // step()
    }
  }

  void conv(const FxNode& n, std::vector<u64>& y) {
    const auto& x = in(n, 0);
    const FxConvAttrs& a = n.conv();
    const auto& e = m_.weights.entries[a.index];
    const I64 OH = a.out_h(), OW = a.out_w();
    I64 Cg = a.C / a.groups, Mg = a.M / a.groups;
    for (I64 m = 0; m < a.M; ++m) {
      I64 g = m / Mg;
      u64 b = e.b.empty() ? 0 : static_cast<u64>(e.b[at(m)]);
      for (I64 oh = 0; oh < OH; ++oh)
        for (I64 ow = 0; ow < OW; ++ow) {
          u64 acc = b;
          for (I64 c = 0; c < Cg; ++c)
            for (I64 ky = 0; ky < a.kh; ++ky) {
              I64 ih = oh * a.sh - a.pads[0] + ky;
              if (ih < 0 || ih >= a.H) continue;
              for (I64 kx = 0; kx < a.kw; ++kx) {
                I64 iw = ow * a.sw - a.pads[1] + kx;
                if (iw < 0 || iw >= a.W) continue;
                acc += static_cast<u64>(e.w[at(((m * Cg + c) * a.kh + ky) * a.kw + kx)]) *
                       x[at(((g * Cg + c) * a.H + ih) * a.W + iw)];
              }
            }
          y[at((m * OH + oh) * OW + ow)] = acc;
        }
    }
  }

  void pool(const FxNode& n, std::vector<u64>& y) {
    const auto& x = in(n, 0);
    bool is_max = n.op == FxOp::kMaxPool;
    const FxPoolAttrs& a = n.pool();
    const I64 OH = a.out_h(), OW = a.out_w();
    const I64 pad_value = -(I64{1} << (bits_ - 2));
    for (I64 c = 0; c < a.C; ++c)
      for (I64 oh = 0; oh < OH; ++oh)
        for (I64 ow = 0; ow < OW; ++ow) {
          I64 best = std::numeric_limits<I64>::min();
          u64 sum = 0;
          I64 cnt = 0, padded = 0;
          for (I64 ky = 0; ky < a.kh; ++ky)
            for (I64 kx = 0; kx < a.kw; ++kx) {
              I64 ih = oh * a.sh - a.pads[0] + ky, iw = ow * a.sw - a.pads[1] + kx;
              bool inside = ih >= 0 && ih < a.H && iw >= 0 && iw < a.W;
              // count_include_pad counts window positions inside the padded input
              if (ih >= -a.pads[0] && ih < a.H + a.pads[2] && iw >= -a.pads[1] && iw < a.W + a.pads[3]) ++padded;
              if (!inside) {
                best = std::max(best, pad_value);
                continue;
              }
              u64 v = x[at((c * a.H + ih) * a.W + iw)];
              best = std::max(best, sx(v));
              sum += v;
              ++cnt;
            }
          std::size_t o = at((c * OH + oh) * OW + ow);
          if (is_max) {
            y[o] = static_cast<u64>(best);
          } else {
            I64 k = a.count_include_pad ? padded : cnt;
            u64 mult = (u64{1} << p_.frac_bits) + static_cast<u64>(k / 2);
            mult /= static_cast<u64>(std::max<I64>(k, 1));
            y[o] = sum * mult;
          }
        }
  }

  const Shape& shape(std::size_t v) const { return p_.values[v].shape; }

  void slice(const FxNode& n, std::vector<u64>& y) {
    detail::slice_into(in(n, 0), shape(n.inputs[0]), y, shape(n.output), n.slice().starts, n.slice().steps);
  }

  void pad(const FxNode& n, std::vector<u64>& y) {
    detail::pad_into(in(n, 0), shape(n.inputs[0]), y, shape(n.output), n.pad().pads);
  }

  void concat(const FxNode& n, std::vector<u64>& y) {
    std::vector<const std::vector<u64>*> parts;
    std::vector<const Shape*> shapes;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      parts.push_back(&in(n, k));
      shapes.push_back(&shape(n.inputs[k]));
    }
    detail::concat_into(parts, shapes, y, shape(n.output), at(n.concat().axis));
  }

  const FixedModel& m_;
  const FixedPlan& p_;
  int bits_ = 64;  // the ring of the node being run (its output's; a kExtend's input's)
  u64 mask_ = 0;
  std::vector<std::vector<u64>> vals_;
};

}  // namespace

bool is_uniform(const FixedPlan& p) {
  for (const auto& v : p.values)
    if (v.ring_bits != p.ring_bits) return false;
  return true;
}

const char* fx_op_name(FxOp op) {
  switch (op) {
    case FxOp::kConv: return "Conv";
    case FxOp::kGemm: return "Gemm";
    case FxOp::kAffine: return "Affine";
    case FxOp::kTrunc: return "Trunc";
    case FxOp::kRelu: return "Relu";
    case FxOp::kAdd: return "Add";
    case FxOp::kSub: return "Sub";
    case FxOp::kAddConst: return "AddConst";
    case FxOp::kAddPublic: return "AddPublic";
    case FxOp::kScaleUp: return "ScaleUp";
    case FxOp::kSquare: return "Square";
    case FxOp::kMul: return "Mul";
    case FxOp::kMaxPool: return "MaxPool";
    case FxOp::kAvgPool: return "AvgPool";
    case FxOp::kPad: return "Pad";
    case FxOp::kSlice: return "Slice";
    case FxOp::kReshape: return "Reshape";
    case FxOp::kConcat: return "Concat";
    case FxOp::kExtend: return "Extend";
    case FxOp::kReduce: return "Reduce";
    case FxOp::kMulPublic: return "MulPublic";
    case FxOp::kExpand: return "Expand";
    case FxOp::kClip: return "Clip";
  }
  return "?";
}

FxAttrs fx_default_attrs(FxOp op) {
  switch (op) {
    case FxOp::kConv: return FxConvAttrs{};
    case FxOp::kGemm: return FxGemmAttrs{};
    case FxOp::kAffine: return FxAffineAttrs{};
    case FxOp::kAddConst: return FxAddConstAttrs{};
    case FxOp::kMaxPool:
    case FxOp::kAvgPool: return FxPoolAttrs{};
    case FxOp::kTrunc:
    case FxOp::kScaleUp: return FxShiftAttrs{};
    case FxOp::kExtend: return FxExtendAttrs{};
    case FxOp::kAddPublic:
    case FxOp::kMulPublic: return FxPublicConstAttrs{};
    case FxOp::kPad: return FxPadAttrs{};
    case FxOp::kSlice: return FxSliceAttrs{};
    case FxOp::kConcat: return FxConcatAttrs{};
    case FxOp::kClip: return FxClipAttrs{};
    case FxOp::kRelu:
    case FxOp::kAdd:
    case FxOp::kSub:
    case FxOp::kSquare:
    case FxOp::kMul:
    case FxOp::kReshape:
    case FxOp::kReduce:
    case FxOp::kExpand: return std::monostate{};
  }
  return std::monostate{};
}

bool fx_attrs_match(FxOp op, const FxAttrs& attrs) { return fx_default_attrs(op).index() == attrs.index(); }

const FxWeightsRef* FxNode::weights() const {
  switch (op) {
    case FxOp::kConv: return &conv();
    case FxOp::kGemm: return &gemm();
    case FxOp::kAffine: return &affine();
    case FxOp::kAddConst: return &as<FxAddConstAttrs>();
    default: return nullptr;
  }
}

void FxNode::attrs_mismatch() const {
  throw Error(ErrorCode::kInvalidArgument,
              "fixed plan: node '" + name + "' (" + fx_op_name(op) + ") holds the attributes of another op");
}

std::vector<std::vector<std::uint64_t>> run_fixed_all(const FixedModel& model, const std::vector<std::uint64_t>& input) {
  Reference r(model);
  return r.run(input);
}

std::vector<std::uint64_t> run_fixed_node(const FixedModel& model, std::size_t node,
                                          const std::vector<std::vector<std::uint64_t>>& inputs) {
  Reference r(model);
  return r.run_node(model.plan.nodes.at(node), inputs);
}

std::vector<std::uint64_t> run_fixed(const FixedModel& model, const std::vector<std::uint64_t>& input) {
  auto all = run_fixed_all(model, input);
  return std::move(all.at(model.plan.output));
}

std::vector<float> dequantize(const FixedPlan& plan, const std::vector<std::uint64_t>& v) {
  std::vector<float> out(v.size());
  if (plan.integer_io) {
    for (std::size_t k = 0; k < v.size(); ++k)
      out[k] = static_cast<float>(static_cast<double>(ring_to_signed(v[k], value_ring(plan, plan.output))) *
                                  plan.integer_io->output_scale);
    return out;
  }
  for (std::size_t k = 0; k < v.size(); ++k)
    out[k] = static_cast<float>(
        std::ldexp(static_cast<double>(ring_to_signed(v[k], value_ring(plan, plan.output))), -plan.values.at(plan.output).scale));
  return out;
}

std::vector<float> postprocess(const FixedPlan& plan, const std::vector<float>& logits) {
  if (plan.postprocess == "Softmax") {
    double mx = -std::numeric_limits<double>::infinity(), sum = 0;
    for (float v : logits) mx = std::max(mx, static_cast<double>(v));
    std::vector<float> out(logits.size());
    for (float v : logits) sum += std::exp(v - mx);
    for (std::size_t k = 0; k < logits.size(); ++k) out[k] = static_cast<float>(std::exp(logits[k] - mx) / sum);
    return out;
  }
  if (plan.postprocess == "ArgMax") {
    std::size_t best = 0;
    for (std::size_t k = 1; k < logits.size(); ++k)
      if (logits[k] > logits[best]) best = k;
    return {static_cast<float>(best)};
  }
  return logits;
}

}  // namespace peregrine::nn
