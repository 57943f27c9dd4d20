// HEQuant's intra-coefficient packing (HW-, K- and C-pack) for 2-D convolutions of integer (quantised)
// networks on coefficient-encoded BFV: b values share every plaintext coefficient as base-2^B digits
// (output-row bands of the image, output channels, or input channels in a Kronecker product), so one
// Cheetah convolution computes b of them at once, and the share-domain digit extraction of
// TECHNIQUES.md §3.5 splits the result.
//
// Source: Xu, Li, Wang, "HEQuant", arXiv 2401.15970 (intra-coefficient packing; the paper's protocol
// details are not public); the layout is TECHNIQUES.md §3.3 (the HW-, K- and C-pack rows, b·B ≤ ℓ_t),
// §3.4 (shares over Z_{2^{ℓ_t}}), §3.5
// (digit extraction), §3.6 (accumulator width); the band construction is a reconstruction
// (TECHNIQUES.md §3.3 says "spatial"; Peregrine packs whole output-row bands, see below).
//
// HW-pack, construction (derived). Ho output rows are cut into b bands of R = ⌈Ho/b⌉ rows; band k reads the
// padded input rows [k·R·s_h, k·R·s_h + H'), H' = (R − 1)·s_h + kh. The banded input
//     x'[c, i, j] = Σ_k 2^{kB}·x_pad[c, k·R·s_h + i, j]   (mod 2^{ℓ_t}, rows past the input are 0)
// is an ordinary conv input of H' rows (no vertical padding; the horizontal padding stays), and the
// conv is linear over Z, so its output is y'[m, i, j] = Σ_k 2^{kB}·y[m, k·R + i, j] with every digit
// a true conv value (rows past Ho are convs of zero-extended input, inside the same bound, dropped).
// The banded conv runs as a CheetahConvStrategy (its tile search, kernels and drivers unchanged,
// with t = 2^{ℓ_t}); the kernel polynomials are the unpacked weights, so the HE noise is that of a
// plain conv (the flood stays 40 bits above it, he_layer.hpp).
//
// Digit width (§3.6): every digit is a conv value (or, for C-pack, a partial sum of fewer products) |y| ≤ X·w_max·(C/groups)·kh·kw, with X the
// public bound on |x| and w_max = 2^{weight_bits − 1}; B = ⌈log2(bound + 1)⌉ + 1 (signed digits,
// |y| < 2^{B−1}) and ℓ_t = max(13, b·B) ≤ 44 (HeParams::cheetah). The input shares must be over a
// ring of at least ℓ_t bits (their residues mod 2^{ℓ_t} are then shares of x mod 2^{ℓ_t}).
//
// K-pack and C-pack (TECHNIQUES.md §3.3, the other two rows). Both run inside a group of the conv
// (Cg = C/groups input and Mg = M/groups output channels), so grouped convs pack too.
//   K-pack: Mg' = ⌈Mg/b⌉ packed filters per group, filter m' = Σ_k 2^{kB}·w[k·Mg' + m'] (filters past Mg
//     are 0); the input is unchanged and digit k of packed channel m' is output channel k·Mg' + m'.
//     Output ciphertexts and packed values drop by about b.
//   C-pack (Kronecker): Cg' = ⌈Cg/b⌉ packed input channels, x'[c'] = Σ_k 2^{kB}·x[k·Cg' + c'] and
//     filter taps w'[m, c'] = Σ_k 2^{(b−1−k)B}·w[m, k·Cg' + c'], so digit b − 1 of every output is
//     Σ_k Σ_c' x[k·Cg' + c']·w[m, k·Cg' + c'], the conv. The b − 1 digits below hold the cross
//     terms k < j (each a sum over at most Cg·kh·kw products, inside the same bound B), the digits
//     above wrap away mod 2^{bB} or are read past (mpc::extract_digits reads digit k of V' whatever
//     lies above). Input ciphertexts drop by about b; only the top digit is extracted.
// The packed kernels are wider: |w'| ≤ w_max·Σ_{k<b} 2^{kB}, so the inner conv's weight_bits (its
// noise bound, hence the flood) grow by about (b − 1)·B. That fits the 109-bit q with a 40-bit flood
// only for small b·B; the inner strategy refuses tiles that cannot be flooded (kUnsupported), and
// the planner's search (engine/strategies/hequant_conv.cpp) skips those candidates.
//
// Channel split (§3.6, per channel group). The partial sum a ciphertext holds can cover fewer
// channels than the conv: with split G the conv [C → M] becomes the grouped conv [C → G·M] with G
// groups (filter p·M + m reads channels [p·C/G, (p + 1)·C/G) of filter m), each output a partial sum
// over C/G channels, so B is that of C/G channels (about log2 G bits narrower) and more digits fit
// a coefficient. The G partials of every output are added after the extraction, in the output ring
// (local). It multiplies the output ciphertexts and the extracted values by G: the search decides.
// Convs with groups > 1 are not split (a depthwise group has one channel).
//
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/linear/conv.hpp"
#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"

