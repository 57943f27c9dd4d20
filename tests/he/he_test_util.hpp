// Shared helpers for the he tests: deterministic PRGs and small parameter sets.
#pragma once
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/he/params.hpp"
#include "peregrine/math/primes.hpp"

namespace peregrine::he::test {

/// A deterministic generator for tests (never for real secrets).
inline Prg test_prg(std::uint8_t tag) {
  Seed s{};
  s[0] = tag;
  s[31] = 0xA5;
  return Prg::from_seed(s);
}

/// Parameters with `k` data primes of `bits` bits (≡ 1 mod 2N, and ≡ 1 mod `congruence` if
/// given), an optional special prime, plaintext modulus t. Small N uses the test-only opt-in.
inline HeParamsPtr make_params(std::size_t n, int bits, std::size_t k, u64 t, bool special = false,
                               u64 congruence = 0) {
  ParamsSpec s;
  s.n = n;
  const u64 c = congruence ? congruence : 2 * n;
  auto primes = math::generate_primes(bits, k + (special ? 1 : 0), c < 2 * n ? 2 * n : c);
  if (special) {
    s.special_prime = primes.front();  // the largest as P ≥ every q_i
    primes.erase(primes.begin());
  }
  s.coeff_primes = primes;
  s.plain_modulus = t;
  s.security = Security::kInsecureForTestsOnly;
  return HeParams::create(s);
}

/// A batching prime t ≡ 1 (mod 2N) of `bits` bits.
inline u64 batch_prime(std::size_t n, int bits) { return math::generate_primes(bits, 1, 2 * n)[0]; }

/// Negacyclic product of two plaintext polynomials mod t with centred lifts (reference).
inline std::vector<u64> negacyclic_mod_t(const std::vector<u64>& a, const std::vector<u64>& b, u64 t) {
  const std::size_t n = a.size();
  std::vector<u64> r(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] == 0) continue;
    for (std::size_t j = 0; j < n; ++j) {
      if (b[j] == 0) continue;
      const u64 prod = static_cast<u64>((static_cast<unsigned __int128>(a[i]) * b[j]) % t);
      const std::size_t k = i + j;
      if (k < n)
        r[k] = (r[k] + prod) % t;
      else
        r[k - n] = (r[k - n] + t - prod) % t;
    }
  }
  return r;
}

}  // namespace peregrine::he::test
