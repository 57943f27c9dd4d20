// Wrap bits, truncation and bit-width extension on arithmetic shares over Z_{2^ℓ}
// (TECHNIQUES.md §7.5–§7.7, DESIGN.md §3).
//
// Sources: CrypTFlow2 (Rathee et al., CCS 2020) §3–§5 for wrap via the millionaire and faithful
// truncation; SiRNN (Rathee et al., S&P 2021) §3–§4 for zero/signed extension and the MSB-to-wrap
// optimisation; Cheetah (Huang et al., USENIX Security 2022) §5 for the approximate truncation that
// drops the low carry. The identities are restated (and derived where marked) in TECHNIQUES.md §7.
//
// Notation: x = x_0 + x_1 mod 2^ℓ, x_0 the server's share, x_1 the client's; signed values are
// two's complement in [−2^{ℓ−1}, 2^{ℓ−1}). Common rules: see nonlinear.hpp (batched over n,
// matching calls, semi-honest, Error(kInvalidArgument) before any traffic, channel errors when the
// peer goes away). Thread-safety: one thread per session.
#pragma once
#include <vector>
#include "peregrine/mpc/nonlinear.hpp"

namespace peregrine::mpc {

/// What both parties publicly know about the sign bit MSB(x) of every element (e.g. kZero after a
/// ReLU). A wrong hint gives a wrong result (the protocol cannot detect it).
enum class MsbHint { kUnknown, kZero, kOne };

/// Boolean shares of wrap_i = 1{(x_0 mod 2^k) + (x_1 mod 2^k) ≥ 2^k}, 1 ≤ k ≤ ℓ: one millionaire
/// on k bits (server x_0 mod 2^k against 2^k − 1 − (x_1 mod 2^k)). n = x.v.size().
BoolShares wrap_bits(MpcSession& s, const ArithShares& x, int k);

/// Arithmetic shares over `out` of wrap_i = 1{x_0 + x_1 ≥ 2^ℓ} when MSB(x) is publicly known
/// (hint kZero or kOne; derived, TECHNIQUES.md §7.5): MSB(x) = 0 gives wrap = msb_0 ∨ msb_1, MSB(x)
/// = 1 gives wrap = msb_0 ∧ msb_1, where msb_p is the top bit of party p's share. The product
/// msb_0·msb_1 costs one additive COT over `out` (128 + out.bits bits with IKNP, 1 + out.bits
/// silent). Errors:
/// kInvalidArgument for kUnknown.
ArithShares wrap_msb_known(MpcSession& s, const ArithShares& x, MsbHint msb, const Ring& out);

/// Accuracy of a truncation.
enum class TruncMode {
  kExact,   ///< faithful: equals the arithmetic shift floor(x / 2^f) (CrypTFlow2 §5)
  kApprox,  ///< drops the low carry c (Cheetah §5): result = floor(x / 2^f) − c, c ∈ {0, 1}, so
            ///< the error is −1 or 0 LSB on every element, with no larger error ever
};

/// Arithmetic shift right by f (floor(x / 2^f) for signed x), 1 ≤ f < ℓ, result in the same ring:
///   x' = x + 2^{ℓ−1};  x' >> f = (x'_0 >> f) + (x'_1 >> f) + c − 2^{ℓ−f}·wrap(x');  − 2^{ℓ−1−f},
/// c = wrap of the low f bits (millionaire on f bits; skipped by kApprox), wrap(x') from a
/// millionaire on ℓ bits, or from wrap_msb_known when `msb` is given (MSB(x') = 1 − MSB(x)).
/// Cost per element (IKNP + KK13): exact/unknown = Mill_ℓ + Mill_f + 2 B2A; approx/unknown =
/// Mill_ℓ + 1 B2A; exact/known = Mill_f + 2 COTs; approx/known = 1 COT of f bits. Measured at
/// ℓ = 37, f = 12, m = 4, both directions: 1153, 927, 244 and 17.5 bytes (CrypTFlow2's exact
/// truncation: 1451 MB per 2^20, ≈ 1384 bytes); silent OT (default leaf width): exact/unknown
/// 495 bits, exact/known 152 bits, approx/known 13 bits (docs/BENCHMARKS.md). Rounds: those of the millionaires plus one each.
/// Errors: kInvalidArgument unless 1 ≤ f < ℓ and ℓ ≥ 2, or a share ≥ 2^ℓ.
ArithShares truncate(MpcSession& s, const ArithShares& x, int f, TruncMode mode = TruncMode::kExact,
                     MsbHint msb = MsbHint::kUnknown);

/// Truncate-and-reduce (TECHNIQUES.md §7.7, for the arithmetic shift): ⌊x/2^f⌋ mod 2^out_bits for
/// signed x over Z_{2^ℓ}, out_bits ≤ ℓ − f, into a new ring Z_{2^out_bits}. With the 2^{ℓ−1} offset,
/// (x'_0 >> f) + (x'_1 >> f) + c − 2^{ℓ−1−f} is the shift up to 2^{ℓ−f}·wrap(x'), which vanishes
/// mod 2^{ℓ−f}: no wrap is needed, so no MSB hint either. kExact: c = carry of the low f bits
/// (millionaire on f bits + one B2A over out_bits bits); kApprox: c dropped, the result is
/// ⌊x/2^f⌋ − {0, 1} and costs nothing (local). Rounds: the millionaire's plus one (exact), 0 (approx).
/// Errors: kInvalidArgument unless 1 ≤ f, 1 ≤ out_bits ≤ ℓ − f, or a share ≥ 2^ℓ.
ArithShares truncate_reduce(MpcSession& s, const ArithShares& x, int f, int out_bits, TruncMode mode = TruncMode::kExact);
/// Digit extraction after an intra-coefficient-packed HE layer (HEQuant, TECHNIQUES.md §3.5): V =
/// x_0 + x_1 mod 2^ℓ (ℓ = x.ring.bits) packs `b` signed base-2^B digits, V ≡ Σ_{k<b} 2^{kB}·d_k
/// with every d_k in [−2^{B−1}, 2^{B−1}) (the packing's accumulator width guarantees it). Returns
/// shares of d_0 … d_{b−1}, each over Z_{2^out_bits} (signed; out_bits = 0 means B).
/// The server adds the public bias Σ_k 2^{B−1}·2^{kB}, so V' = V + bias has the digits
/// u_k = d_k + 2^{B−1} ∈ [0, 2^B) without borrows and, as an integer, V' < 2^{bB}. With c_k the
/// carry of the low kB bits of the shares (c_k = 1{(V'_0 mod 2^{kB}) + (V'_1 mod 2^{kB}) ≥ 2^{kB}},
/// c_0 = 0; c_b with bB = ℓ is the wrap mod 2^ℓ), T_k = (V'_0 >> kB) + (V'_1 >> kB) + c_k equals
/// ⌊V'/2^{kB}⌋ + 2^{ℓ−kB}·c_ℓ over the integers (c_ℓ the wrap mod 2^ℓ), so (derived)
///     u_k = T_k − 2^B·T_{k+1}   exactly, in any ring,
/// and the digits come out directly in the ring the next operation needs (no extension after).
/// The carries c_1 … c_b are prefix comparisons of the same two numbers, V'_0 against the
/// complement of V'_1 (2^{kB} − 1 − (V'_1 mod 2^{kB}) is ~V'_1 mod 2^{kB}): all of them come from
/// one millionaire_prefix_gt over the low b·B bits (the §3.5 optimisation), then one B2A into
/// Z_{2^out_bits} each. When out_bits ≤ B the 2^B·T_{k+1} term vanishes and c_b is not needed
/// (b − 1 carries; digit 0 is then local, and b = 1 costs nothing).
/// Digits outside the range decode wrongly (not detected: the caller's bound is what makes them fit).
/// `first` > 0 returns only d_first … d_{b−1} (b − first shares) and converts only the carries those
/// read (c_first … c_b); the prefix millionaire still spans the low bits below the top digit. The
/// identity reads digit k of the integer V' ∈ [0, 2^ℓ) whatever the digits above b − 1 hold, so with
/// bB < ℓ they need not be zero (C-pack's Kronecker garbage, linear/hequant_conv.hpp); only the digits
/// 0 … b − 1 must lie in [−2^{B−1}, 2^{B−1}).
/// Rounds: the prefix millionaire's (one per leaf) plus one. Errors: kInvalidArgument unless B ≥ 1,
/// b ≥ 1, b·B ≤ ℓ, 0 ≤ out_bits ≤ 64, 0 ≤ first < b, or a share ≥ 2^ℓ.
std::vector<ArithShares> extract_digits(MpcSession& s, const ArithShares& x, int B, int b, int out_bits = 0,
                                        int first = 0);

/// Extension from Z_{2^ℓ} (ℓ = x.ring.bits) to Z_{2^to_bits}, to_bits > ℓ (SiRNN §4):
///   zero extension (unsigned x):  y = x_0 + x_1 − 2^ℓ·wrap   (computed in the larger ring)
///   signed extension:             add 2^{ℓ−1}, zero-extend, subtract 2^{ℓ−1}.
/// wrap from a millionaire on ℓ bits, or from wrap_msb_known when `msb` is given (the hint is about
/// x itself, read as signed for is_signed and as the top bit for zero extension).
/// Cost: Mill_ℓ + one B2A over to_bits − ℓ bits; with a hint, one COT + one B2A.
/// Errors: kInvalidArgument unless ℓ < to_bits ≤ 64, or a share ≥ 2^ℓ.
ArithShares extend(MpcSession& s, const ArithShares& x, int to_bits, bool is_signed,
                   MsbHint msb = MsbHint::kUnknown);

/// Truncation of shares in Z_t (t an odd modulus < 2^62: the slot-encoded layers' prime), Flash's
/// option (c) (TECHNIQUES.md §5.4; the construction is a reconstruction): y = y_0 + y_1 mod t holds a
/// signed value with |y| < 2^{ell_y − 1}, 2^{ell_y} ≤ t. The server adds h = 2^{ell_y − 1}, so
/// z = y + h ∈ [0, 2^{ell_y}) and z = a + b − t·w with a = y_0 + h mod t, b = y_1 and the wrap
/// w = 1{a + b ≥ t} = 1 − 1{t − a > b}: one millionaire on ⌈log2 t⌉ bits (server t − a, client b).
/// Then ⌊z/2^k⌋ = ⌊a/2^k⌋ + ⌊b/2^k⌋ − w·⌊t/2^k⌋ + c with c ∈ {−1, 0, 1} (the low parts' carry and
/// w·(t mod 2^k), not computed), and w·⌊t/2^k⌋ comes from one b2a_mod_t. Returns this party's
/// shares mod t of ⌊y/2^k⌋ + c: every element within 1 LSB of the arithmetic shift, never further
/// (§5.8(a)); the wrap itself is exact, so no element ever fails catastrophically, unlike option
/// (a). Cost per element: a millionaire on ⌈log2 t⌉ bits + one COT with ⌈log2 t⌉ bits. Rounds: the
/// millionaire's plus one. Errors: kInvalidArgument unless t is odd, 3 ≤ t < 2^62,
/// 1 ≤ k < ell_y, 2^{ell_y} ≤ t, and every share < t.
std::vector<u64> truncate_mod_t(MpcSession& s, std::span<const u64> y, u64 t, int k, int ell_y,
                                int m = kLeafBitsDefault);

}  // namespace peregrine::mpc
