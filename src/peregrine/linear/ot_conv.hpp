// Convolutions of integer (quantised) programs as OT-based GEMMs with server-known weights: direct
// (im2col, EQO's baseline in the style of SiRNN) and Winograd F(2×2,3×3) / F(4×4,3×3) with exact
// integer transforms (QWinConv's protocol shape). No HE: every byte is a correlated OT.
//
// Source: Zeng, Xu, Li, Wang, "EQO", arXiv 2404.09404 (Winograd + quantisation on OT; the paper's
// protocol code is not public); TECHNIQUES.md §4.2 (Lavin–Gray matrices), §4.3 (QWinConv steps),
// §4.4 (ring sizes), §4.5 (COT GEMM with server-known weights: mpc::matmul_server_weights), §4.6
// (bit weights). The exact-integer variant below is a reconstruction (derived).
//
// Direct. Per group, Y_g = W_g·V_g with W_g [Mg][Cg·kh·kw] the server's weights and V_g
// [Cg·kh·kw][Ho·Wo] the im2col of the input share (local). Cost ≈ M·Cg·kh·kw·w COTs, each carrying
// Ho·Wo·(ℓ − j) bits.
//
// Winograd, exact over the integers (derived). With integer G' = 2G (F2) or 24G (F4), the weights
// U = G'·g·G'ᵀ are integers and Aᵀ[U ⊙ (Bᵀ·d·B)]A = D·Y with D = 4 (F2) or 576 = 2^6·9 (F4). The
// transforms are integer matrices, so V = Bᵀ·d·B and Aᵀ·M·A are local on shares; one COT GEMM per
// Winograd position (ξ, ν) computes M[ξ,ν] = U[ξ,ν]·V[ξ,ν] (M × C times C × P tiles). Then:
//   - exact division by 2^e (e = 2 or 6), local: the shares z_0 + z_1 ≡ 2^e·Y (mod 2^ℓ), so the
//     low e bits of the shares sum to 0 or 2^e, and the carry of ⌊z_0/2^e⌋ + ⌊z_1/2^e⌋ is
//     1{z_0 mod 2^e ≠ 0}, which party 0 knows: shares of Y mod 2^{ℓ−e};
//   - F4 also multiplies by 9^{−1} mod 2^{ℓ−6} (9 is odd).
// So the GEMM ring is ℓ = min(B, out_bits) + e: every value wraps freely mod 2^ℓ (the chain is
// linear), and Y mod 2^{ℓ−e} is exact. With B < out_bits, Y (|Y| < 2^{B−1}) is then signed-extended
// to the output ring (mpc::extend), so the GEMM runs at the accumulator's width, not the program's.
// Bit weights (§4.6): the entries of U at position (ξ, ν) are multiples of f_ξ·f_ν, f the gcd of
// row ξ of G' (F2: 2, 1, 1, 2; F4: 6, 4, 4, 1, 1, 24), so the GEMM takes U' = U / (f_ξ·f_ν) and the
// product is multiplied by f_ξ·f_ν locally. U' has the exact public range of its linear combination
// of weights in [−2^{w−1}, 2^{w−1} − 1]: w bits at the corners, up to w + 4 (F2) or w + 6 (F4). Winograd-domain quantised weights (EQO's
// U_q with its own scale, learned in QAT) are not built: they change the model's semantics.
//
// Weights: within [−2^{w−1}, 2^{w−1} − 1] for w = meta.weight_bits (as the importer's weight_bits
// gives them); inputs |x| ≤ act_bound (public: a Clip or the quantised input).
//
// Split (DESIGN.md §2): OtConvStrategy (tile, rings, GEMM shapes, cost; no work), its
// transform_input / transform_weights / transform_output local kernels, ot_conv_client /
// ot_conv_server (drivers: the GEMMs, then the extension). Thread-safety: a strategy is immutable
// after construction; drivers are one thread per session.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/linear/conv.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"

namespace peregrine::linear {

/// The output tile m: 1 (direct, im2col), 2 (F(2×2,3×3)), 4 (F(4×4,3×3)).
enum class WinogradTile { kDirect = 1, kF2 = 2, kF4 = 4 };
/// "direct", "f2", "f4". Thread-safe (pure).
const char* winograd_tile_name(WinogradTile t) noexcept;

/// Where the server's weights live: the spatial kernel g (transformed exactly, above), or the
/// Winograd domain itself — EQO's QWinConv: U_q [α²][M][C] of weight_bits bits each, quantised in
/// that domain, so every position's GEMM costs only w bits. The layer then computes
/// Y = Aᵀ[U_q ⊙ (Bᵀ·d·B)]A per tile (no division: the scale belongs to the requantisation), whose
/// public width B comes from |d| ≤ act_bound, |U_q| ≤ 2^{w−1} and the transforms' row norms,
/// (max_r Σ_ξ |Aᵀ[r][ξ]|·‖Bᵀ[ξ]‖₁)²·C·2^{w−1}·act_bound (derived; TECHNIQUES.md §4.4).
enum class WeightDomain { kSpatial, kWinograd };

/// One COT GEMM of the layer: Z [M][P] = U' [M][K] · V [K][P] with U' of `wbits` signed bits,
/// multiplied by the public `scale` afterwards (local; the bit weights are scale·2^j).
struct OtGemm {
  std::size_t M = 0, K = 0, P = 0;
  int wbits = 1;
  std::int64_t scale = 1;
};

/// Plans the OT-based conv of `meta` with the given tile.
class OtConvStrategy {
 public:
  /// act_bound: public bound on |x| (integers at scale 2^0); out_bits: the output ring the caller
  /// needs (1 … 64); in_bits: the ring of the input shares.
  /// domain: kWinograd takes Winograd-domain weights (tile F2 or F4 only).
  /// Errors: those of Conv2dMeta::validate; kUnsupported for Winograd unless the kernel is 3×3,
  /// stride 1 and groups 1, for kWinograd with the direct tile, or when the GEMM ring
  /// min(B, out_bits) + e exceeds in_bits or 64.
  OtConvStrategy(const Conv2dMeta& meta, std::uint64_t act_bound, WinogradTile tile, int in_bits, int out_bits,
                 WeightDomain domain = WeightDomain::kSpatial);

