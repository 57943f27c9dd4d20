// HEQuant's spatial intra-coefficient packing (HW-pack) for 2-D convolutions of integer (quantised)
// networks on coefficient-encoded BFV: b output-row bands of the image share every plaintext
// coefficient as base-2^B digits, so one Cheetah convolution computes b bands at once, and the
// share-domain digit extraction of TECHNIQUES.md §3.5 splits the result.
//
// Source: Xu, Li, Wang, "HEQuant", arXiv 2401.15970 (intra-coefficient packing; the paper's protocol
// details are not public); the layout is TECHNIQUES.md §3.3 (HW-pack row: input Σ_k 2^{kB}·x^{(k)},
// kernel unpacked, output Σ_k 2^{kB}·y^{(k)}, b·B ≤ ℓ_t), §3.4 (shares over Z_{2^{ℓ_t}}), §3.5
// (digit extraction), §3.6 (accumulator width); the band construction is a reconstruction
// (TECHNIQUES.md §3.3 says "spatial"; Peregrine packs whole output-row bands, see below).
//
// Construction (derived). Ho output rows are cut into b bands of R = ⌈Ho/b⌉ rows; band k reads the
// padded input rows [k·R·s_h, k·R·s_h + H'), H' = (R − 1)·s_h + kh. The banded input
//     x'[c, i, j] = Σ_k 2^{kB}·x_pad[c, k·R·s_h + i, j]   (mod 2^{ℓ_t}, rows past the input are 0)
// is an ordinary conv input of H' rows (no vertical padding; the horizontal padding stays), and the
// conv is linear over Z, so its output is y'[m, i, j] = Σ_k 2^{kB}·y[m, k·R + i, j] with every digit
// a true conv value (rows past Ho are convs of zero-extended input, inside the same bound, dropped).
// The banded conv runs as a CheetahConvStrategy (its tile search, kernels and drivers unchanged,
// with t = 2^{ℓ_t}); the kernel polynomials are the unpacked weights, so the HE noise is that of a
// plain conv (the flood stays 40 bits above it, he_layer.hpp).
//
// Digit width (§3.6): every digit is a conv value |y| ≤ X·w_max·(C/groups)·kh·kw, with X the
// public bound on |x| and w_max = 2^{weight_bits − 1}; B = ⌈log2(bound + 1)⌉ + 1 (signed digits,
// |y| < 2^{B−1}) and ℓ_t = max(13, b·B) ≤ 44 (HeParams::cheetah). The input shares must be over a
// ring of at least ℓ_t bits (their residues mod 2^{ℓ_t} are then shares of x mod 2^{ℓ_t}).
//
// K-pack (output channels) is not built: its kernel coefficients Σ_k 2^{kB}·w_k are bB bits wide,
// so the honest noise e·K grows by 2^{(b−1)B} and the 40-bit flood no longer fits N = 4096, 109-bit
// parameters beyond b = 2 with small B (TECHNIQUES.md §0.5 budget). C-pack yields one digit per
// coefficient and needs the full-width wrap for it; neither is a strategy yet.
//
// Split (DESIGN.md §2): HeQuantConvStrategy (digit width, bands, the inner Cheetah plan, cost; no
// work), pack_input / unpack_digits (local kernels), hequant_conv_client / hequant_conv_server
// (drivers: the HE layer, then mpc::extract_digits). Thread-safety: a strategy is immutable after
// construction; drivers are one thread per session.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/linear/conv.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"

namespace peregrine::linear {

/// Plans the HW-packed conv of `meta` with b digits per coefficient.
class HeQuantConvStrategy {
 public:
  /// act_bound: public bound on |x| of every input element (integers at scale 2^0); b ≥ 1 bands;
  /// params: Cheetah parameters with t = 2^{ℓ_t} (e.g. HeParams::cheetah(ℓ_t, bits) with a smaller
  /// q where the layer's flood still fits, TECHNIQUES.md §3.2); null: HeParams::cheetah(ℓ_t).
  /// Errors: those of Conv2dMeta::validate; kUnsupported when b > out_h, or ℓ_t = max(13, b·B)
  /// exceeds 44 bits (no Cheetah parameter set), or no tile of the banded conv can be flooded at
  /// these parameters; kInvalidArgument when params has another plaintext modulus.
  HeQuantConvStrategy(const Conv2dMeta& meta, std::uint64_t act_bound, int b, he::HeParamsPtr params = nullptr,
                      TilePolicy policy = TilePolicy::kMinBytes);

