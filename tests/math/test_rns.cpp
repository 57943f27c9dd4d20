#include <gtest/gtest.h>

#include "peregrine/core/prg.hpp"
#include "peregrine/math/primes.hpp"
#include "peregrine/math/rns.hpp"

using namespace peregrine;
using namespace peregrine::math;

namespace {
Prg test_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  s[2] = 0x33;
  return Prg::from_seed(s);
}
RnsPoly random_rns(Prg& prg, const RnsBase& b) {
  RnsPoly p(b.n(), b.size());
  for (std::size_t i = 0; i < b.size(); ++i)
    for (std::size_t j = 0; j < b.n(); ++j) p.comp(i)[j] = prg.uniform_below(b.mod(i).value);
  return p;
}
}  // namespace

TEST(Rns, CrtComposeRecoversSmallSignedValues) {
  const std::size_t n = 64;
  RnsBase base(n, generate_primes(50, 3, 2 * n));
  RnsPoly p(n, 3);
  const std::int64_t vals[] = {0, 1, -1, 123456789, -987654321, INT64_MAX, INT64_MIN + 1};
  for (std::size_t j = 0; j < std::size(vals); ++j) set_signed(p, j, vals[j], base);
  for (std::size_t j = 0; j < std::size(vals); ++j) {
    BigUInt x = crt_compose(p, j, base);
    if (vals[j] >= 0) {
      EXPECT_EQ(x, BigUInt(static_cast<u64>(vals[j])));
    } else {
      BigUInt q = base.q();
      q.sub(x);
      EXPECT_EQ(q, BigUInt(static_cast<u64>(-vals[j])));
    }
  }
}

TEST(Rns, CrtComposeMatchesResidues) {
  const std::size_t n = 32;
  RnsBase base(n, generate_primes(61, 4, 2 * n));
  Prg prg = test_prg(1);
  RnsPoly p = random_rns(prg, base);
  for (std::size_t j = 0; j < n; ++j) {
    BigUInt x = crt_compose(p, j, base);
    EXPECT_LT(x, base.q());
    for (std::size_t i = 0; i < base.size(); ++i) EXPECT_EQ(x.mod_u64(base.mod(i).value), p.comp(i)[j]);
  }
}

TEST(Rns, NttRoundTripAndProduct) {
  const std::size_t n = 128;
  RnsBase base(n, generate_primes(45, 3, 2 * n));
  Prg prg = test_prg(2);
  RnsPoly a = random_rns(prg, base), b = random_rns(prg, base);
  RnsPoly a0 = a;
  to_ntt(a, base);
  EXPECT_TRUE(a.ntt_form);
  from_ntt(a, base);
  EXPECT_EQ(a, a0);
  // (a · X^5) computed by NTT product equals multiply_monomial.
  RnsPoly mono(n, 3);
  set_signed(mono, 5, 1, base);
  RnsPoly an = a, mn = mono;
  to_ntt(an, base);
  to_ntt(mn, base);
  mul_inplace(an, mn, base);
  from_ntt(an, base);
  EXPECT_EQ(an, multiply_monomial(a, 5, base));
  // X^N = −1: multiplying by X^N negates.
  RnsPoly neg = a;
  negate_inplace(neg, base);
  EXPECT_EQ(multiply_monomial(a, n, base), neg);
  // Mixed forms are refused.
  to_ntt(b, base);
  EXPECT_THROW(add_inplace(a, b, base), Error);
}

TEST(Rns, AutomorphismsComposeAndCommuteWithNtt) {
  const std::size_t n = 256;
  RnsBase base(n, generate_primes(50, 2, 2 * n));
  Prg prg = test_prg(3);
  RnsPoly a = random_rns(prg, base);
  for (std::size_t g : {3u, 5u, 9u, 2 * 256 - 1u, 27u}) {
    for (std::size_t h : {3u, 7u, 2 * 256 - 1u}) {
      // σ_h(σ_g(a)) = σ_{g·h}(a)
      RnsPoly c1 = automorphism(automorphism(a, g, base), h, base);
      RnsPoly c2 = automorphism(a, (g * h) % (2 * n), base);
      ASSERT_EQ(c1, c2);
      // NTT-form automorphism agrees with coefficient form.
      RnsPoly an = a;
      to_ntt(an, base);
      RnsPoly bn = automorphism(an, g, base);
      from_ntt(bn, base);
      ASSERT_EQ(bn, automorphism(a, g, base));
    }
  }
  // Identity, and X^(N/2) → X^(3N/2) = −X^(N/2) under g = 3.
  EXPECT_EQ(automorphism(a, 1, base), a);
  RnsPoly x(n, 2);
  set_signed(x, n / 2, 1, base);
  RnsPoly y = automorphism(x, 3, base);
  EXPECT_EQ(y.comp(0)[n / 2], base.mod(0).value - 1);
  EXPECT_EQ(y.comp(1)[n / 2], base.mod(1).value - 1);
  EXPECT_THROW(automorphism(a, 4, base), Error);
}
