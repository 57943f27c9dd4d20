#include "peregrine/nn/float_exec.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "peregrine/core/error.hpp"
#include "peregrine/nn/moves.hpp"

namespace peregrine::nn {
namespace {

using I64 = std::int64_t;
using Values = std::map<std::string, Tensor>;

[[noreturn]] void bad(const Node& n, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "float executor: node '" + n.name + "' (" + n.op_type + "): " + what);
}

using detail::strides_of;

std::size_t at(I64 v) { return static_cast<std::size_t>(v); }

/// A shape seen around axis ax: the product of the dims before it and after it.
struct AxisSplit {
  I64 outer = 1, inner = 1;
};
AxisSplit split_at(const Shape& shape, std::size_t ax) {
  AxisSplit a;
  for (std::size_t d = 0; d < ax; ++d) a.outer *= shape[d];
  for (std::size_t d = ax + 1; d < shape.size(); ++d) a.inner *= shape[d];
  return a;
}

class Exec {
 public:
  Exec(const Graph& g, Values& vals) : g_(g), vals_(vals) {}

  const Tensor& in(const Node& n, std::size_t k) const {
    if (k >= n.inputs.size() || n.inputs[k].empty()) bad(n, "missing input " + std::to_string(k));
    const std::string& name = n.inputs[k];
    auto v = vals_.find(name);
    if (v != vals_.end()) return v->second;
    auto c = g_.initializers.find(name);
    if (c != g_.initializers.end()) return c->second;
    bad(n, "value '" + name + "' not available");
  }
  Tensor make_out(const Node& n) const {
    Tensor t;
    auto s = g_.shapes.find(n.outputs.at(0));
    if (s == g_.shapes.end()) bad(n, "no shape for the output");
    t.shape = s->second;
    t.data.assign(at(element_count(t.shape)), 0.0f);
    return t;
  }

  void run(const Node& n) {
    const std::string& op = n.op_type;
    Tensor y = make_out(n);
    if (op == "Conv") conv(n, y);
    else if (op == "Gemm") gemm(n, y);
    else if (op == "Add" || op == "Sub" || op == "Mul") binary(n, y);
    else if (op == "Relu") unary(n, y, [](float v) { return v > 0.0f ? v : 0.0f; });
    else if (op == "Clip") {
      float lo = n.attr_float("min", -std::numeric_limits<float>::infinity());
      float hi = n.attr_float("max", std::numeric_limits<float>::infinity());
      unary(n, y, [lo, hi](float v) { return std::min(std::max(v, lo), hi); });
    } else if (op == "HardSigmoid") {
      const float alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
      unary(n, y, [alpha, beta](float v) { return std::min(std::max(alpha * v + beta, 0.0f), 1.0f); });
    } else if (op == "BatchNormalization") batchnorm(n, y);
    else if (op == "MaxPool" || op == "AveragePool") pool(n, y);
    else if (op == "GlobalAveragePool") global_avg(n, y);
    else if (op == "Flatten" || op == "Reshape" || op == "Identity") copy(n, y);
    else if (op == "Slice") slice(n, y);
    else if (op == "Pad") pad(n, y);
    else if (op == "Concat") concat(n, y);
    else if (op == "Softmax") softmax(n, y);
    else if (op == "ArgMax") argmax(n, y);
    else if (op == "QuantizeLinear") {  // ONNX: float32 division, round half to even, saturate
      const float s = n.attr_float("scale", 1.0f);
      const float zp = static_cast<float>(n.attr_int("zero_point", 0));
      const float lo = static_cast<float>(n.attr_int("qmin", 0)), hi = static_cast<float>(n.attr_int("qmax", 255));
      unary(n, y, [=](float v) { return std::min(std::max(std::nearbyint(v / s) + zp, lo), hi); });
    } else if (op == "DequantizeLinear") {
      const float s = n.attr_float("scale", 1.0f);
      const float zp = static_cast<float>(n.attr_int("zero_point", 0));
      unary(n, y, [=](float v) { return (v - zp) * s; });
    }
    else bad(n, "op outside the normal form");
    vals_[n.outputs[0]] = std::move(y);
  }

