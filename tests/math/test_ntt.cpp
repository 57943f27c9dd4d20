#include <gtest/gtest.h>

#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/math/ntt.hpp"
#include "peregrine/math/primes.hpp"

using namespace peregrine;
using namespace peregrine::math;

namespace {
Prg test_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  s[1] = 0x17;
  return Prg::from_seed(s);
}

std::vector<u64> schoolbook_negacyclic(const std::vector<u64>& a, const std::vector<u64>& b,
                                       const Modulus& m) {
  const std::size_t n = a.size();
  std::vector<u64> c(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const u64 prod = mul_mod(a[i], b[j], m);
      const std::size_t k = i + j;
      if (k < n)
        c[k] = add_mod(c[k], prod, m.value);
      else
        c[k - n] = sub_mod(c[k - n], prod, m.value);
    }
  return c;
}

AlignedU64 random_poly(Prg& prg, std::size_t n, u64 bound) {
  AlignedU64 v(n);
  for (auto& x : v) x = prg.uniform_below(bound);
  return v;
}
}  // namespace

TEST(Ntt, ProductEqualsSchoolbookNegacyclic) {
  Prg prg = test_prg(2);
  for (std::size_t n : {2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u}) {
    for (int bits : {20, 36, 49, 50, 55, 60, 61}) {
      for (u64 p : generate_primes(bits, 2, 2 * n < 16384 ? 16384 : 2 * n)) {
        NttTables tb(n, Modulus(p));
        auto a = random_poly(prg, n, p), b = random_poly(prg, n, p);
        std::vector<u64> av(a.begin(), a.end()), bv(b.begin(), b.end());
        const auto ref = schoolbook_negacyclic(av, bv, tb.mod);
        ntt_forward(a.data(), tb);
        ntt_forward(b.data(), tb);
        for (std::size_t i = 0; i < n; ++i) a[i] = mul_mod(a[i], b[i], tb.mod);
        ntt_inverse(a.data(), tb);
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(a[i], ref[i]) << "n=" << n << " p=" << p;
      }
    }
  }
}

TEST(Ntt, OutputIsBitReversedEvaluation) {
  const std::size_t n = 64;
  const u64 p = generate_primes(45, 1, 2 * n)[0];
  NttTables tb(n, Modulus(p));
  Prg prg = test_prg(3);
  auto a = random_poly(prg, n, p);
  auto e = a;
  ntt_forward(e.data(), tb);
  for (std::size_t j = 0; j < n; ++j) {
    const u64 x = pow_mod(tb.psi, 2 * bit_reverse(j, tb.log_n) + 1, tb.mod);
    u64 acc = 0, pw = 1;
    for (std::size_t i = 0; i < n; ++i) {
      acc = add_mod(acc, mul_mod(a[i], pw, tb.mod), p);
      pw = mul_mod(pw, x, tb.mod);
    }
    ASSERT_EQ(e[j], acc);
  }
}

TEST(Ntt, RoundTripAndRanges) {
  Prg prg = test_prg(4);
  for (int logn = 11; logn <= 15; ++logn) {
    const std::size_t n = std::size_t{1} << logn;
    for (int bits : {30, 50, 60, 61}) {
      const u64 p = generate_primes(bits, 1, 2 * n)[0];
      NttTables tb(n, Modulus(p));
      auto a = random_poly(prg, n, p);
      // Edge coefficients: 0, 1, p−1.
      a[0] = 0;
      a[1] = 1;
      a[2] = p - 1;
      const auto orig = a;
      ntt_forward(a.data(), tb);
      for (u64 x : a) ASSERT_LT(x, p);
      ntt_inverse(a.data(), tb);
      ASSERT_EQ(a, orig) << "logn=" << logn << " bits=" << bits;
    }
  }
}

// Every vector path must equal the scalar reference bit for bit, for every N and several primes,
// including inputs at the top of the accepted lazy range.
TEST(Ntt, VectorPathsEqualScalar) {
  Prg prg = test_prg(5);
  int checked = 0;
  for (int logn = 4; logn <= 15; ++logn) {
    const std::size_t n = std::size_t{1} << logn;
    for (int bits : {30, 40, 49, 50, 52, 59, 60, 61}) {
      for (u64 p : generate_primes(bits, 2, 2 * n)) {
        NttTables tb(n, Modulus(p));
        for (SimdPath path : {SimdPath::kAvx2, SimdPath::kAvx512Ifma}) {
          if (!ntt_path_available(tb, path)) continue;
          auto a = random_poly(prg, n, p);
          a[0] = p - 1;
          a[n - 1] = p - 1;
          auto ref = a, vec = a;
          ntt_forward_scalar(ref.data(), tb);
          ntt_forward(vec.data(), tb, path);
          ASSERT_EQ(vec, ref) << simd_path_name(path) << " forward n=" << n << " p=" << p;
          ntt_inverse_scalar(ref.data(), tb);
          ntt_inverse(vec.data(), tb, path);
          ASSERT_EQ(vec, ref) << simd_path_name(path) << " inverse n=" << n << " p=" << p;
          ASSERT_EQ(vec, a);
          ++checked;
        }
      }
    }
  }
  if (!cpu_supports(SimdPath::kAvx2)) GTEST_SKIP() << "no vector path on this CPU";
  EXPECT_GT(checked, 0);
}

TEST(Ntt, RejectsBadParameters) {
  EXPECT_THROW(NttTables(12, Modulus(generate_primes(40, 1, 64)[0])), Error);
  // p not ≡ 1 mod 2N.
  EXPECT_THROW(NttTables(1 << 12, Modulus(generate_primes(40, 1, 1 << 4)[0] == 0 ? 3 : 97)), Error);
  NttTables tb(1 << 12, Modulus(generate_primes(55, 1, 1 << 13)[0]));
  EXPECT_FALSE(ntt_path_available(tb, SimdPath::kAvx512Ifma));  // 55-bit prime: no IFMA
  u64 dummy[1 << 12] = {};
  EXPECT_THROW(ntt_forward(dummy, tb, SimdPath::kAvx512Ifma), Error);
}
