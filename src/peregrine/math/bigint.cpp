#include "peregrine/math/bigint.hpp"

#include <algorithm>
#include <cmath>

namespace peregrine::math {

BigUInt BigUInt::product(const std::vector<u64>& factors) {
  BigUInt r(1);
  for (u64 f : factors) r.mul_u64(f);
  return r;
}

int BigUInt::bit_length() const noexcept {
  if (limbs_.empty()) return 0;
  return static_cast<int>(64 * (limbs_.size() - 1)) + 64 - __builtin_clzll(limbs_.back());
}

bool BigUInt::bit(int i) const noexcept {
  const std::size_t l = static_cast<std::size_t>(i) / 64;
  return l < limbs_.size() && ((limbs_[l] >> (i % 64)) & 1);
}

BigUInt& BigUInt::add(const BigUInt& o) {
  if (o.limbs_.size() > limbs_.size()) limbs_.resize(o.limbs_.size(), 0);
  u64 carry = 0;
  for (std::size_t i = 0; i < limbs_.size(); ++i) {
    const u128 s = static_cast<u128>(limbs_[i]) + o.limb(i) + carry;
    limbs_[i] = static_cast<u64>(s);
    carry = static_cast<u64>(s >> 64);
  }
  if (carry) limbs_.push_back(carry);
  return *this;
}

BigUInt& BigUInt::sub(const BigUInt& o) {
  require(compare(*this, o) >= 0, ErrorCode::kInvalidArgument, "BigUInt::sub would go negative");
  u64 borrow = 0;
  for (std::size_t i = 0; i < limbs_.size(); ++i) {
    const u64 b = o.limb(i);
    const u64 d = limbs_[i] - b - borrow;
    borrow = (limbs_[i] < b) || (limbs_[i] - b < borrow);
    limbs_[i] = d;
  }
  trim();
  return *this;
}

BigUInt& BigUInt::mul_u64(u64 m) {
  u64 carry = 0;
  for (auto& l : limbs_) {
    const u128 p = static_cast<u128>(l) * m + carry;
    l = static_cast<u64>(p);
    carry = static_cast<u64>(p >> 64);
  }
  if (carry) limbs_.push_back(carry);
  trim();
  return *this;
}

BigUInt& BigUInt::shl(int bits) {
  if (limbs_.empty() || bits == 0) return *this;
  const std::size_t whole = static_cast<std::size_t>(bits) / 64;
  const int part = bits % 64;
  limbs_.insert(limbs_.begin(), whole, 0);
  if (part) {
    u64 carry = 0;
    for (std::size_t i = whole; i < limbs_.size(); ++i) {
      const u64 nc = limbs_[i] >> (64 - part);
      limbs_[i] = (limbs_[i] << part) | carry;
      carry = nc;
    }
    if (carry) limbs_.push_back(carry);
  }
  return *this;
}

BigUInt& BigUInt::shr(int bits) {
  const std::size_t whole = static_cast<std::size_t>(bits) / 64;
  const int part = bits % 64;
  if (whole >= limbs_.size()) {
    limbs_.clear();
    return *this;
  }
  limbs_.erase(limbs_.begin(), limbs_.begin() + static_cast<std::ptrdiff_t>(whole));
  if (part) {
    for (std::size_t i = 0; i < limbs_.size(); ++i) {
      const u64 hi = i + 1 < limbs_.size() ? limbs_[i + 1] << (64 - part) : 0;
      limbs_[i] = (limbs_[i] >> part) | hi;
    }
  }
  trim();
  return *this;
}

u64 BigUInt::divmod_u64(u64 d) {
  require(d != 0, ErrorCode::kInvalidArgument, "division by zero");
  u128 rem = 0;
  for (std::size_t i = limbs_.size(); i-- > 0;) {
    const u128 cur = (rem << 64) | limbs_[i];
    limbs_[i] = static_cast<u64>(cur / d);
    rem = cur % d;
  }
  trim();
  return static_cast<u64>(rem);
}

u64 BigUInt::mod_u64(u64 d) const {
  BigUInt c = *this;
  return c.divmod_u64(d);
}

double BigUInt::to_double() const noexcept {
  double r = 0;
  for (std::size_t i = limbs_.size(); i-- > 0;) r = r * 18446744073709551616.0 + static_cast<double>(limbs_[i]);
  return r;
}

std::string BigUInt::to_string() const {
  if (limbs_.empty()) return "0";
  BigUInt c = *this;
  std::string s;
  while (!c.is_zero()) s.push_back(static_cast<char>('0' + c.divmod_u64(10)));
  std::reverse(s.begin(), s.end());
  return s;
}

int compare(const BigUInt& a, const BigUInt& b) noexcept {
  if (a.limbs_.size() != b.limbs_.size()) return a.limbs_.size() < b.limbs_.size() ? -1 : 1;
  for (std::size_t i = a.limbs_.size(); i-- > 0;) {
    if (a.limbs_[i] != b.limbs_[i]) return a.limbs_[i] < b.limbs_[i] ? -1 : 1;
  }
  return 0;
}

}  // namespace peregrine::math