 private:
  // Y[n,m,oh,ow] = B[m] + Σ_{c in group, ky, kx} X[n,c,oh·s−pt+ky, ow·s−pl+kx] · W[m,c',ky,kx]
  void conv(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    const Tensor& w = in(n, 1);
    const Tensor* b = n.inputs.size() > 2 ? &in(n, 2) : nullptr;
    std::vector<I64> st = n.attr_ints("strides"), pads = n.attr_ints("pads");
    I64 groups = n.attr_int("group", 1);
    I64 N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    I64 M = y.shape[1], OH = y.shape[2], OW = y.shape[3];
    I64 KH = w.shape[2], KW = w.shape[3], Cg = C / groups, Mg = M / groups;
    for (I64 bn = 0; bn < N; ++bn)
      for (I64 m = 0; m < M; ++m) {
        float* out = &y.data[at(((bn * M) + m) * OH * OW)];
        std::fill(out, out + OH * OW, b ? b->data[at(m)] : 0.0f);
        I64 g = m / Mg;
        for (I64 c = 0; c < Cg; ++c) {
          const float* xin = &x.data[at(((bn * C) + g * Cg + c) * H * W)];
          for (I64 ky = 0; ky < KH; ++ky)
            for (I64 kx = 0; kx < KW; ++kx) {
              float wv = w.data[at(((m * Cg + c) * KH + ky) * KW + kx)];
              // Output columns whose input column ow·s − pl + kx lies in [0, W).
              I64 lo = 0, hi = OW;
              while (lo < OW && lo * st[1] - pads[1] + kx < 0) ++lo;
              while (hi > lo && (hi - 1) * st[1] - pads[1] + kx >= W) --hi;
              for (I64 oh = 0; oh < OH; ++oh) {
                I64 ih = oh * st[0] - pads[0] + ky;
                if (ih < 0 || ih >= H) continue;
                const float* row = xin + ih * W;
                float* orow = out + oh * OW;
                I64 shift = kx - pads[1];
                for (I64 ow = lo; ow < hi; ++ow) orow[ow] += wv * row[ow * st[1] + shift];
              }
            }
        }
      }
  }

  // Y[i,j] = B[j] + Σ_k A[i,k] · W[j,k]
  void gemm(const Node& n, Tensor& y) {
    const Tensor& a = in(n, 0);
    const Tensor& w = in(n, 1);
    const Tensor* b = n.inputs.size() > 2 ? &in(n, 2) : nullptr;
    I64 Mr = a.shape[0], K = a.shape[1], N = w.shape[0];
    for (I64 i = 0; i < Mr; ++i)
      for (I64 j = 0; j < N; ++j) {
        double acc = b ? b->data[at(j)] : 0.0;
        for (I64 k = 0; k < K; ++k) acc += static_cast<double>(a.data[at(i * K + k)]) * w.data[at(j * K + k)];
        y.data[at(i * N + j)] = static_cast<float>(acc);
      }
  }

  template <class F>
  void unary(const Node& n, Tensor& y, F f) {
    const Tensor& x = in(n, 0);
    for (std::size_t k = 0; k < y.data.size(); ++k) y.data[k] = f(x.data[k]);
  }

  void copy(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    if (x.data.size() != y.data.size()) bad(n, "element count mismatch");
    y.data = x.data;
  }

