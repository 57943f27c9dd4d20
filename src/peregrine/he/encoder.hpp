// Plaintext encoders: coefficient encoding (t = 2^ℓ, Cheetah) and batch/slot encoding
// (prime t ≡ 1 mod 2N, LoLa/Gazelle/Flash).
#pragma once
#include <span>
#include <vector>

#include "peregrine/he/types.hpp"

namespace peregrine::he {

/// Values placed directly in coefficients: m(X) = Σ v_i X^i (mod t). Products with plaintexts
/// realise negacyclic convolutions (TECHNIQUES.md §0.3). Works for any t. Thread-safe.
class CoeffEncoder {
 public:
  explicit CoeffEncoder(HeParamsPtr params) : params_(std::move(params)) {}
  /// values.size() ≤ N, each < t (Error(kInvalidArgument) otherwise); the rest are zero.
  Plaintext encode(std::span<const u64> values) const;
  /// Signed values reduced mod t (two's complement when t = 2^ℓ).
  Plaintext encode_signed(std::span<const std::int64_t> values) const;
  /// All N coefficients in [0, t).
  std::vector<u64> decode(const Plaintext& pt) const;
  /// All N coefficients as centred values in [−t/2, t/2).
  std::vector<std::int64_t> decode_signed(const Plaintext& pt) const;

 private:
  HeParamsPtr params_;
};

/// N slots arranged as a 2 × N/2 matrix; slot i of row 0 is m(ψ_t^{3^i}), of row 1 m(ψ_t^{−3^i})
/// (ψ_t the minimal primitive 2N-th root mod t). Evaluator::rotate_rows(k) rotates both rows
/// left by k; swap_rows exchanges them. Element-wise products via ct × pt.
/// Requires a prime t ≡ 1 (mod 2N) (Error(kInvalidArgument) otherwise). Thread-safe.
class BatchEncoder {
 public:
  explicit BatchEncoder(HeParamsPtr params);
  std::size_t slot_count() const noexcept { return params_->n(); }
  /// values.size() ≤ N, each < t; missing slots are zero.
  Plaintext encode(std::span<const u64> values) const;
  /// The N slot values.
  std::vector<u64> decode(const Plaintext& pt) const;

 private:
  HeParamsPtr params_;
  std::vector<std::size_t> slot_to_ntt_;  ///< slot i → NTT evaluation index
};

}  // namespace peregrine::he
