// Depthwise convolution with Falcon-style dense packing: several channels of one spatial tile in
// one input polynomial, their kernels in one kernel polynomial, one product per output ciphertext,
// and a placement that keeps every cross-channel product off every channel's valid window.
//
// Source: Xu et al., "Falcon: Accelerating Homomorphically Encrypted Convolutions for Efficient
// Private Mobile Network Inference", ICCAD 2023 (arXiv 2308.13189) gives the method's names only
// (zero-aware greedy packing, communication-aware tiling); the construction here is the
// reconstruction of TECHNIQUES.md §2: the placement model of §2.2 (channel slot c at input offset
// a_c, kernel offset b_c, valid window at a_c + b_c + {i·Ww + j}), the closed-form layouts of §2.3
// (scheme B; AP-free offsets u·S from a set U without three-term progressions), the zero-aware
// greedy packer of §2.4 (integer offsets, exact supports: padding rows and columns that are zero in
// every tile are not support), and the communication-aware tiling of §2.5 (score = bytes of input
// and output ciphertexts at their real sizes + a compute term), all validated by brute force
// before use (§2.6). Everything else (encryption, flooding, mod switch, trimming) is the shared
// coefficient-layer machinery of he_layer.hpp.
//
// Split (DESIGN.md §2): DwLayout (data) and dw_layout_violation (validator); DepthwiseConvStrategy
// (tiling and layout search, public plan, cost; no HE work); its encode_* local kernels (no I/O);
// depthwise_client / depthwise_server drivers. Thread-safety: a strategy is immutable after
// construction; drivers are one thread per session.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "peregrine/linear/conv.hpp"
#include "peregrine/linear/he_layer.hpp"

namespace peregrine::linear {

/// Layout families (TECHNIQUES.md §2.3–2.4).
enum class DwFamily {
  kSchemeB,  ///< a_c = c·S, b_c = (g − 1)·c·S + δ; needs (g² − g + 1)·S ≤ N
  kApFree,   ///< a_c = u_c·S, b_c = u_c·S + δ, U without 3-term progressions; (2·max U + 1)·S ≤ N
  kGreedy,   ///< integer offsets a_c, b_c = a_c + δ, placed first-fit on the exact supports
};

/// Name of a family ("scheme-b", "ap-free", "greedy").
const char* dw_family_name(DwFamily f) noexcept;

/// One packing of g channel slots into a polynomial of N coefficients for an Hw×Ww tile and a
/// kh×kw kernel (TECHNIQUES.md §2.2, §2.6): slot c's input T_c[i, j] at a[c] + i·Ww + j, its
/// kernel K_c[l, l'] at b[c] − l·Ww − l', its output (i, j) at a[c] + b[c] + i·Ww + j for
/// i ≤ Hw − kh, j ≤ Ww − kw. `in_mask` (Hw·Ww, row-major) marks the tile positions that can hold a
/// non-zero input (false: zero padding in every tile; empty: all true). Public data.
struct DwLayout {
  DwFamily family = DwFamily::kApFree;
  std::size_t N = 0, Hw = 0, Ww = 0, kh = 0, kw = 0;
  std::vector<std::size_t> a, b;
  std::vector<bool> in_mask;