  // numpy broadcasting
  void binary(const Node& n, Tensor& y) {
    const Tensor& a = in(n, 0);
    const Tensor& b = in(n, 1);
    const std::string& op = n.op_type;
    auto f = [&op](float u, float v) { return op == "Add" ? u + v : op == "Sub" ? u - v : u * v; };
    if (a.shape == y.shape && b.shape == y.shape) {
      for (std::size_t k = 0; k < y.data.size(); ++k) y.data[k] = f(a.data[k], b.data[k]);
      return;
    }
    std::vector<I64> ost = strides_of(y.shape);
    auto index = [&](const Shape& s, I64 flat) {
      std::vector<I64> ist = strides_of(s);
      std::size_t off = y.shape.size() - s.size();
      I64 src = 0, rem = flat;
      for (std::size_t d = 0; d < y.shape.size(); ++d) {
        I64 j = rem / ost[d];
        rem %= ost[d];
        if (d >= off && s[d - off] != 1) src += j * ist[d - off];
      }
      return src;
    };
    for (I64 k = 0; k < static_cast<I64>(y.data.size()); ++k)
      y.data[at(k)] = f(a.data[at(index(a.shape, k))], b.data[at(index(b.shape, k))]);
  }

  // y = (x − mean) / sqrt(var + ε) · γ + β over channel axis 1
  void batchnorm(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    const Tensor &gamma = in(n, 1), &beta = in(n, 2), &mean = in(n, 3), &var = in(n, 4);
    float eps = n.attr_float("epsilon", 1e-5f);
    I64 N = x.shape[0], C = x.shape[1], inner = element_count(x.shape) / std::max<I64>(1, N * C);
    for (I64 b = 0; b < N; ++b)
      for (I64 c = 0; c < C; ++c) {
        double s = gamma.data[at(c)] / std::sqrt(static_cast<double>(var.data[at(c)]) + eps);
        for (I64 q = 0; q < inner; ++q) {
          std::size_t k = at((b * C + c) * inner + q);
          y.data[k] = static_cast<float>((x.data[k] - static_cast<double>(mean.data[at(c)])) * s + beta.data[at(c)]);
        }
      }
  }

  void pool(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    std::vector<I64> ks = n.attr_ints("kernel_shape"), st = n.attr_ints("strides", {1, 1}),
                     pads = n.attr_ints("pads", {0, 0, 0, 0});
    bool is_max = n.op_type == "MaxPool";
    bool include_pad = n.attr_int("count_include_pad", 0) != 0;
    I64 NC = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3], OH = y.shape[2], OW = y.shape[3];
    for (I64 p = 0; p < NC; ++p)
      for (I64 oh = 0; oh < OH; ++oh)
        for (I64 ow = 0; ow < OW; ++ow) {
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
          I64 cnt = 0;
          for (I64 ky = 0; ky < ks[0]; ++ky)
            for (I64 kx = 0; kx < ks[1]; ++kx) {
              I64 ih = oh * st[0] - pads[0] + ky, iw = ow * st[1] - pads[1] + kx;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              double v = x.data[at((p * H + ih) * W + iw)];
              acc = is_max ? std::max(acc, v) : acc + v;
              ++cnt;
            }
          if (!is_max) {
            // count_include_pad counts the padded window, clipped to the padded input.
            I64 h0 = oh * st[0] - pads[0], w0 = ow * st[1] - pads[1];
            I64 hh = std::min(h0 + ks[0], H + pads[2]) - std::max<I64>(h0, -pads[0]);
            I64 ww = std::min(w0 + ks[1], W + pads[3]) - std::max<I64>(w0, -pads[1]);
            I64 div = include_pad ? hh * ww : cnt;
            acc = div ? acc / static_cast<double>(div) : 0.0;
          }
          y.data[at((p * OH + oh) * OW + ow)] = static_cast<float>(acc);
        }
  }

  void global_avg(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    I64 NC = x.shape[0] * x.shape[1], HW = x.shape[2] * x.shape[3];
    for (I64 p = 0; p < NC; ++p) {
      double acc = 0;
      for (I64 q = 0; q < HW; ++q) acc += x.data[at(p * HW + q)];
      y.data[at(p)] = static_cast<float>(acc / static_cast<double>(HW));
    }
  }

