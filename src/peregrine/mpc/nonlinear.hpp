// Non-linear building blocks on secret shares (TECHNIQUES.md §7.2–§7.4, DESIGN.md §4.3):
// millionaire (secure comparison), DReLU, ReLU, B2A and the multiplexer, over the session's OT
// (silent Ferret COT or IKNP, mpc/session.hpp).
//
// Source: D. Rathee, M. Rathee, N. Kumar, N. Chandran, D. Gupta, A. Rastogi, R. Sharma,
// "CrypTFlow2: Practical 2-Party Secure Inference", CCS 2020 (ePrint 2020/1002):
//   §3 / Algorithm 1 millionaire with m-bit leaves and an AND tree, §4 DReLU, §3 "multiplexer" and
//   "B2A" (Boolean to arithmetic via COT_l). AND gates use Beaver bit triples made from random OTs,
//   one per direction (a reconstruction of the standard ROT→triple conversion: a ROT (m0, m1) /
//   (c, m_c) gives c·(m0 ⊕ m1) = m0 ⊕ m_c bitwise). Each ROT pair yields two triples that share
//   their b (two message bits per ROT), used by the two ANDs of a tree node that share eq_hi
//   (CrypTFlow2 §3's "correlated triples", here in ROT form: a reconstruction).
//
// Conventions shared by every function here:
//   * n = number of elements; every stage is batched over all n (one OT batch or one exchange).
//   * Boolean outputs are BoolShares (XOR shares, packed 64 per word, unused bits zero).
//   * Arithmetic shares are over Z_{2^ℓ}, 1 ≤ ℓ ≤ 64, x = x_0 + x_1 mod 2^ℓ.
//   * Both parties call the same function with matching n, ℓ, m, in the same order.
//   * Security: semi-honest, as the OT layer.
//   * Thread-safety: a session is used by one thread at a time; the functions keep no state.
//   * Errors: Error(kInvalidArgument) on bad sizes / widths / out-of-range inputs, raised before
//     any traffic; Error(kPeerClosed) / Error(kTimeout) from the channel when the peer goes away
//     (never a hang beyond ChannelOptions::read_timeout); kUnsupported without AES-NI.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "peregrine/mpc/session.hpp"
#include "peregrine/mpc/share.hpp"

