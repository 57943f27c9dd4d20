// Batch normalisation that cannot be folded: a per-channel affine map y[c] = γ_c·x[c] + β_c on
// shares, with Cheetah's direct (coefficient) path (TECHNIQUES.md §1.3).
//
// Source: Cheetah public code (OpenCheetah hom_bn_ss.cc) as described in TECHNIQUES.md §1.3: each
// ciphertext holds one channel of a spatial block hs × ws at coefficient i·ws + j (Peregrine:
// whole rows, ws = min(W, N), hs = min(H, ⌊N/ws⌋); the public code's square block hs = ws =
// min(⌊√N⌋, ·) is the same up to 64×64 planes and needs up to N/⌊√N⌋ times more ciphertexts on
// flattened [C, 1, H·W] inputs, which is how the engine passes an Affine node); the kernel polynomial is the constant γ_c; the server adds its share,
// multiplies, masks, and applies the full response sequence of he_layer.hpp (Peregrine floods,
// which the public code does not). β_c is added locally to the server's share.
// Several channels cannot share one ciphertext: a polynomial kernel multiplies every coefficient
// by the same scalar (TECHNIQUES.md §1.3), so late layers with small planes waste coefficients —
// the cost the slot (vector) path would remove.
//
// Plan: input ciphertext per (channel c, block row bi, block column bj), index
// (c·⌈H/hs⌉ + bi)·⌈W/ws⌉ + bj, coef[i·ws + j] = x[c, bi·hs + i, bj·ws + j] for real pixels (zero
// elsewhere); kernel c = the constant γ_c (coefficient 0, one tap); one product per output
// ciphertext (the same index), whose valid set V is every real-pixel position i·ws + j (no cross
// terms exist: a constant kernel moves nothing). n_in = n_out = C·⌈H/hs⌉·⌈W/ws⌉, n_kernels = C,
// products = n_out, noise bound 22·2^{weight_bits−1} + 1.
//
// Fixed point: x at 2^f, γ at 2^f, β at 2^{2f}; output at 2^{2f}, exact mod 2^ℓ.
// Split as conv.hpp. Thread-safety: a strategy is immutable after construction (thread-safe);
// drivers are one thread per session (one channel, one Prg).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/linear/he_layer.hpp"

namespace peregrine::linear {

/// Shape: x [C, H, W] and y [C, H, W]; scale γ [C] (|γ| ≤ 2^{weight_bits − 1}, public bound) and
/// shift β [C].
struct BnMeta {
  std::size_t C = 0, H = 0, W = 0;
  int weight_bits = 13;
  /// Throws Error(kInvalidArgument) for zero sizes, C·H·W above 2^32 − 1 (checked without
  /// overflow), or weight_bits ∉ [1, 32].
  void validate() const;
};

/// Plans one BN layer for the Cheetah parameters (N = 4096, t = 2^ℓ): no search, no HE work.
class CheetahBnStrategy {
 public:
  /// Errors: BnMeta::validate; kInvalidArgument for null params or params other than the two-prime
  /// Cheetah shape; kUnsupported when 22·2^{weight_bits−1} + 1 cannot be flooded.
  CheetahBnStrategy(he::HeParamsPtr params, const BnMeta& meta);
  const BnMeta& meta() const noexcept;
  const CoeffLayerPlan& plan() const noexcept;
  const ResponseParams& response() const noexcept;
  const he::HeParamsPtr& params() const noexcept;
  /// Exact bytes each way and product count of one run (equals the measured bytes).
  LayerCost cost() const;
  /// Local kernel: x [C, H, W] (mod t) → plan().n_in polynomials. Errors: kInvalidArgument on size.
  std::vector<std::vector<u64>> encode_input(std::span<const u64> share) const;
  /// Local kernel: γ [C] signed → C constant polynomials. Errors: kInvalidArgument on size or
  /// |γ| > 2^{weight_bits − 1}.
  std::vector<std::vector<std::int64_t>> encode_kernels(std::span<const std::int64_t> scale) const;

 private:
  void build_plan();

  he::HeParamsPtr params_;
  BnMeta meta_;
  std::size_t hs_ = 0, ws_ = 0;    // spatial block
  std::size_t n_bh_ = 0, n_bw_ = 0;  // blocks per channel: ⌈H/hs⌉ × ⌈W/ws⌉
  CoeffLayerPlan plan_;
  ResponseParams response_;
};

/// Server-side scales of one layer, prepared once per model load (NTT form, top level).
struct PreparedBn {
  std::vector<he::PlaintextNtt> kernels;
  std::vector<u64> shift;  ///< [C] mod t (empty allowed)
};
/// Prepares γ [C] and β [C] (empty allowed; signed, β at scale 2^{2f}) for bn_server.
/// Errors: kInvalidArgument on sizes or scale range.
PreparedBn prepare_bn(const CheetahBnStrategy& s, std::span<const std::int64_t> scale,
                      std::span<const std::int64_t> shift);
/// Client driver: its share [C, H, W] in, its output share [C, H, W] out (mod t).
/// Errors: those of run_client (he_layer.hpp) and encode_input.
std::vector<u64> bn_client(net::Channel& ch, const HeClient& he, const CheetahBnStrategy& s,
                           std::span<const u64> share, Prg& prg);
/// Server driver: its share and prepared scales in, its output share (β added) out. Errors: those
/// of run_server (he_layer.hpp), encode_input; kInvalidArgument for a shift of the wrong size.
std::vector<u64> bn_server(net::Channel& ch, const HeServer& he, const CheetahBnStrategy& s,
                           std::span<const u64> share, const PreparedBn& w, Prg& prg);

}  // namespace peregrine::linear
