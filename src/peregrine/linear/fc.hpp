// Fully connected layer y = W·x + b on shares with Cheetah's matrix–vector coefficient layout.
//
// Source: Huang et al., "Cheetah", USENIX Security 2022 §4.2; layout TECHNIQUES.md §1.4 (paper
// style, derived): input block v at coefficient j (0 ≤ j < n_w), weight W[i, j] at coefficient
// i·n_w + n_w − 1 − j, output row i at coefficient i·n_w + n_w − 1, blocks of m_w rows × n_w
// columns with m_w·n_w ≤ N.
//
// Why it is correct (derived): input term j' times weight term (i, j) lands at
// i·n_w + n_w − 1 + (j' − j) with |j' − j| < n_w, so it reaches an output position only when
// j' = j, and then only its own row's. Every index lies in [0, m_w·n_w + n_w − 2], never negative;
// a term past N − 1 wraps negacyclically to index − N ≤ n_w − 2 < n_w − 1, the lowest output
// position, because m_w·n_w ≤ N. Only the m_w output positions are sent (TECHNIQUES.md §0.5 step 7).
//
// Ciphertexts: input per (batch row b, column block cb), n_in = B·⌈K/n_w⌉; kernel polynomials
// per (row block rb, column block cb), n_kernels = ⌈M/m_w⌉·⌈K/n_w⌉; output per (b, rb) as
// Σ_cb input(b, cb)·kernel(rb, cb), n_out = B·⌈M/m_w⌉, |V| = rows of the block; products
// B·⌈M/m_w⌉·⌈K/n_w⌉. Noise bound (NOISE.md §1, as conv.hpp): 22·m_w·K·2^{weight_bits−1} + ⌈K/n_w⌉.
//
// Block choice (reconstruction, TECHNIQUES.md §1.4; OpenCheetah minimises n_in + n_out instead):
// for every n_w ∈ [1, min(K, N)], m_w = min(M, ⌊N/n_w⌋) lowered to the largest value whose noise
// bound can still be flooded (try_response_params); minimise the exact bytes
// n_in·|ct_in(seeded)| + Σ_out |ct_out(|V|)| under the response parameters the plan will get, then
// the product count; ties keep the smallest n_w. The flood bound grows with m_w·K, so with 13-bit
// weights at ℓ = 37 a wide layer gets short blocks (2048→1000: m_w = 2, 500 responses).
//
// Fixed point: x at scale 2^f, W at 2^f, b at 2^{2f}; output at 2^{2f}, exact mod 2^ℓ.
// Batch: x is [B, K] row-major; each batch row is an independent matrix–vector product (the
// plan repeats per row; the kernels are shared). Split as conv.hpp: FcMeta, CheetahFcStrategy
// (plan, cost), encode_* kernels, fc_client / fc_server drivers (he_layer.hpp).
// Thread-safety: a strategy is immutable after construction (thread-safe); drivers are one thread
// per session (one channel, one Prg).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/linear/he_layer.hpp"

namespace peregrine::linear {

/// Shape: input [batch, in_features], weights [out_features, in_features] (ONNX Gemm with
/// transB = 1), bias [out_features], output [batch, out_features]. |w| ≤ 2^{weight_bits − 1}
/// (public quantisation bound; it sizes the noise flooding).
struct FcMeta {
  std::size_t batch = 1, in_features = 0, out_features = 0;
  int weight_bits = 13;
  /// Throws Error(kInvalidArgument) for zero sizes, any of batch·in, batch·out, out·in above
  /// 2^32 − 1 (checked without overflow), or weight_bits ∉ [1, 32].
  void validate() const;
};

/// Plans one FC layer for the Cheetah parameters `params` (N = 4096, t = 2^ℓ). Cost: O(min(K, N))
/// block candidates at construction (milliseconds), no HE work.
class CheetahFcStrategy {
 public:
  /// Errors: FcMeta::validate; kInvalidArgument for null params or params other than the
  /// two-prime Cheetah shape; kUnsupported when even m_w = 1 cannot be flooded
  /// (22·K·2^{weight_bits−1} too large).
  CheetahFcStrategy(he::HeParamsPtr params, const FcMeta& meta);
  const FcMeta& meta() const noexcept;
  std::size_t block_rows() const noexcept;  ///< m_w
  std::size_t block_cols() const noexcept;  ///< n_w
  const CoeffLayerPlan& plan() const noexcept;
  const ResponseParams& response() const noexcept;
  const he::HeParamsPtr& params() const noexcept;
  /// Exact bytes each way and product count of one run (equals the measured bytes).
  LayerCost cost() const;
  /// Local kernel: x [batch, in] (mod t) → plan().n_in polynomials, index b·⌈K/n_w⌉ + cb.
  /// Errors: kInvalidArgument on size.
  std::vector<std::vector<u64>> encode_input(std::span<const u64> share) const;
  /// Local kernel: W [out, in] signed → plan().n_kernels polynomials (signed coefficients), index
  /// rb·⌈K/n_w⌉ + cb. Errors: kInvalidArgument on size or |w| > 2^{weight_bits − 1}.
  std::vector<std::vector<std::int64_t>> encode_kernels(std::span<const std::int64_t> weights) const;

 private:
  void build_plan();

  he::HeParamsPtr params_;
  FcMeta meta_;
  std::size_t m_w_ = 0, n_w_ = 0;  // block rows / columns, m_w·n_w ≤ N
  CoeffLayerPlan plan_;
  ResponseParams response_;
};

/// Server-side weights of one layer, prepared once per model load (NTT form, top level).
struct PreparedFc {
  std::vector<he::PlaintextNtt> kernels;
  std::vector<u64> bias;  ///< [out] mod t (empty: no bias)
};
/// Prepares weights [out, in] and bias [out] (empty allowed; signed, scale 2^{2f}) for fc_server.
/// Errors: kInvalidArgument on sizes or weight range.
PreparedFc prepare_fc(const CheetahFcStrategy& s, std::span<const std::int64_t> weights,
                      std::span<const std::int64_t> bias);
/// Client driver: its share [batch, in] in, its output share [batch, out] out (mod t).
/// Errors: those of run_client (he_layer.hpp) and encode_input.
std::vector<u64> fc_client(net::Channel& ch, const HeClient& he, const CheetahFcStrategy& s,
                           std::span<const u64> share, Prg& prg);
/// Server driver: its share [batch, in] and prepared weights in, its output share [batch, out]
/// (bias added) out. Errors: those of run_server (he_layer.hpp), encode_input; kInvalidArgument
/// for a bias of the wrong size.
std::vector<u64> fc_server(net::Channel& ch, const HeServer& he, const CheetahFcStrategy& s,
                           std::span<const u64> share, const PreparedFc& w, Prg& prg);

}  // namespace peregrine::linear