namespace peregrine::mpc {

/// CrypTFlow2's leaf width m of the millionaire (1-out-of-2^m OT per m-bit digit), the default on
/// the IKNP back-end. m = 4 balances bytes against the KK13 sender's 2^m pad hashes per digit: ReLU
/// at ℓ = 37 costs 624 bytes per element with m = 4 and 484 with m = 6, but the m = 6 sender hashes
/// 2.7× more (measured: m = 6 about 1.9× slower on loopback, an even trade at 3 Gbps, a win on WAN).
inline constexpr int kMillionaireLeafBits = 4;
/// The default leaf width on the silent back-end. At ℓ = 36, m = 3 needs 58 COTs per comparison
/// and ≈ 301 bits with Ferret's traffic; the byte-minimal m = 2 saves 6 bits (2 %) for 70 COTs,
/// and the COTs' LPN encoding dominates the time.
inline constexpr int kSilentLeafBits = 3;
/// Leaf-width argument meaning "the session's default": kMillionaireLeafBits on IKNP,
/// kSilentLeafBits on silent OT.
inline constexpr int kLeafBitsDefault = -1;

/// The leaf width m that minimises the estimated traffic of a millionaire on ℓ bits.
/// IKNP: KK13 leaves (256 + 2^w·2 bits per digit of w bits, 2^w for the least significant digit)
/// and one ROT per direction (256 bits) per tree pair, plus the openings; m ∈ [1, 6]: m = 6 at
/// ℓ = 36 (≈ 3.5 kbit per element). Silent OT: leaves of w chosen-bit COTs (w bits) + 2^w·2 bits
/// (2^w for digit 0), the tree's openings only (its triples come from random COTs, ≈ 0.4 bit
/// each); m ∈ [1, 4], ties to the larger m (fewer rounds): m = 2 at ℓ = 36 (≈ 268 bits) and m = 4
/// at ℓ = 12 (≈ 91 bits).
/// m ≤ 6 bounds the sender's work (2^m pad hashes per digit). 1 ≤ ℓ ≤ 64, else kInvalidArgument.
int millionaire_leaf_bits(int ell, OtBackend ot = OtBackend::kIknp);

/// Secure comparison. The server (party 0) passes its x, the client (party 1) its y (n values
/// each, both ℓ-bit unsigned: every value < 2^ℓ). Returns this party's boolean shares of
/// 1{x_i > y_i} (strictly greater, unsigned).
///
/// Protocol (CrypTFlow2 §3, Algorithm 1; TECHNIQUES.md §7.2): q = ⌈ℓ/m⌉ digits; per digit one
/// 1-out-of-2^w OT (w = m, or ℓ mod m for the top digit; KK13, MpcSession::send_1_of_n) with
/// 2-bit messages giving shares of (gt_j, eq_j) (1 bit, gt only, for the least significant digit:
/// no tree node containing it needs eq); then an AND tree of depth ⌈log2 q⌉
/// (gt = gt_hi ⊕ eq_hi·gt_lo, eq = eq_hi·eq_lo) where the node holding digit 0 skips eq and the
/// two ANDs of every other pair share eq_hi, so they use one pair of triples and open eq_hi once.
/// The leaf OTs alternate direction by digit (even digits: the server sends; odd: the client), so
/// both links carry about the same bytes and both parties hash about the same amount.
/// m = 0 picks millionaire_leaf_bits(ℓ, session back-end); m = kLeafBitsDefault the session's
/// default (see there).
/// Rounds: triples (ROT both ways) + leaf OTs (one round trip per 2^21/2^w OTs) + ⌈log2 q⌉ AND
/// exchanges.
/// Cost per element, with p_i pairs at tree level i: openings Σ 2·(3·p_i − 1) bits; triples one
/// ROT per direction per pair (Σ p_i). IKNP: q·256 + Σ_j 2^w_j·2 bits for the leaves (2^w for
/// digit 0), 256 bits per pair. Silent OT: Σ_j (w_j + 2^w_j·2) bits for the leaves, plus ≈ 0.39 bit
/// per COT of Ferret traffic (ℓ = 36, m = 3: 220 + 58 = 278 bits and 58 COTs).
/// Errors: kInvalidArgument unless 1 ≤ ℓ ≤ 64, m = kLeafBitsDefault or 0 ≤ m ≤ 8, every input < 2^ℓ.
BoolShares millionaire_gt(MpcSession& s, std::span<const u64> input, int ell,
                          int m = kLeafBitsDefault);

/// Two secure comparisons against the same client input: the server passes 2n values (x then
/// x'), the client its n values y; returns this party's boolean shares of 2n bits,
/// [1{x_i > y_i}] then [1{x'_i > y_i}]. As millionaire_gt(), except that the server sends every
/// leaf OT and each carries both comparisons' bits (4-bit messages, 2 for digit 0): the client's
/// choice — its digit, the same for both — is paid once (m COTs per digit instead of 2m; 256 bits
/// of KK13 per digit on IKNP), and both AND trees share each exchange. Reconstruction, issue 17.
/// Errors: as millionaire_gt(), and kInvalidArgument when the server's count is odd.
BoolShares millionaire_gt_pair(MpcSession& s, std::span<const u64> input, int ell, int m = kLeafBitsDefault);

/// Prefix comparisons of the same two numbers (HEQuant's digit carries, TECHNIQUES.md §3.5): the
/// server passes x, the client y (n values each, < 2^{blocks·block_bits}); returns this party's
/// boolean shares of blocks·n bits, bit k·n + i = 1{(x_i mod 2^{(k+1)·block_bits}) > (y_i mod
/// 2^{(k+1)·block_bits})} for k < blocks. One millionaire's leaves over every block (each block
/// zero-padded to a multiple of the leaf width m, which keeps block-wise comparisons unchanged),
/// then, instead of the AND tree, an AND chain from the least significant leaf,
/// P_j = gt_j ⊕ eq_j·P_{j−1}, whose value at each block boundary is that prefix's comparison: all
/// blocks for about the bytes of one millionaire on blocks·block_bits bits (derived; the chain has
/// as many ANDs as the tree has pairs, one triple each instead of a pair), with q − 1 sequential
/// exchanges (q leaves) instead of ⌈log2 q⌉. m as millionaire_gt(); m = 1 when the padded width
/// would pass 64 bits. Errors: kInvalidArgument unless blocks, block_bits ≥ 1 and
/// blocks·block_bits ≤ 64, or an input ≥ 2^{blocks·block_bits}.
BoolShares millionaire_prefix_gt(MpcSession& s, std::span<const u64> input, int blocks, int block_bits,
                                 int m = kLeafBitsDefault);

/// AND of shared bit vectors (x.n == y.n) with Beaver triples made from ROT: returns shares of
/// x ∧ y. One ROT batch both ways (2·128 bits per bit with IKNP) and one exchange (4 bits per bit).
BoolShares and_bits(MpcSession& s, const BoolShares& x, const BoolShares& y);

/// DReLU on arithmetic shares x over Z_{2^ℓ}, 2 ≤ ℓ ≤ 64: boolean shares of 1{x ≥ 0} in two's
/// complement = 1 ⊕ MSB(x), MSB(x) = msb(x_0) ⊕ msb(x_1) ⊕ carry, carry =
/// 1{(x_0 mod 2^{ℓ−1}) + (x_1 mod 2^{ℓ−1}) ≥ 2^{ℓ−1}} = millionaire on ℓ−1 bits of
/// x_0 mod 2^{ℓ−1} against 2^{ℓ−1} − 1 − (x_1 mod 2^{ℓ−1}) (CrypTFlow2 §4; TECHNIQUES.md §7.3).
/// Shape: n = x.v.size() elements. Errors: kInvalidArgument when ℓ < 2 or a share ≥ 2^ℓ.
BoolShares drelu(MpcSession& s, const ArithShares& x, int m = kLeafBitsDefault);

/// B2A: boolean shares of n bits → arithmetic shares over `ring` of the same bits (value 0/1).
/// c = c_0 + c_1 − 2·c_0·c_1 with c_0·c_1 from one additive COT_ℓ (server sends)
/// (CrypTFlow2 §3 "B2A"; TECHNIQUES.md §7.4). Cost: one COT (128 bits with IKNP, 1 bit silent) +
/// ℓ bits per bit.
ArithShares b2a(MpcSession& s, const BoolShares& b, const Ring& ring);

/// B2A into Z_t for any modulus 2 ≤ t < 2^62 (the slot layers' prime t): boolean shares of n bits
/// → additive shares mod t of scale·b_i (scale < t). c·(b_0 ⊕ b_1) = c·b_0 + b_1·c·(1 − 2b_0): one
/// additive COT mod t with Δ = c·(1 − 2b_0) (server sends; ot::OtSender::send_cot_additive_mod).
/// Cost: one COT + ⌈log2 t⌉ bits per bit. Errors: kInvalidArgument for t out of range or scale ≥ t.
std::vector<u64> b2a_mod_t(MpcSession& s, const BoolShares& b, u64 t, u64 scale = 1);

/// Multiplexer: shares of b (n bits) and of x (n elements over Z_{2^ℓ}) → shares of b·x.
/// Two additive COT_ℓ per element, one per direction: for the server's share x_0, the server sends
/// with correlation (1 − 2b_0)·x_0 and the client chooses with b_1, since
/// (b_0 ⊕ b_1)·x_0 = b_0·x_0 + b_1·(1 − 2b_0)·x_0; symmetrically for x_1 (CrypTFlow2 §3 "MUX",
/// here in its COT form). Errors: kInvalidArgument when b.n != x.v.size().
ArithShares mux(MpcSession& s, const BoolShares& b, const ArithShares& x);

/// ReLU(x) = DReLU(x)·x via the multiplexer (TECHNIQUES.md §7.3), 2 ≤ ℓ ≤ 64, n = x.v.size().
/// Optionally returns the DReLU shares (the sign bits are reused by later layers, §7.5).
/// Cost: millionaire on ℓ−1 bits + 2 COT_ℓ per element (ℓ = 37: 4994 bits with IKNP, 377 silent).
ArithShares relu(MpcSession& s, const ArithShares& x, int m = kLeafBitsDefault,
                 BoolShares* drelu_out = nullptr);

/// ReLU on the high bits, for a ReLU whose result is truncated by `shift` next (Cheetah's public
/// code, after Maeng & Suh; TECHNIQUES.md §7.5): each party drops the low `shift` bits of its share
/// locally, h_p = x_p >> shift over Z_{2^{ℓ−shift}}, which shares h = ⌊x/2^shift⌋ − c, c ∈ {0, 1}
/// the carry of the two dropped low parts (the wrap of x_0 + x_1 vanishes mod 2^{ℓ−shift}); then
/// DReLU and the multiplexer run on h (a millionaire on ℓ − shift − 1 bits instead of ℓ − 1), and
/// the shares of z = ReLU(h) are shifted back up: returns shares over x.ring of y = 2^shift·z,
/// every share a multiple of 2^shift.
/// Error model (no probabilistic part): z − ⌊ReLU(x)/2^shift⌋ ∈ {−1, 0} on every element (x < 0:
/// h ≤ −1, z = 0 exactly; 0 ≤ x < 2^shift: z = 0 exactly; otherwise z = ⌊x/2^shift⌋ − c), so
/// |y − ReLU(x)| < 2^{shift+1}, and the truncation by `shift` that follows (exact on these shares:
/// their low bits are zero; y ≥ 0 gives it the MSB-known fast path) yields ⌊ReLU(x)/2^shift⌋ − c:
/// at most 1 LSB below the reference, as Cheetah's approximate truncation. Requires |x| < 2^{ℓ−2}
/// (the plan's headroom), else h may overflow.
/// Cost: millionaire on ℓ − shift − 1 bits + 2 COT_{ℓ−shift} per element (ℓ = 37, shift = 12,
/// silent OT: 33.2 MB both ways for 2^20 elements with the truncation after it, against 51.2 MB
/// for relu() + approximate truncation).
/// Errors: kInvalidArgument unless 1 ≤ shift ≤ ℓ − 2, or a share ≥ 2^ℓ.
ArithShares relu_highbits(MpcSession& s, const ArithShares& x, int shift, int m = kLeafBitsDefault);

/// Clip(x, lo, hi) = min(max(x, lo), hi) on shares over Z_{2^ℓ} (ReLU6 is Clip(x, 0, 6·2^scale)),
/// one strategy instead of lo + ReLU(x − lo) − ReLU(x − hi). lo ≤ hi are public signed values at
/// x's scale. With b1 = 1{x ≥ lo} and b2 = 1{x ≥ hi} (b2 implies b1, so b1 − b2 = b1 ⊕ b2):
///   y = lo + (b1 ⊕ b2)·(x − lo) + (hi − lo)·b2.
/// Both DReLUs run as one millionaire_gt_pair() (the client's input is the same for both, the
/// server holds the shift by the public bound; one pass: the rounds of one ReLU), then one multiplexer on x − lo whose server-to-client COT batch also carries the
/// scaled B2A of b2 ((hi − lo)·(t0 + t1 − 2·t0·t1) from one more additive COT_ℓ): a paired
/// millionaire on ℓ − 1 bits + 3 COT_ℓ per element instead of 2 millionaires + 4 COT_ℓ, and the
/// rounds of one ReLU (reconstruction, TECHNIQUES.md §1.2 / issue 17: "ReLU6 as one strategy").
/// Exact: equals the plaintext clip whenever |x − lo| and |x − hi| stay below 2^{ℓ−1} (the plan's
/// headroom guarantees it). Shape: n = x.v.size() elements, output over x.ring.
/// Errors: kInvalidArgument when ℓ < 2, lo > hi, |lo| or |hi| ≥ 2^{ℓ−1}, or a share ≥ 2^ℓ.
ArithShares clip(MpcSession& s, const ArithShares& x, std::int64_t lo, std::int64_t hi,
                 int m = kLeafBitsDefault);

/// clip() on the high bits, for a clip whose every reader truncates it by `shift` (the clip
/// analogue of relu_highbits(); reconstruction). lo and hi must be multiples of 2^shift. The
/// parties drop the low `shift` bits of their shares locally, h = ⌊x/2^shift⌋ − c, c ∈ {0, 1},
/// run clip() on h over Z_{2^{ℓ−shift}} with bounds lo/2^shift and hi/2^shift, and shift the
/// result back up: shares over x.ring of y = 2^shift·clip(h, lo/2^shift, hi/2^shift), every share
/// a multiple of 2^shift. Since the floor is monotone and the bounds are multiples,
/// ⌊clip(x)/2^shift⌋ = clip(⌊x/2^shift⌋, ·, ·), so the truncation after it yields the reference
/// minus c: at most 1 LSB below it, never above (no probabilistic part). Requires |x| < 2^{ℓ−2}.
/// Cost: a paired millionaire on ℓ − shift − 1 bits + 3 COT_{ℓ−shift} per element.
/// Errors: kInvalidArgument unless 1 ≤ shift ≤ ℓ − 2 and lo, hi are multiples of 2^shift, and as
/// clip().
ArithShares clip_highbits(MpcSession& s, const ArithShares& x, std::int64_t lo, std::int64_t hi, int shift,
                          int m = kLeafBitsDefault);

}  // namespace peregrine::mpc
