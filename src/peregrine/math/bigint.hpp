// Small unsigned multi-precision integers for CRT composition (not for hot loops).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "peregrine/math/modarith.hpp"

namespace peregrine::math {

/// Unsigned integer as little-endian 64-bit limbs, normalised (no leading zero limbs).
/// Value type; not thread-safe for concurrent mutation.
class BigUInt {
 public:
  BigUInt() = default;
  explicit BigUInt(u64 v) {
    if (v) limbs_.push_back(v);
  }
  static BigUInt product(const std::vector<u64>& factors);

  bool is_zero() const noexcept { return limbs_.empty(); }
  int bit_length() const noexcept;
  /// Bit `i` (0 = least significant).
  bool bit(int i) const noexcept;
  std::size_t limb_count() const noexcept { return limbs_.size(); }
  u64 limb(std::size_t i) const noexcept { return i < limbs_.size() ? limbs_[i] : 0; }
  /// The low 64 bits.
  u64 low_u64() const noexcept { return limb(0); }

  BigUInt& add(const BigUInt& o);
  /// this −= o; requires this ≥ o (throws Error(kInvalidArgument) otherwise).
  BigUInt& sub(const BigUInt& o);
  BigUInt& mul_u64(u64 m);
  BigUInt& shl(int bits);
  BigUInt& shr(int bits);
  /// this = floor(this / d), returns this mod d. d ≥ 1.
  u64 divmod_u64(u64 d);
  /// this mod d (value unchanged).
  u64 mod_u64(u64 d) const;
  /// This value as a double (rounded; may be inf above ~2^1024).
  double to_double() const noexcept;
  /// Decimal string.
  std::string to_string() const;

  friend int compare(const BigUInt& a, const BigUInt& b) noexcept;
  friend bool operator<(const BigUInt& a, const BigUInt& b) noexcept { return compare(a, b) < 0; }
  friend bool operator>=(const BigUInt& a, const BigUInt& b) noexcept { return compare(a, b) >= 0; }
  friend bool operator==(const BigUInt& a, const BigUInt& b) noexcept { return compare(a, b) == 0; }

 private:
  void trim() {
    while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
  }
  std::vector<u64> limbs_;
};

}  // namespace peregrine::math
