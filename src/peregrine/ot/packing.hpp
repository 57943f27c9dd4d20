// Helpers of the ot layer: l-bit values packed LSB-first, the wire format of every l-bit
// OT flavour (derived.hpp, kkot.hpp). Only packed_bytes is public; detail:: is internal. Thread-safe (pure functions).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace peregrine::ot {

/// Bytes of n values of l bits packed LSB-first (the wire format of the l-bit flavours).
constexpr std::size_t packed_bytes(std::size_t n, int l) noexcept {
  return (n * static_cast<std::size_t>(l) + 7) / 8;
}

namespace detail {

/// All-ones in the low l bits, 1 ≤ l ≤ 64.
constexpr std::uint64_t mask_of(int l) noexcept {
  return l >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << l) - 1;
}

/// Writes `count` values of l bits LSB-first into out (packed_bytes(count, l) bytes).
inline void pack_values(const std::uint64_t* v, std::size_t count, int l, std::uint8_t* out) noexcept {
  const std::size_t nbytes = packed_bytes(count, l);
  std::memset(out, 0, nbytes);
  const std::uint64_t mask = mask_of(l);
  std::size_t bit = 0;
  for (std::size_t i = 0; i < count; ++i, bit += static_cast<std::size_t>(l)) {
    const unsigned __int128 w = static_cast<unsigned __int128>(v[i] & mask) << (bit % 8);
    const std::size_t nb = (bit % 8 + static_cast<std::size_t>(l) + 7) / 8;
    std::uint8_t* o = out + bit / 8;
    for (std::size_t k = 0; k < nb; ++k) o[k] |= static_cast<std::uint8_t>(w >> (8 * k));
  }
}

/// Reads value `index` of l bits from a packed buffer of `nbytes` bytes (index in range).
inline std::uint64_t extract_value(const std::uint8_t* in, std::size_t nbytes, std::size_t index, int l) noexcept {
  const std::size_t bit = index * static_cast<std::size_t>(l);
  const std::size_t first = bit / 8;
  const std::size_t nb =
      std::min<std::size_t>((bit % 8 + static_cast<std::size_t>(l) + 7) / 8, nbytes - first);
  unsigned __int128 w = 0;
  for (std::size_t k = 0; k < nb; ++k) w |= static_cast<unsigned __int128>(in[first + k]) << (8 * k);
  return static_cast<std::uint64_t>(w >> (bit % 8)) & mask_of(l);
}

/// Grows v to at least n elements (scratch buffers reused across calls).
template <class V>
void grow(V& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace detail
}  // namespace peregrine::ot