  std::size_t g() const noexcept { return a.size(); }
  /// δ = (kh − 1)·Ww + (kw − 1): the kernel's extent below its offset b.
  std::size_t delta() const noexcept { return (kh - 1) * Ww + (kw - 1); }
};

/// Brute-force validator of conditions 1–4 of TECHNIQUES.md §2.2: every index in [0, N); input
/// supports pairwise disjoint, kernel supports pairwise disjoint, valid windows pairwise disjoint
/// and below N; and no product term T_{c1}[·]·K_{c2}[·] lands (after the negacyclic wrap) on a valid
/// position, except the terms of a channel's own convolution on its own window (unwrapped).
/// Returns nullopt when valid, else the first violation in words. Cost O(g²·(S + δ)·kh·kw) at most.
/// Thread-safe (pure).
std::optional<std::string> dw_layout_violation(const DwLayout& layout);

/// The largest subset of {0, …, max_value} without a three-term arithmetic progression
/// (u1 + u2 = 2·u3, u1 ≠ u2) that this build finds: exact search for max_value ≤ 40, the greedy
/// base-3 set {0, 1, 3, 4, 9, 10, …} above. Ascending. Thread-safe.
std::vector<std::size_t> ap_free_set(std::size_t max_value);
/// The greedy base-3 set (digits 0 and 1) up to max_value, ascending (TECHNIQUES.md §2.3).
std::vector<std::size_t> ap_free_set_greedy(std::size_t max_value);

/// The closed-form layout of `family` (kSchemeB or kApFree with the set `u`, or ap_free_set when
/// `u` is empty) for a tile, at its largest g (at most `max_g`); nullopt when not even one channel
/// fits. The result is not yet validated.
std::optional<DwLayout> dw_closed_form(DwFamily family, std::size_t N, std::size_t Hw, std::size_t Ww, std::size_t kh,
                                       std::size_t kw, std::size_t max_g, std::span<const std::size_t> u = {});
/// The AP-free layout on the smallest unit P ≤ S that validates (a_c = u_c·P, b_c = u_c·P + δ, U =
/// ap_free_set of the largest max U with 2·max U·P + δ + max W < N): zero-aware, because the
/// supports (with `in_mask`) of a padded tile leave room for P < S (reconstruction, TECHNIQUES.md
/// §2.4 applied to §2.3). At most `max_g` slots; the layout is validated (dw_layout_violation);
/// nullopt when none fits.
std::optional<DwLayout> dw_ap_free_compact(std::size_t N, std::size_t Hw, std::size_t Ww, std::size_t kh,
                                           std::size_t kw, std::size_t max_g, std::vector<bool> in_mask = {});
/// The zero-aware greedy layout (TECHNIQUES.md §2.4, restricted to b_c = a_c + δ): slots placed in
/// order, each at the smallest offset whose supports, window and products are compatible with the
/// slots placed before; at most `max_g` slots. `in_mask` as in DwLayout. nullopt when none fits.
std::optional<DwLayout> dw_greedy(std::size_t N, std::size_t Hw, std::size_t Ww, std::size_t kh, std::size_t kw,
                                  std::size_t max_g, std::vector<bool> in_mask = {});

/// The chosen tile and layout of a depthwise layer.
struct DwTiling {
  std::size_t Hw = 0, Ww = 0;
  std::size_t step_h = 0, step_w = 0;  ///< tile steps (multiples of the stride)
  std::size_t n_h = 0, n_w = 0;        ///< spatial tiles
  DwLayout layout;                     ///< g = channels per polynomial
};

/// Plans one depthwise conv (groups = C = M) for the Cheetah parameters `params`. The search
/// (TECHNIQUES.md §2.5) tries every spatial tile with the closed-form layouts and the most
/// promising tiles with the greedy packer, and keeps the least score
///   bytes(n_in input + n_out output ciphertexts at their real sizes, trimmed outputs)
///   + 75 000 B per ciphertext moved + 2 250 B per product,
/// the compute converted at the LAN rate (375 MB/s: 0.2 ms per ciphertext encrypted or decrypted,
/// 6 µs per NTT-domain product, as the planner's he_layer_cost). `families` restricts the search
/// (empty: all). Cost: tens of milliseconds per layer shape, no HE work.
class DepthwiseConvStrategy {
 public:
  /// Errors: those of Conv2dMeta::validate; kInvalidArgument unless groups = C = M;
  /// kUnsupported when no tile and layout fits N or the weights are too large to flood.
  DepthwiseConvStrategy(he::HeParamsPtr params, const Conv2dMeta& meta, std::vector<DwFamily> families = {});

  const Conv2dMeta& meta() const noexcept { return meta_; }
  const DwTiling& tiling() const noexcept { return tiling_; }
  const CoeffLayerPlan& plan() const noexcept { return plan_; }
  const ResponseParams& response() const noexcept { return response_; }
  const he::HeParamsPtr& params() const noexcept { return params_; }
  LayerCost cost() const { return layer_cost(*params_, plan_, response_); }

  /// Local kernel: a share [C, H, W] (values mod t) → plan().n_in input polynomials.
  std::vector<std::vector<u64>> encode_input(std::span<const u64> share) const;
  /// Kernel polynomial k < plan().n_kernels (channel group k) into p (N values); weights [C,1,kh,kw].
  void encode_kernel_into(std::span<const std::int64_t> weights, std::size_t k, std::span<std::int64_t> p) const;
  /// Throws Error(kInvalidArgument) unless weights holds C·kh·kw values within weight_bits.
  void check_weights(std::span<const std::int64_t> weights) const;

 private:
  void build_plan();

  he::HeParamsPtr params_;
  Conv2dMeta meta_;
  DwTiling tiling_;
  CoeffLayerPlan plan_;
  ResponseParams response_;
};

/// Prepares weights [C, 1, kh, kw] and bias [C] (empty allowed) for depthwise_server.
PreparedConv prepare_depthwise(const DepthwiseConvStrategy& s, std::span<const std::int64_t> weights,
                               std::span<const std::int64_t> bias);
/// Client driver: its share [C, H, W] in, its output share [C, Ho, Wo] out (mod t).
std::vector<u64> depthwise_client(net::Channel& ch, const HeClient& he, const DepthwiseConvStrategy& s,
                                  std::span<const u64> share, Prg& prg);
/// Server driver: its share and prepared weights in, its output share (with the bias) out.
std::vector<u64> depthwise_server(net::Channel& ch, const HeServer& he, const DepthwiseConvStrategy& s,
                                  std::span<const u64> share, const PreparedConv& w, Prg& prg);

}  // namespace peregrine::linear