  // out[j] = in[starts + j·steps] per axis
  void slice(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    detail::slice_into(x.data, x.shape, y.data, y.shape, n.attr_ints("starts"), n.attr_ints("steps"));
  }

  // zero padding: pads = begins (one per axis) then ends
  void pad(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    detail::pad_into(x.data, x.shape, y.data, y.shape, n.attr_ints("pads"));
  }

  void concat(const Node& n, Tensor& y) {
    std::vector<const std::vector<float>*> parts;
    std::vector<const Shape*> shapes;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      parts.push_back(&in(n, k).data);
      shapes.push_back(&in(n, k).shape);
    }
    detail::concat_into(parts, shapes, y.data, y.shape, at(n.attr_int("axis", 0)));
  }

  void softmax(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    std::size_t ax = at(n.attr_int("axis", 0));
    const I64 len = x.shape[ax];
    const AxisSplit split = split_at(x.shape, ax);  // no structured binding: the lambda captures it (clang 14)
    const I64 outer = split.outer, inner = split.inner;
    for (I64 o = 0; o < outer; ++o)
      for (I64 q = 0; q < inner; ++q) {
        auto idx = [&](I64 j) { return at((o * len + j) * inner + q); };
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (I64 j = 0; j < len; ++j) mx = std::max(mx, static_cast<double>(x.data[idx(j)]));
        for (I64 j = 0; j < len; ++j) sum += std::exp(x.data[idx(j)] - mx);
        for (I64 j = 0; j < len; ++j) y.data[idx(j)] = static_cast<float>(std::exp(x.data[idx(j)] - mx) / sum);
      }
  }

  // first index of the maximum (select_last_index 0)
  void argmax(const Node& n, Tensor& y) {
    const Tensor& x = in(n, 0);
    std::size_t ax = at(n.attr_int("axis", 0));
    const I64 len = x.shape[ax];
    const auto [outer, inner] = split_at(x.shape, ax);
    for (I64 o = 0; o < outer; ++o)
      for (I64 q = 0; q < inner; ++q) {
        I64 best = 0;
        for (I64 j = 1; j < len; ++j)
          if (x.data[at((o * len + j) * inner + q)] > x.data[at((o * len + best) * inner + q)]) best = j;
        y.data[at(o * inner + q)] = static_cast<float>(best);
      }
  }

  const Graph& g_;
  Values& vals_;
};

Values run_all(const Graph& g, const std::vector<Tensor>& inputs) {
  if (inputs.size() != g.inputs.size())
    throw Error(ErrorCode::kInvalidArgument, "float executor: expected " + std::to_string(g.inputs.size()) + " inputs");
  Values vals;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Shape& want = g.shape_of(g.inputs[k]);
    if (inputs[k].shape != want || inputs[k].data.size() != static_cast<std::size_t>(element_count(want)))
      throw Error(ErrorCode::kInvalidArgument, "float executor: input '" + g.inputs[k] + "' must have shape " +
                                                   shape_to_string(want));
    vals[g.inputs[k]] = inputs[k];
  }
  Exec exec(g, vals);
  for (const Node& n : g.nodes) exec.run(n);
  return vals;
}

}  // namespace

std::map<std::string, Tensor> run_float_all(const Graph& graph, const std::vector<Tensor>& inputs) {
  return run_all(graph, inputs);
}

std::vector<Tensor> run_float(const Graph& graph, const std::vector<Tensor>& inputs) {
  Values vals = run_all(graph, inputs);
  std::vector<Tensor> out;
  for (const auto& name : graph.outputs) {
    auto v = vals.find(name);
    if (v != vals.end()) { out.push_back(std::move(v->second)); continue; }
    auto c = graph.initializers.find(name);
    if (c == graph.initializers.end()) throw Error(ErrorCode::kInvalidArgument, "output '" + name + "' not computed");
    out.push_back(c->second);
  }
  return out;
}

}  // namespace peregrine::nn