namespace peregrine::linear {

/// Which dimension shares a plaintext coefficient (TECHNIQUES.md §3.3).
enum class PackDim { kHW, kK, kC };
/// "hw", "k", "c". Thread-safe (pure).
const char* pack_dim_name(PackDim d) noexcept;

/// One packing: b digits of the dimension `dim` per plaintext coefficient, the conv split into
/// `split` channel groups first (1: not split).
struct HeQuantPacking {
  int b = 1;
  PackDim dim = PackDim::kHW;
  std::size_t split = 1;
};

/// Plans the packed conv of `meta` (TECHNIQUES.md §3.3–§3.6).
class HeQuantConvStrategy {
 public:
  /// act_bound: public bound on |x| of every input element (integers at scale 2^0); pack: b ≥ 1
  /// digits of pack.dim, the conv split into pack.split channel groups; params: Cheetah parameters
  /// with t = 2^{ℓ_t} (e.g. HeParams::cheetah(ℓ_t, bits) with a smaller q where the layer's flood
  /// still fits, TECHNIQUES.md §3.2); null: HeParams::cheetah(ℓ_t).
  /// Errors: those of Conv2dMeta::validate; kUnsupported when b < 1, b exceeds the packed dimension
  /// (output rows, Mg or Cg), split < 1 does not divide C or meets groups > 1, ℓ_t = max(13, b·B)
  /// exceeds 44 bits, the packed kernels exceed 32 bits, or no tile of the inner conv can be
  /// flooded at these parameters; kInvalidArgument when params has another plaintext modulus.
  HeQuantConvStrategy(const Conv2dMeta& meta, std::uint64_t act_bound, HeQuantPacking pack,
                      he::HeParamsPtr params = nullptr, TilePolicy policy = TilePolicy::kMinBytes);

  /// B for a conv: the signed width of its largest possible output, X·w_max·(C/groups)·kh·kw.
  /// Thread-safe (pure).
  static int digit_bits(const Conv2dMeta& meta, std::uint64_t act_bound);
  /// The plaintext bits b digits of B bits need: max(13, b·B).
  static int plain_bits(int B, int b) { return b * B < 13 ? 13 : b * B; }
  /// The conv after the channel split: [C → split·M] with `split` groups (meta itself for 1).
  /// Errors: kUnsupported as the constructor's split rules.
  static Conv2dMeta split_meta(const Conv2dMeta& meta, std::size_t split);

  const Conv2dMeta& meta() const noexcept { return meta_; }
  const HeQuantPacking& packing() const noexcept { return pack_; }
  int digit_bits() const noexcept { return B_; }
  int digits() const noexcept { return pack_.b; }
  int plain_bits() const noexcept { return ell_t_; }
  /// HW-pack: output rows per band; otherwise the output rows.
  std::size_t band_rows() const noexcept { return R_; }
  /// The conv the HE layer runs (t = 2^{plain_bits()}): banded [C, H', W] → [G·M, R, Wo] (HW),
  /// [C, H, W] → [groups·Mg', Ho, Wo] (K) or [groups·Cg', H, W] → [G·M, Ho, Wo] (C).
  const CheetahConvStrategy& inner() const noexcept { return inner_; }
  const he::HeParamsPtr& params() const noexcept { return inner_.params(); }
  /// Exact HE bytes each way and products of one run (the digit extraction not included).
  LayerCost he_cost() const { return inner_.cost(); }
  /// Packed values the digit extraction splits (the inner conv's outputs).
  std::size_t packed_count() const noexcept { return inner_.meta().M * inner_.meta().out_h() * inner_.meta().out_w(); }
  /// The first digit extracted: b − 1 for C-pack (the only useful one), else 0.
  int first_digit() const noexcept { return pack_.dim == PackDim::kC ? pack_.b - 1 : 0; }

  /// Local kernel: a share [C, H, W] over any ring of ≥ plain_bits() bits → the packed share the
  /// inner conv reads, mod 2^{plain_bits()}. Errors: kInvalidArgument on a size mismatch.
  std::vector<u64> pack_input(std::span<const u64> share) const;
  /// Local kernel: weights [M, C/groups, kh, kw] (within meta().weight_bits) → the inner conv's
  /// weights (split, then packed). Errors: kInvalidArgument on size or range.
  std::vector<std::int64_t> pack_weights(std::span<const std::int64_t> weights) const;
  /// Local kernel: the extracted digit shares (digits() − first_digit() of them, each over the
  /// inner conv's outputs, in one ring) → the output share [M, Ho, Wo] (band rows past Ho and
  /// packed filters past Mg dropped, the split partials added). Errors: kInvalidArgument on sizes.
  std::vector<u64> unpack_digits(std::span<const mpc::ArithShares> digits) const;

 private:
  Conv2dMeta meta_, split_;
  HeQuantPacking pack_;
  int B_ = 0, ell_t_ = 13;
  std::size_t R_ = 0;       // output rows per band (HW) or Ho
  std::size_t Mgp_ = 0;     // packed filters per group (K) or Mg
  std::size_t Cgp_ = 0;     // packed input channels per group (C) or Cg
  CheetahConvStrategy inner_;
};

/// Server-side weights of a packed conv: the inner conv's kernels (no bias) and the bias [M]
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
