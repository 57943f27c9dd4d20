// Modular arithmetic for word-sized primes p < 2^61 (Barrett and Shoup reduction).
//
// Conventions: every function states its input and output ranges. "Lazy" variants skip the final
// conditional subtraction and say how far above p their result may be. Hot loops use the Shoup
// forms with a precomputed constant; Barrett serves arbitrary products.
#pragma once
#include <cstdint>

#include "peregrine/core/error.hpp"

namespace peregrine::math {

using u64 = std::uint64_t;
using u128 = unsigned __int128;

/// Largest supported prime width. 4p < 2^63 keeps the lazy NTT ranges in one word.
inline constexpr int kMaxPrimeBits = 61;

/// A modulus p (2 ≤ p < 2^61) with its Barrett constant floor(2^128 / p). Immutable, thread-safe.
struct Modulus {
  u64 value = 0;
  int bits = 0;          ///< bit length of p
  u64 barrett_hi = 0;    ///< high word of floor(2^128 / p)
  u64 barrett_lo = 0;    ///< low word of floor(2^128 / p)

  Modulus() = default;
  /// Throws Error(kInvalidArgument) unless 2 ≤ p < 2^61.
  explicit Modulus(u64 p) : value(p) {
    require(p >= 2 && p < (1ULL << kMaxPrimeBits), ErrorCode::kInvalidArgument,
            "modulus must be in [2, 2^61)");
    bits = 64 - __builtin_clzll(p);
    // floor(2^128 / p) = floor((2^128 - 1) / p) since p is not a power of two or divides exactly.
    const u128 all = ~static_cast<u128>(0);
    u128 r = all / p;
    if ((all % p) + 1 == p) r += 1;  // p divides 2^128 only when p is a power of two
    barrett_hi = static_cast<u64>(r >> 64);
    barrett_lo = static_cast<u64>(r);
  }
};

/// (a + b) mod p for a, b in [0, p). Output in [0, p).
inline u64 add_mod(u64 a, u64 b, u64 p) {
  u64 s = a + b;
  return s >= p ? s - p : s;
}

/// (a − b) mod p for a, b in [0, p). Output in [0, p).
inline u64 sub_mod(u64 a, u64 b, u64 p) {
  return a >= b ? a - b : a + p - b;
}

/// (−a) mod p for a in [0, p). Output in [0, p).
inline u64 neg_mod(u64 a, u64 p) { return a == 0 ? 0 : p - a; }

/// x mod p for any 128-bit x (Barrett with floor(2^128/p)). Output in [0, p).
inline u64 barrett_reduce_128(u128 x, const Modulus& m) {
  const u64 x0 = static_cast<u64>(x), x1 = static_cast<u64>(x >> 64);
  // q = floor(x * floor(2^128/p) / 2^128), computed exactly from the four partial products.
  const u128 lo_lo = static_cast<u128>(x0) * m.barrett_lo;
  const u128 lo_hi = static_cast<u128>(x0) * m.barrett_hi;
  const u128 hi_lo = static_cast<u128>(x1) * m.barrett_lo;
  const u128 mid = (lo_lo >> 64) + static_cast<u64>(lo_hi) + static_cast<u64>(hi_lo);
  const u64 q = static_cast<u64>((lo_hi >> 64) + (hi_lo >> 64) + (mid >> 64)) + x1 * m.barrett_hi;
  // q ≤ x/p < q + 2, so r = x − q·p lies in [0, 2p).
  u64 r = x0 - q * m.value;
  return r >= m.value ? r - m.value : r;
}

/// x mod p for a 64-bit x. Output in [0, p).
inline u64 barrett_reduce_64(u64 x, const Modulus& m) {
  const u64 q = static_cast<u64>((static_cast<u128>(x) * m.barrett_hi) >> 64);
  u64 r = x - q * m.value;  // in [0, 2p)
  return r >= m.value ? r - m.value : r;
}

/// a·b mod p for a, b < 2^64 (any words; typically in [0, p)). Output in [0, p).
inline u64 mul_mod(u64 a, u64 b, const Modulus& m) {
  return barrett_reduce_128(static_cast<u128>(a) * b, m);
}

/// Shoup constant floor(w · 2^64 / p) for a fixed multiplier w in [0, p).
inline u64 shoup_precompute(u64 w, u64 p) {
  return static_cast<u64>((static_cast<u128>(w) << 64) / p);
}

/// Lazy Shoup product: x·w mod p up to one extra p. Inputs: any x < 2^64, w in [0, p),
/// w_shoup = shoup_precompute(w, p). Output in [0, 2p).
inline u64 mul_mod_shoup_lazy(u64 x, u64 w, u64 w_shoup, u64 p) {
  const u64 q = static_cast<u64>((static_cast<u128>(x) * w_shoup) >> 64);
  return x * w - q * p;
}

/// Shoup product x·w mod p. Same inputs as the lazy form. Output in [0, p).
inline u64 mul_mod_shoup(u64 x, u64 w, u64 w_shoup, u64 p) {
  u64 r = mul_mod_shoup_lazy(x, w, w_shoup, p);
  return r >= p ? r - p : r;
}

/// base^e mod p. Output in [0, p).
inline u64 pow_mod(u64 base, u64 e, const Modulus& m) {
  u64 r = 1 % m.value, b = barrett_reduce_64(base, m);
  while (e) {
    if (e & 1) r = mul_mod(r, b, m);
    b = mul_mod(b, b, m);
    e >>= 1;
  }
  return r;
}

/// a^{-1} mod p for prime p and a not ≡ 0 (Fermat). Throws Error(kInvalidArgument) for a ≡ 0.
inline u64 inv_mod(u64 a, const Modulus& m) {
  a = barrett_reduce_64(a, m);
  require(a != 0, ErrorCode::kInvalidArgument, "inverse of zero");
  return pow_mod(a, m.value - 2, m);
}

/// Centred representative of a in [0, p): a if a ≤ p/2, else a − p (as a signed value).
inline std::int64_t centre(u64 a, u64 p) {
  return a > p / 2 ? static_cast<std::int64_t>(a) - static_cast<std::int64_t>(p)
                   : static_cast<std::int64_t>(a);
}

/// A signed value v (|v| < 2^63) reduced into [0, p).
inline u64 from_signed(std::int64_t v, const Modulus& m) {
  if (v >= 0) return barrett_reduce_64(static_cast<u64>(v), m);
  return neg_mod(barrett_reduce_64(static_cast<u64>(-(v + 1)) + 1, m), m.value);
}

}  // namespace peregrine::math
