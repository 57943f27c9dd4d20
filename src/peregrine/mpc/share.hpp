// Additive secret shares over Z_{2^ℓ} and bit-packed boolean shares (TECHNIQUES.md §0.2).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/core/error.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/net/channel.hpp"

namespace peregrine::mpc {

using u64 = std::uint64_t;

/// The ring Z_{2^ℓ} for 1 ≤ ℓ ≤ 64, values stored in the low ℓ bits of a u64.
/// Immutable value type; thread-safe.
struct Ring {
  int bits = 64;
  u64 mask = ~0ULL;

  Ring() = default;
  /// Throws Error(kInvalidArgument) unless 1 ≤ ℓ ≤ 64.
  explicit Ring(int ell) : bits(ell) {
    require(ell >= 1 && ell <= 64, ErrorCode::kInvalidArgument, "ring bits must be in [1, 64]");
    mask = ell == 64 ? ~0ULL : ((1ULL << ell) - 1);
  }
  u64 reduce(u64 x) const noexcept { return x & mask; }
  /// Two's-complement value of x in [−2^{ℓ−1}, 2^{ℓ−1}).
  std::int64_t centred(u64 x) const noexcept {
    x &= mask;
    if (bits == 64) return static_cast<std::int64_t>(x);
    return (x >> (bits - 1)) ? static_cast<std::int64_t>(x | ~mask) : static_cast<std::int64_t>(x);
  }
  /// Most significant bit (the sign bit) of x.
  int msb(u64 x) const noexcept { return static_cast<int>((x >> (bits - 1)) & 1); }
  friend bool operator==(const Ring&, const Ring&) = default;
};

/// One party's additive shares of a vector over a ring: x = x_0 + x_1 (mod 2^ℓ) elementwise.
/// Value type; not thread-safe for concurrent mutation.
struct ArithShares {
  Ring ring;
  std::vector<u64> v;  ///< each in [0, 2^ℓ)
};

/// One party's XOR shares of n bits, packed 64 per word (bit i at word i/64, position i%64;
/// unused high bits of the last word are zero).
struct BoolShares {
  std::size_t n = 0;
  std::vector<u64> words;

  BoolShares() = default;
  explicit BoolShares(std::size_t count) : n(count), words((count + 63) / 64, 0) {}
  int get(std::size_t i) const noexcept { return static_cast<int>((words[i >> 6] >> (i & 63)) & 1); }
  void set(std::size_t i, int b) noexcept {
    words[i >> 6] = (words[i >> 6] & ~(1ULL << (i & 63))) | (static_cast<u64>(b & 1) << (i & 63));
  }
};

/// Which side of the protocol this process plays. Party 0 is the server, 1 the client by convention.
enum class Party : int { kServer = 0, kClient = 1 };

/// Throws Error(kInvalidArgument, what) unless every value of v is below 2^ℓ (v & ~mask == 0):
/// the input check of every protocol on shares, done before any traffic.
void require_in_ring(std::span<const u64> v, u64 mask, const char* what);
/// The same check on a share vector against its own ring.
inline void require_in_ring(const ArithShares& x, const char* what) { require_in_ring(x.v, x.ring.mask, what); }

// ---- local operations (no communication) --------------------------------------------------
// All throw Error(kInvalidArgument) on a ring or length mismatch.

ArithShares add(const ArithShares& a, const ArithShares& b);
ArithShares sub(const ArithShares& a, const ArithShares& b);
/// a · c for a public constant c (mod 2^ℓ).
ArithShares mul_public(const ArithShares& a, u64 c);
/// a + c for a public constant c: only the server's share changes.
ArithShares add_public(const ArithShares& a, u64 c, Party me);
/// Splits x (each < 2^ℓ) into two uniform shares: returns (x − r, r) with r from `prg`.
std::pair<ArithShares, ArithShares> split(const Ring& ring, std::span<const u64> x, Prg& prg);
/// x_0 + x_1 (mod 2^ℓ).
std::vector<u64> reconstruct(const ArithShares& a, const ArithShares& b);

// ---- communication ------------------------------------------------------------------------

/// Sends my shares to the peer (who calls reveal_receive); 1 message, ⌈n·ℓ/8⌉ bytes bit-packed.
void reveal_send(net::Channel& ch, const ArithShares& mine);
/// Receives the peer's shares of `mine` and returns the opened values.
/// Errors: Error(kMalformedInput) on a short or malformed message, net errors from the channel.
std::vector<u64> reveal_receive(net::Channel& ch, const ArithShares& mine);
/// Both parties learn x: each sends its shares, then receives the peer's.
std::vector<u64> reveal_both(net::Channel& ch, const ArithShares& mine);

}  // namespace peregrine::mpc
