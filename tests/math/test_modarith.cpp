#include <gtest/gtest.h>

#include "peregrine/core/prg.hpp"
#include "peregrine/math/modarith.hpp"
#include "peregrine/math/primes.hpp"

using namespace peregrine;
using namespace peregrine::math;

namespace {
Prg test_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  return Prg::from_seed(s);
}
}  // namespace

TEST(ModArith, BarrettAndShoupMatchWideDivision) {
  Prg prg = test_prg(1);
  for (int bits : {2, 17, 30, 49, 50, 52, 59, 60, 61}) {
    u64 p = bits >= 20 ? generate_primes(bits, 1, 1ULL << 14)[0] : ((1ULL << bits) - 1);
    if (bits == 2) p = 3;
    Modulus m(p);
    for (int i = 0; i < 20000; ++i) {
      const u64 a = prg.uniform_below(p), b = prg.uniform_below(p);
      const u128 x = (static_cast<u128>(prg.next_u64()) << 64) | prg.next_u64();
      ASSERT_EQ(barrett_reduce_128(x, m), static_cast<u64>(x % p));
      const u64 y = prg.next_u64();
      ASSERT_EQ(barrett_reduce_64(y, m), y % p);
      const u64 ref = static_cast<u64>(static_cast<u128>(a) * b % p);
      ASSERT_EQ(mul_mod(a, b, m), ref);
      const u64 ws = shoup_precompute(b, p);
      ASSERT_EQ(mul_mod_shoup(a, b, ws, p), ref);
      // Lazy form: any 64-bit input, output in [0, 2p) and congruent.
      const u64 lz = mul_mod_shoup_lazy(y, b, ws, p);
      ASSERT_LT(lz, 2 * p);
      ASSERT_EQ(lz % p, static_cast<u64>(static_cast<u128>(y) * b % p));
      ASSERT_EQ(add_mod(a, b, p), (a + b) % p);
      ASSERT_EQ(sub_mod(a, b, p), (a + p - b) % p);
    }
    // Edge values.
    EXPECT_EQ(barrett_reduce_128(~static_cast<u128>(0), m), static_cast<u64>(~static_cast<u128>(0) % p));
    EXPECT_EQ(mul_mod(p - 1, p - 1, m), 1u);
    EXPECT_EQ(neg_mod(0, p), 0u);
    EXPECT_EQ(from_signed(-1, m), p - 1);
    const u64 two63 = static_cast<u64>((static_cast<u128>(1) << 63) % p);
    EXPECT_EQ(from_signed(INT64_MIN, m), (p - two63) % p);
    if (p > 2) {
      EXPECT_EQ(mul_mod(inv_mod(p - 2, m), p - 2, m), 1u);
    }
  }
}

TEST(ModArith, ModulusRejectsOutOfRange) {
  EXPECT_THROW(Modulus(1), Error);
  EXPECT_THROW(Modulus(1ULL << 61), Error);
  EXPECT_NO_THROW(Modulus((1ULL << 61) - 1));
}

TEST(Primes, MillerRabinKnownValues) {
  EXPECT_TRUE(is_prime(2));
  EXPECT_TRUE(is_prime((1ULL << 61) - 1));         // Mersenne prime
  EXPECT_FALSE(is_prime(3215031751ULL));           // strong pseudoprime to bases 2,3,5,7
  EXPECT_FALSE(is_prime(3825123056546413051ULL));  // strong pseudoprime to bases up to 23
  EXPECT_FALSE(is_prime(1));
  EXPECT_FALSE(is_prime((1ULL << 61) + 1));
}

TEST(Primes, GeneratedPrimesAreNttFriendlyAndDistinct) {
  for (u64 two_n : {4096ULL, 8192ULL, 65536ULL}) {
    auto ps = generate_primes(50, 4, two_n);
    for (std::size_t i = 0; i < ps.size(); ++i) {
      EXPECT_TRUE(is_prime(ps[i]));
      EXPECT_EQ(ps[i] % two_n, 1u);
      EXPECT_EQ(64 - __builtin_clzll(ps[i]), 50);
      if (i) {
        EXPECT_LT(ps[i], ps[i - 1]);
      }
    }
  }
  // Cheetah's rule q_i ≡ 1 (mod 2^37) (TECHNIQUES.md §0.3): primes of 49 and 60 bits exist.
  EXPECT_EQ(generate_primes(60, 1, 1ULL << 37)[0] % (1ULL << 37), 1u);
  EXPECT_EQ(generate_primes(49, 1, 1ULL << 37)[0] % (1ULL << 37), 1u);
  EXPECT_THROW(generate_primes(12, 1, 1ULL << 13), Error);
}

TEST(Primes, MinimalPrimitiveRootHasExactOrder) {
  const u64 p = generate_primes(40, 1, 1 << 12)[0];
  Modulus m(p);
  const u64 r = minimal_primitive_root(1 << 12, m);
  EXPECT_EQ(pow_mod(r, 1 << 11, m), p - 1);
  EXPECT_EQ(pow_mod(r, 1 << 12, m), 1u);
  for (u64 q : generate_primes(40, 64, 1 << 4)) {
    if (q % (1 << 12) != 1) {
      EXPECT_THROW(minimal_primitive_root(1 << 12, Modulus(q)), Error);
      break;
    }
  }
}
