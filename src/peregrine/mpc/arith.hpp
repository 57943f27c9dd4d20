// Products on arithmetic shares over Z_{2^ℓ} from correlated OT: share × share, the square,
// the x²+x activation, and matrix products with server-known low-bit weights
// (TECHNIQUES.md §4.5, §5.3, §7; DESIGN.md §3).
//
// The cross term of a product of two privately held values u (party A) and v (party B) uses
// Gilboa's method ("Two party RSA key generation", CRYPTO 1999, §3) on additive COT (derived.hpp):
// for each bit j of v, one COT_{ℓ−j} with B choosing by bit j and A's correlation u mod 2^{ℓ−j};
// 2^j·(r + v_j·u) summed over j gives shares of u·v mod 2^ℓ. Cost: Σ_j (128 + ℓ − j) bits
// (IKNP) = 128·ℓ + ℓ(ℓ+1)/2 bits per cross term; with silent OT ℓ + ℓ(ℓ+1)/2 (+ ~0.2·ℓ).
//
// Common rules: as nonlinear.hpp (batched over n, matching calls on both sides, semi-honest,
// kInvalidArgument before any traffic, channel errors when the peer goes away). One thread per
// session.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/mpc/truncation.hpp"

namespace peregrine::mpc {

/// Elementwise x·y mod 2^ℓ (same ring, same n). Two Gilboa cross terms (x_0·y_1 and x_1·y_0), one
/// per OT direction. Errors: kInvalidArgument on ring or size mismatch, or a share ≥ 2^ℓ.
ArithShares mul(MpcSession& s, const ArithShares& x, const ArithShares& y);

/// Elementwise x² mod 2^ℓ: x_0² + x_1² locally plus 2·x_0·x_1 from one Gilboa cross term.
ArithShares square(MpcSession& s, const ArithShares& x);

/// The x²+x activation at scale 2^f (DESIGN.md §3): x holds round(X·2^f); returns
/// floor((x² + 2^f·x) / 2^f) = the exact arithmetic shift, i.e. round((X² + X)·2^f) up to the
/// floor. Requires |x² + 2^f·x| < 2^{ℓ−1} (no wrap; the caller's range plan). Square + local add +
/// exact truncation (truncate, TruncMode::kExact). Errors: kInvalidArgument unless 1 ≤ f < ℓ.
ArithShares square_plus_x(MpcSession& s, const ArithShares& x, int f);

/// Z = W·V mod 2^ℓ with W [M][K] known to the server only (signed integers of wbits bits,
/// −2^{wbits−1} ≤ w < 2^{wbits−1}) and V [K][P] shared (P = v.v.size() / K); returns shares of
/// Z [M][P] row-major. The server computes W·V_0 locally; W·V_1 uses one vector COT per weight
/// bit (M·K·wbits COTs, server = receiver choosing by the bit, client = sender with correlation
/// β_j·V_1[k, :], β_j = 2^j and −2^{wbits−1} for the sign bit), each carrying P·(ℓ − j) bits
/// (TECHNIQUES.md §4.5, reconstruction in the style of SiRNN). Cost: M·K·Σ_j (128 + P·(ℓ−j)) bits.
/// The client passes an empty `w`. Errors: kInvalidArgument on shape mismatch, wbits ∉ [1, 32],
/// a weight outside the wbits range, or a share ≥ 2^ℓ.
ArithShares matmul_server_weights(MpcSession& s, std::span<const std::int64_t> w, std::size_t M,
                                  std::size_t K, const ArithShares& v, int wbits);

/// One GEMM of a batch: the server's W [M][K] (empty on the client), the shared V [K][P], W's width.
struct ServerWeightGemm {
  std::span<const std::int64_t> w;
  const ArithShares* v = nullptr;
  int wbits = 1;
};

/// Several GEMMs of one shape (M, K, P, ring) at once, e.g. the α² positions of a Winograd conv:
/// the same products and bytes as matmul_server_weights on each, but one COT batch per weight bit
/// across all of them (max wbits exchanges instead of Σ wbits). Returns the Z of each, in order.
/// Errors: as matmul_server_weights, and kInvalidArgument for an empty batch or V of another size
/// or ring.
std::vector<ArithShares> matmul_server_weights_batch(MpcSession& s, std::span<const ServerWeightGemm> gemms,
                                                     std::size_t M, std::size_t K);

}  // namespace peregrine::mpc
