// 2-D convolution on shares with Cheetah's coefficient-encoding layout (the baseline every packing
// technique of the later issues competes with).
//
// Source: Huang et al., "Cheetah", USENIX Security 2022 (ePrint 2022/207) §4.1; the exact layout,
// tiling conditions and stride handling are TECHNIQUES.md §0.4 (input polynomial
// coef[c·S + i·Ww + j], kernel polynomial coef[O − m'·Cw·S − c·S − l·Ww − l'], output at
// O − m'·Cw·S + i·Ww + j, O = S·(Mw·Cw − 1) + (kh − 1)·Ww + (kw − 1), Mw·Cw·S ≤ N), generalised here
// to rectangular kernels; tiling heuristics TECHNIQUES.md §0.6 (OpenCheetah's rule, and
// Peregrine's byte-minimising enumeration, a reconstruction).
//
// Groups: a grouped or depthwise conv (groups = C) runs as Cheetah runs it — a dense conv with a
// block-diagonal kernel, skipping all-zero kernel polynomials (TECHNIQUES.md §1.2). Its output
// ciphertexts are mostly garbage: that waste is the baseline the Falcon packing must cut.
//
// Fixed point (DESIGN.md §3): input shares over Z_{2^ℓ} at scale 2^f, weights round(w·2^f), bias
// round(b·2^{2f}); the output share is conv(x) + b at scale 2^{2f}, exact mod 2^ℓ (truncation is
// the caller's next step).
//
// Split (DESIGN.md §2): Conv2dMeta (shape), CheetahConvStrategy (tiling, public plan, cost model;
// no work), its encode_* local kernels (no I/O), and conv2d_client / conv2d_server (drivers over
// he_layer.hpp). Thread-safety: a strategy is immutable after construction (thread-safe);
// drivers are one thread per session.
#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/linear/he_layer.hpp"

namespace peregrine::linear {

/// Shape of a 2-D convolution: input [C, H, W], kernel [M, C/groups, kh, kw], bias [M],
/// output [M, out_h(), out_w()]. Dilation 1. weight_bits is the public bound on the weights:
/// |w| ≤ 2^{weight_bits − 1} (part of the public quantisation plan; it sizes the noise flooding).
struct Conv2dMeta {
  std::size_t C = 0, H = 0, W = 0;
  std::size_t M = 0, kh = 0, kw = 0;
  std::size_t stride_h = 1, stride_w = 1;
  std::size_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  std::size_t groups = 1;
  int weight_bits = 13;

  std::size_t padded_h() const noexcept { return H + pad_top + pad_bottom; }
  std::size_t padded_w() const noexcept { return W + pad_left + pad_right; }
  std::size_t out_h() const noexcept { return (padded_h() - kh) / stride_h + 1; }
  std::size_t out_w() const noexcept { return (padded_w() - kw) / stride_w + 1; }
  /// Throws Error(kInvalidArgument) for zero sizes, a kernel larger than the padded input, groups
  /// not dividing C and M, weight_bits ∉ [1, 32], or sizes whose products overflow.
  void validate() const;
  /// Throws Error(kInvalidArgument) unless weights holds M·(C/groups)·kh·kw values within weight_bits.
  void check_weights(std::span<const std::int64_t> weights) const;
  /// The signed width B of the largest possible output (bias excluded) for inputs bounded by
  /// |x| ≤ act_bound: ⌈log2(act_bound·2^{weight_bits−1}·(C/groups)·kh·kw + 1)⌉ + 1, so |y| < 2^{B−1}
  /// (TECHNIQUES.md §3.6, from public bounds only). Errors: those of validate().
  int output_bits(std::uint64_t act_bound) const;
};

/// How the strategy picks its tile.
enum class TilePolicy {
  kMinBytes,     ///< enumerate (Hw, Ww, Cw, Mw), minimise §0.7 bytes, then products (default)
  kOpenCheetah,  ///< OpenCheetah's shape_inference rule, Mw = 1 (baseline reproduction)
  kLatency,      ///< the same enumeration, least tile_latency_score (bytes + compute at the LAN
                 ///< rate; TECHNIQUES.md §2.5, the Falcon issue's pointwise tiling)
};

/// The tile of a Cheetah conv (TECHNIQUES.md §0.4) on the working input (padded, and sub-sampled
/// first for a 1×1 kernel with stride > 1).
struct ConvTiling {
  std::size_t Hw = 0, Ww = 0, Cw = 0, Mw = 0;
  std::size_t step_h = 0, step_w = 0;  ///< tile steps (multiples of the working stride)
  std::size_t n_h = 0, n_w = 0;        ///< spatial tiles
  bool subsampled = false;             ///< 1×1 kernel, stride > 1: input sub-sampled first
};

/// Plans one conv layer for the Cheetah parameters `params` (N = 4096, t = 2^ℓ). Cost: O(tile
/// candidates) at construction (milliseconds), no HE work.
class CheetahConvStrategy {
 public:
  /// Errors: those of Conv2dMeta::validate; kUnsupported when no tile fits N or the weights are too
  /// large to flood (choose_response_params).
  CheetahConvStrategy(he::HeParamsPtr params, const Conv2dMeta& meta, TilePolicy policy = TilePolicy::kMinBytes);

  const Conv2dMeta& meta() const noexcept { return meta_; }
  const ConvTiling& tiling() const noexcept { return tiling_; }
  const CoeffLayerPlan& plan() const noexcept { return plan_; }
  const ResponseParams& response() const noexcept { return response_; }
  const he::HeParamsPtr& params() const noexcept { return params_; }
  /// Exact bytes each way and product count of one run (equals the measured bytes).
  LayerCost cost() const { return layer_cost(*params_, plan_, response_); }

