// RNS polynomials in R_q = Z_q[X]/(X^N + 1) with q = q_0·…·q_{k−1}.
#pragma once
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "peregrine/core/aligned.hpp"
#include "peregrine/math/bigint.hpp"
#include "peregrine/math/ntt.hpp"

namespace peregrine::math {

/// A prime set {q_i} for degree N with NTT tables and CRT constants. Immutable after construction;
/// thread-safe to share (hold it in a shared_ptr).
class RnsBase {
 public:
  /// Throws Error(kInvalidArgument) unless every prime is distinct, < 2^61 and ≡ 1 (mod 2N).
  RnsBase(std::size_t n, const std::vector<u64>& primes);
  /// A base over already-built NTT tables (shared, not copied); the primes are the tables' moduli.
  explicit RnsBase(std::vector<std::shared_ptr<const NttTables>> tables);
  /// The shared NTT tables of prime i (to build related bases without rebuilding tables).
  const std::shared_ptr<const NttTables>& ntt_shared(std::size_t i) const noexcept { return ntt_[i]; }

  std::size_t n() const noexcept { return n_; }
  std::size_t size() const noexcept { return mods_.size(); }
  const Modulus& mod(std::size_t i) const noexcept { return mods_[i]; }
  const NttTables& ntt(std::size_t i) const noexcept { return *ntt_[i]; }
  const std::vector<u64>& primes() const noexcept { return primes_; }
  /// q = Π q_i.
  const BigUInt& q() const noexcept { return q_; }
  /// q̂_i = q / q_i.
  const BigUInt& q_hat(std::size_t i) const noexcept { return q_hat_[i]; }
  /// (q / q_i)^{-1} mod q_i.
  u64 q_hat_inv(std::size_t i) const noexcept { return q_hat_inv_[i]; }

 private:
  std::size_t n_;
  std::vector<u64> primes_;
  std::vector<Modulus> mods_;
  std::vector<std::shared_ptr<const NttTables>> ntt_;
  void init_crt();
  BigUInt q_;
  std::vector<BigUInt> q_hat_;
  std::vector<u64> q_hat_inv_;
};

/// A polynomial with k RNS components of N coefficients each, stored prime-major
/// (component i at data[i·N .. (i+1)·N)), every coefficient in [0, q_i). `ntt_form` says whether
/// the components hold coefficients or NTT evaluations (bit-reversed order, see ntt.hpp).
/// Value type; not thread-safe for concurrent mutation.
struct RnsPoly {
  std::size_t n = 0;
  std::size_t k = 0;
  bool ntt_form = false;
  AlignedU64 data;

  RnsPoly() = default;
  RnsPoly(std::size_t n_, std::size_t k_, bool ntt = false) : n(n_), k(k_), ntt_form(ntt), data(n_ * k_, 0) {}
  u64* comp(std::size_t i) noexcept { return data.data() + i * n; }
  const u64* comp(std::size_t i) const noexcept { return data.data() + i * n; }
  friend bool operator==(const RnsPoly&, const RnsPoly&) = default;
};

// All operations below require the polynomials to match the base (n, and k ≤ base.size(): the
// first k primes are used) and throw Error(kInvalidArgument) on a mismatch or wrong form.

/// Coefficient form → NTT form (no-op if already NTT).
void to_ntt(RnsPoly& a, const RnsBase& base);
/// NTT form → coefficient form (no-op if already coefficients).
void from_ntt(RnsPoly& a, const RnsBase& base);
/// a += b, a −= b, a = −a (same form).
void add_inplace(RnsPoly& a, const RnsPoly& b, const RnsBase& base);
void sub_inplace(RnsPoly& a, const RnsPoly& b, const RnsBase& base);
void negate_inplace(RnsPoly& a, const RnsBase& base);
/// a ⊙= b (both NTT form): the negacyclic product.
void mul_inplace(RnsPoly& a, const RnsPoly& b, const RnsBase& base);
/// acc += a ⊙ b (all NTT form): fused multiply-accumulate.
void mul_acc(RnsPoly& acc, const RnsPoly& a, const RnsPoly& b, const RnsBase& base);
/// out = Σ_t a[t] ⊙ b[t] (all NTT form, same shape; out is overwritten): products accumulate
/// unreduced in 128 bits and are Barrett-reduced once per 2^{128 − 2·bits(p)} terms (256 for a
/// 60-bit prime) — the inner loop of a conv output, about 3× fewer cycles than repeated mul_acc.
/// Errors: kInvalidArgument when a.size() != b.size() or shapes differ.
void dot_product(RnsPoly& out, std::span<const RnsPoly* const> a, std::span<const RnsPoly* const> b,
                 const RnsBase& base);
/// a ·= c (an integer scalar, reduced per prime).
void mul_scalar_inplace(RnsPoly& a, u64 c, const RnsBase& base);
/// a · X^e for e in [0, 2N) (negacyclic shift; X^N = −1). Coefficient form only.
RnsPoly multiply_monomial(const RnsPoly& a, std::size_t e, const RnsBase& base);
/// The NTT-form automorphism as a permutation: evaluation j of a(X^g) is evaluation perm[j] of a
/// (bit-reversed order, ntt.hpp). Errors: kInvalidArgument unless N is a power of two ≥ 2 and g odd
/// in [1, 2N). Thread-safe (pure).
std::vector<std::size_t> automorphism_ntt_permutation(std::size_t n, std::size_t g);
/// a(X^g) for odd g in [1, 2N), in either form (the NTT form permutes evaluations).
RnsPoly automorphism(const RnsPoly& a, std::size_t g, const RnsBase& base);
/// Coefficient j of a (coefficient form) composed by CRT into [0, q).
BigUInt crt_compose(const RnsPoly& a, std::size_t j, const RnsBase& base);
/// Sets coefficient j of every component from a signed value (|v| < 2^63).
void set_signed(RnsPoly& a, std::size_t j, std::int64_t v, const RnsBase& base);

}  // namespace peregrine::math
