// NTT-friendly primes and roots of unity.
#pragma once
#include <cstdint>
#include <vector>

#include "peregrine/math/modarith.hpp"

namespace peregrine::math {

/// Deterministic Miller–Rabin primality test, exact for all 64-bit n. Thread-safe.
bool is_prime(u64 n);

/// The `count` largest primes p < 2^bits with p ≡ 1 (mod congruence) and p ≥ 2^(bits−1), in
/// decreasing order, skipping any listed in `exclude`.
/// `congruence` is 2N for NTT-friendliness, or lcm(2N, 2^ℓ) for Cheetah's q_i ≡ 1 (mod 2^ℓ) rule
/// (TECHNIQUES.md §0.3). Requires 2 ≤ bits ≤ 61 and congruence a power of two.
/// Throws Error(kInvalidArgument) on bad arguments or when fewer than `count` primes exist.
std::vector<u64> generate_primes(int bits, std::size_t count, u64 congruence,
                                 const std::vector<u64>& exclude = {});

/// The smallest primitive 2N-th root of unity modulo prime p (N a power of two, p ≡ 1 mod 2N).
/// The smallest is taken so that both parties derive identical NTT tables (and slot orders).
/// Throws Error(kInvalidArgument) when p is not ≡ 1 (mod 2N).
u64 minimal_primitive_root(u64 two_n, const Modulus& p);

}  // namespace peregrine::math