  /// Local kernel: a share [C, H, W] (values mod t) → plan().n_in input polynomials.
  /// Errors: kInvalidArgument on a size mismatch.
  std::vector<std::vector<u64>> encode_input(std::span<const u64> share) const;
  /// Local kernel: weights [M, C/groups, kh, kw] (signed, within weight_bits) → plan().n_kernels
  /// kernel polynomials (signed coefficients). Errors: kInvalidArgument on size or range.
  std::vector<std::vector<std::int64_t>> encode_kernels(std::span<const std::int64_t> weights) const;
  /// Kernel polynomial k < plan().n_kernels into p (N values); weights as encode_kernels, unchecked
  /// (call check_weights once).
  void encode_kernel_into(std::span<const std::int64_t> weights, std::size_t k, std::span<std::int64_t> p) const;
  /// Throws Error(kInvalidArgument) unless weights holds M·(C/groups)·kh·kw values within weight_bits.
  void check_weights(std::span<const std::int64_t> weights) const;

 private:
  std::size_t work_h() const noexcept;
  std::size_t work_w() const noexcept;
  void build_plan();

  he::HeParamsPtr params_;
  Conv2dMeta meta_;
  ConvTiling tiling_;
  CoeffLayerPlan plan_;
  ResponseParams response_;
  std::vector<std::pair<std::size_t, std::size_t>> kernel_blocks_;  // (μ, γ) of each kernel polynomial
};

/// Server-side weights of one layer, prepared once per model load (NTT form, top level).
struct PreparedConv {
  std::vector<he::PlaintextNtt> kernels;
  std::vector<u64> bias;  ///< [M] mod t (empty: no bias)
};

/// Prepares weights [M, C/groups, kh, kw] and bias [M] (empty allowed; values at scale 2^{2f},
/// signed) for conv2d_server. Errors: kInvalidArgument on sizes or weight range.
PreparedConv prepare_conv(const CheetahConvStrategy& s, std::span<const std::int64_t> weights,
                          std::span<const std::int64_t> bias);

/// The drivers and weight preparation shared by every coefficient-encoded conv strategy S (Cheetah's,
/// the Falcon depthwise one): S has meta(), params(), plan(), response(), encode_input(share) and
/// encode_kernel_into(weights, k, poly); `check` validates the weights. Bias: empty or meta().M values.
template <class S>
PreparedConv prepare_conv_layer(const S& s, std::span<const std::int64_t> weights, std::span<const std::int64_t> bias) {
  require(bias.empty() || bias.size() == s.meta().M, ErrorCode::kInvalidArgument, "conv: bias must hold M values");
  s.check_weights(weights);
  PreparedConv out;
  out.kernels = prepare_kernels(s.params(), s.plan().n_kernels,
                                [&](std::size_t k, std::span<std::int64_t> p) { s.encode_kernel_into(weights, k, p); });
  out.bias = reduce_mod_t(*s.params(), bias);
  return out;
}
template <class S>
std::vector<u64> conv_layer_client(net::Channel& ch, const HeClient& he, const S& s, std::span<const u64> share, Prg& prg) {
  const auto polys = s.encode_input(share);
  return run_client(ch, he, s.plan(), s.response(), polys, prg);
}
template <class S>
std::vector<u64> conv_layer_server(net::Channel& ch, const HeServer& he, const S& s, std::span<const u64> share,
                                   const PreparedConv& w, Prg& prg) {
  const auto polys = s.encode_input(share);
  std::vector<u64> y = run_server(ch, he, s.plan(), s.response(), polys, w.kernels, prg);
  add_bias(*s.params(), y, w.bias, 1, s.meta().out_h() * s.meta().out_w());
  return y;
}

/// Server driver without prepared weights: each kernel polynomial is made from `weights` [M, C/g,
/// kh, kw] when an output first needs it and dropped after (KernelSource on demand), for layers
/// whose prepared kernels the server does not keep. Bias: empty or meta().M values at 2^{2f}.
/// Same output and messages as conv_layer_server with prepare_conv_layer's weights.
/// Errors: those of prepare_conv_layer and run_server.
template <class S>
std::vector<u64> conv_layer_server_streamed(net::Channel& ch, const HeServer& he, const S& s, std::span<const u64> share,
                                            std::span<const std::int64_t> weights, std::span<const std::int64_t> bias,
                                            Prg& prg) {
  require(bias.empty() || bias.size() == s.meta().M, ErrorCode::kInvalidArgument, "conv: bias must hold M values");
  s.check_weights(weights);
  const auto polys = s.encode_input(share);
  KernelSource kernels(s.params(), s.plan().n_kernels,
                       [&](std::size_t k, std::span<std::int64_t> p) { s.encode_kernel_into(weights, k, p); });
  std::vector<u64> y = run_server(ch, he, s.plan(), s.response(), polys, kernels, prg);
  add_bias(*s.params(), y, reduce_mod_t(*s.params(), bias), 1, s.meta().out_h() * s.meta().out_w());
  return y;
}

/// Client driver: its share [C, H, W] in, its output share [M, Ho, Wo] out (mod t).
std::vector<u64> conv2d_client(net::Channel& ch, const HeClient& he, const CheetahConvStrategy& s,
                               std::span<const u64> share, Prg& prg);
/// Server driver: its share and prepared weights in, its output share (with the bias) out.
std::vector<u64> conv2d_server(net::Channel& ch, const HeServer& he, const CheetahConvStrategy& s,
                               std::span<const u64> share, const PreparedConv& w, Prg& prg);

}  // namespace peregrine::linear
