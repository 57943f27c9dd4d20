// Internal helpers shared by the fixed-point lowering, reference executor and plan serialisation
// (nn/fixed_*.cpp); not a public header.
#pragma once
#include <cmath>
#include <cstdint>

namespace peregrine::nn::fixed_detail {

using I64 = std::int64_t;
using u64 = std::uint64_t;

inline std::size_t at(I64 v) { return static_cast<std::size_t>(v); }

/// Bits needed for a signed integer of magnitude m (sign bit included).
inline int signed_bits(double m) {
  if (!(m >= 1.0)) return 1;
  return static_cast<int>(std::floor(std::log2(m))) + 2;
}

/// Mask of a ring of `bits` bits (1 ≤ bits ≤ 64).
inline u64 ring_mask(int bits) { return bits >= 64 ? ~u64{0} : ((u64{1} << bits) - 1); }

}  // namespace peregrine::nn::fixed_detail
