// Non-linear building blocks on secret shares (TECHNIQUES.md §7.2–§7.4, DESIGN.md §4.3):
// millionaire (secure comparison), DReLU, ReLU, B2A and the multiplexer, over the session's OT
// (silent Ferret COT or IKNP, mpc/session.hpp).
//
// Source: D. Rathee, M. Rathee, N. Kumar, N. Chandran, D. Gupta, A. Rastogi, R. Sharma,
// "CrypTFlow2: Practical 2-Party Secure Inference", CCS 2020 (ePrint 2020/1002):
//   §3 / Algorithm 1 millionaire with m-bit leaves and an AND tree, §4 DReLU, §3 "multiplexer" and
//   "B2A" (Boolean to arithmetic via COT_l). AND gates use Beaver bit triples, each made from two
//   random OTs, one per direction (a reconstruction of the standard ROT→triple conversion: a ROT
//   (m0, m1) / (c, m_c) gives c·(lsb m0 ⊕ lsb m1) = lsb m0 ⊕ lsb m_c).
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
/// at ℓ = 37 costs 853 bytes per element with m = 4 and 622 with m = 6, but the m = 6 sender hashes
/// 2.7× more (measured: m = 6 about 1.9× slower on loopback, an even trade at 3 Gbps, a win on WAN).
inline constexpr int kMillionaireLeafBits = 4;
/// Leaf-width argument meaning "the session's default": kMillionaireLeafBits on IKNP, the
/// byte-minimal width of millionaire_leaf_bits(ℓ, kSilent) on silent OT (m = 3 at ℓ = 36).
inline constexpr int kLeafBitsDefault = -1;

/// The leaf width m that minimises the estimated traffic of a millionaire on ℓ bits.
/// IKNP: KK13 leaves (256 + 2^w·2 bits per digit of w bits) and ROT bit triples (256 + 4 bits per
/// AND gate), m ∈ [1, 6]: m = 6 for ℓ = 12 and ℓ = 36 (about 1 and 4.6 kbit per element).
/// Silent OT: leaves of w chosen-bit COTs (w bits) + 2^w·2 bits, AND gates 4 bits (their triples
/// come from random COTs, ~0.5 bit), m ∈ [1, 4], ties to the larger m (fewer rounds):
/// m = 3 at ℓ = 36 (≈ 312 bits) and m = 4 at ℓ = 12 (≈ 116 bits).
/// m ≤ 6 bounds the sender's work (2^m pad hashes per digit). 1 ≤ ℓ ≤ 64, else kInvalidArgument.
int millionaire_leaf_bits(int ell, OtBackend ot = OtBackend::kIknp);

/// Secure comparison. The server (party 0) passes its x, the client (party 1) its y (n values
/// each, both ℓ-bit unsigned: every value < 2^ℓ). Returns this party's boolean shares of
/// 1{x_i > y_i} (strictly greater, unsigned).
///
/// Protocol (CrypTFlow2 §3, Algorithm 1; TECHNIQUES.md §7.2): q = ⌈ℓ/m⌉ digits; per digit one
/// 1-out-of-2^w OT (w = m, or ℓ mod m for the top digit; KK13, MpcSession::send_1_of_n) with
/// 2-bit messages giving shares of (gt_j, eq_j); then an AND tree of depth ⌈log2 q⌉
/// (gt = gt_hi ⊕ eq_hi·gt_lo, eq = eq_hi·eq_lo; eq is skipped at the root) with < 2q AND gates per
/// element from bit triples. m = 0 picks millionaire_leaf_bits(ℓ, session back-end); m =
/// kLeafBitsDefault the session's default (see there).
/// Rounds: triples (ROT both ways) + leaf OTs (one round trip per 2^21/2^w OTs) + ⌈log2 q⌉ AND
/// exchanges.
/// Cost per element (IKNP): q·(256 + 2^w·2) bits for the leaves, 2·128 bits per AND gate for the
/// triples, 4 bits per AND gate for the openings. Silent OT: q·(w + 2^w·2) bits for the leaves,
/// 4 bits per AND gate, plus ~0.2 bit per COT of Ferret traffic (ℓ = 36, m = 3: ≈ 312 bits).
/// Errors: kInvalidArgument unless 1 ≤ ℓ ≤ 64, m = kLeafBitsDefault or 0 ≤ m ≤ 8, every input < 2^ℓ.
BoolShares millionaire_gt(MpcSession& s, std::span<const u64> input, int ell,
                          int m = kLeafBitsDefault);

/// AND of shared bit vectors (x.n == y.n) with Beaver triples made from ROT: returns shares of
/// x ∧ y. One ROT batch both ways (2·128 bits per bit) and one exchange (4 bits per bit).
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

/// Multiplexer: shares of b (n bits) and of x (n elements over Z_{2^ℓ}) → shares of b·x.
/// Two additive COT_ℓ per element, one per direction: for the server's share x_0, the server sends
/// with correlation (1 − 2b_0)·x_0 and the client chooses with b_1, since
/// (b_0 ⊕ b_1)·x_0 = b_0·x_0 + b_1·(1 − 2b_0)·x_0; symmetrically for x_1 (CrypTFlow2 §3 "MUX",
/// here in its COT form). Errors: kInvalidArgument when b.n != x.v.size().
ArithShares mux(MpcSession& s, const BoolShares& b, const ArithShares& x);

/// ReLU(x) = DReLU(x)·x via the multiplexer (TECHNIQUES.md §7.3), 2 ≤ ℓ ≤ 64, n = x.v.size().
/// Optionally returns the DReLU shares (the sign bits are reused by later layers, §7.5).
/// Cost: millionaire on ℓ−1 bits + 2 COT_ℓ per element (ℓ = 37: 6822 bits with IKNP, 404 silent).
ArithShares relu(MpcSession& s, const ArithShares& x, int m = kLeafBitsDefault,
                 BoolShares* drelu_out = nullptr);

}  // namespace peregrine::mpc
