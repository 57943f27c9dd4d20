// Samplers for secrets, errors and uniform polynomials. All randomness comes from a Prg
// (secrets: a Prg made by Prg::from_os()). Internal to the he layer.
#pragma once
#include <cstdint>
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/math/rns.hpp"

namespace peregrine::he::detail {

/// N values uniform in {−1, 0, 1} (rejection on bytes, no bias).
std::vector<std::int8_t> sample_ternary(Prg& prg, std::size_t n);
/// N values from the centred binomial distribution with η = 21 (σ ≈ 3.24, |e| ≤ 21).
std::vector<std::int8_t> sample_cbd21(Prg& prg, std::size_t n);
/// Lifts small signed values into the first k primes of `base` (coefficient form).
math::RnsPoly lift_small(const std::vector<std::int8_t>& v, const math::RnsBase& base, std::size_t k);
/// The first k RNS components of p (same form): p restricted to a lower level.
math::RnsPoly prefix(const math::RnsPoly& p, std::size_t k);
/// A polynomial uniform modulo each of the first k primes of `base`, marked NTT form (a uniform
/// polynomial is uniform in either form). Deterministic given the Prg state.
math::RnsPoly sample_uniform(Prg& prg, const math::RnsBase& base, std::size_t k);

}  // namespace peregrine::he::detail