  /// B for a conv: the signed width of its largest possible output, X·w_max·(C/groups)·kh·kw.
  /// Thread-safe (pure).
  static int digit_bits(const Conv2dMeta& meta, std::uint64_t act_bound);
  /// The plaintext bits b digits of B bits need: max(13, b·B).
  static int plain_bits(int B, int b) { return b * B < 13 ? 13 : b * B; }

  const Conv2dMeta& meta() const noexcept { return meta_; }
  int digit_bits() const noexcept { return B_; }
  int digits() const noexcept { return b_; }
  int plain_bits() const noexcept { return ell_t_; }
  std::size_t band_rows() const noexcept { return R_; }
  /// The banded conv [C, H', W] → [M, R, Wo] the HE layer runs (t = 2^{plain_bits()}).
  const CheetahConvStrategy& inner() const noexcept { return inner_; }
  const he::HeParamsPtr& params() const noexcept { return inner_.params(); }
  /// Exact HE bytes each way and products of one run (the digit extraction not included).
  LayerCost he_cost() const { return inner_.cost(); }
  /// Packed values the digit extraction splits (M·R·Wo).
  std::size_t packed_count() const noexcept { return meta_.M * R_ * meta_.out_w(); }

  /// Local kernel: a share [C, H, W] over any ring of ≥ plain_bits() bits → the banded packed share
  /// [C, H', W] mod 2^{plain_bits()}. Errors: kInvalidArgument on a size mismatch.
  std::vector<u64> pack_input(std::span<const u64> share) const;
  /// Local kernel: the b digit shares of the banded output (each [M, R, Wo]) → the output share
  /// [M, Ho, Wo] (rows past Ho dropped). Errors: kInvalidArgument on sizes.
  std::vector<u64> unpack_digits(std::span<const mpc::ArithShares> digits) const;

 private:
  Conv2dMeta meta_;
  int B_ = 0, b_ = 1, ell_t_ = 13;
  std::size_t R_ = 0, Hb_ = 0;  // rows per band (output), rows of the banded input
  CheetahConvStrategy inner_;
};

/// Server-side weights of a HW-packed conv: the banded conv's kernels (no bias) and the bias [M]
/// (signed, added in the output ring after the digits are extracted).
struct PreparedHeQuantConv {
  PreparedConv inner;
  std::vector<std::int64_t> bias;
};

/// Prepares weights [M, C/groups, kh, kw] (within meta().weight_bits) and bias [M] (or empty).
/// Errors: kInvalidArgument on sizes or weight range.
PreparedHeQuantConv prepare_hequant_conv(const HeQuantConvStrategy& s, std::span<const std::int64_t> weights,
                                         std::span<const std::int64_t> bias);

/// Client driver on the session's channel: its share [C, H, W] (ring ≥ plain_bits()) in, its share
/// of the conv [M, Ho, Wo] over Z_{2^out_bits} out (out_bits ≥ 1). One HE round trip, then the
/// digit extraction (mpc::extract_digits into Z_{2^out_bits}). Errors: those of run_client and
/// extract_digits; kInvalidArgument when the share's ring is narrower than plain_bits().
mpc::ArithShares hequant_conv_client(mpc::MpcSession& s, const HeClient& he, const HeQuantConvStrategy& st,
                                     const mpc::ArithShares& share, int out_bits);
/// Server driver: its share and prepared weights in, its output share (bias added) out.
mpc::ArithShares hequant_conv_server(mpc::MpcSession& s, const HeServer& he, const HeQuantConvStrategy& st,
                                     const mpc::ArithShares& share, const PreparedHeQuantConv& w, int out_bits);

}  // namespace peregrine::linear