  const Conv2dMeta& meta() const noexcept { return meta_; }
  WinogradTile tile() const noexcept { return tile_; }
  WeightDomain domain() const noexcept { return domain_; }
  /// B: the signed width of the largest conv output.
  int output_bits() const noexcept { return B_; }
  /// ℓ: the ring the transforms and GEMMs run in.
  int ring_bits() const noexcept { return ell_; }
  /// e: the exact division's bits (0, 2, 6).
  int division_bits() const noexcept { return e_; }
  int out_bits() const noexcept { return out_bits_; }
  /// The GEMMs: one per group (direct) or per Winograd position (α² of them).
  const std::vector<OtGemm>& gemms() const noexcept { return gemms_; }
  /// COTs of the layer: Σ M·K·min(wbits, ℓ).
  std::uint64_t cots() const noexcept;
  /// Bits the client sends as COT payload: Σ M·K·Σ_{j < min(wbits, ℓ)} P·(ℓ − j).
  std::uint64_t payload_bits() const noexcept;

  /// Local kernel: an input share [C, H, W] (any ring ≥ ring_bits()) → the GEMMs' right-hand
  /// sides, concatenated in gemms() order ([K][P] each), mod 2^ℓ. Errors: kInvalidArgument on size.
  std::vector<u64> transform_input(std::span<const u64> share) const;
  /// Local kernel: weights [M, C/groups, kh, kw] (within meta().weight_bits, see the header), or
  /// for WeightDomain::kWinograd U_q [α²][M][C] within [−2^{w−1}, 2^{w−1} − 1] → the GEMMs'
  /// left-hand sides ([M][K] each, within their wbits, the scale factored out).
  /// Errors: kInvalidArgument on size or range.
  std::vector<std::vector<std::int64_t>> transform_weights(std::span<const std::int64_t> weights) const;
  /// Local kernel: the GEMM products (concatenated [M][P], already multiplied by scale) → the
  /// output share [M, Ho, Wo] mod 2^{ℓ−e} (inverse transform, exact division; party 0 takes the
  /// carry). Errors: kInvalidArgument on size.
  std::vector<u64> transform_output(std::span<const u64> z, bool party0) const;

 private:
  Conv2dMeta meta_;
  WinogradTile tile_;
  WeightDomain domain_;
  int B_ = 0, e_ = 0, ell_ = 0, out_bits_ = 0;
  u64 odd_ = 1;  // the odd part of the exact division (9 for spatial F4)
  std::size_t th_ = 0, tw_ = 0;  // Winograd tiles per column / row
  std::vector<OtGemm> gemms_;
};

/// Server-side weights: the transformed GEMM weights and the bias [M] (signed, added in the
/// output ring).
struct PreparedOtConv {
  std::vector<std::vector<std::int64_t>> gemm_weights;
  std::vector<std::int64_t> bias;
};

/// Prepares weights [M, C/groups, kh, kw] and bias [M] (or empty). Errors: kInvalidArgument on
/// sizes or weight range.
PreparedOtConv prepare_ot_conv(const OtConvStrategy& s, std::span<const std::int64_t> weights,
                               std::span<const std::int64_t> bias);

/// Client driver: its share [C, H, W] (ring ≥ ring_bits()) in, its share of the conv [M, Ho, Wo]
/// over Z_{2^out_bits} out. The GEMMs (the client is the COT sender), then a signed extension when
/// out_bits > B. Errors: those of mpc::matmul_server_weights and mpc::extend; kInvalidArgument when
/// the share's ring is narrower than ring_bits().
mpc::ArithShares ot_conv_client(mpc::MpcSession& s, const OtConvStrategy& st, const mpc::ArithShares& x);
/// Server driver: its share and prepared weights in, its output share (bias added) out.
mpc::ArithShares ot_conv_server(mpc::MpcSession& s, const OtConvStrategy& st, const mpc::ArithShares& x,
                                const PreparedOtConv& w);

}  // namespace peregrine::linear
