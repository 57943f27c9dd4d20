// BFV parameters: validated once into an immutable, hashed object (DESIGN.md §4.1).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "peregrine/math/rns.hpp"

namespace peregrine::he {

using math::u64;

/// Distribution of the secret key.
enum class SecretDistribution : std::uint8_t {
  kTernary = 1,  ///< uniform over {−1, 0, 1}
};

/// Distribution of encryption and key errors.
enum class ErrorDistribution : std::uint8_t {
  /// Centred binomial with η = 21: Σ_{21} (b_i − b'_i), σ = sqrt(21/2) ≈ 3.24, |e| ≤ 21.
  kCenteredBinomial21 = 1,
};

/// Whether the HE-standard 128-bit table is enforced.
enum class Security : std::uint8_t {
  kHeStandard128 = 1,
  /// Skips the table (small N, large q) — for unit tests only; the CLI refuses it.
  kInsecureForTestsOnly = 2,
};

/// What a caller asks for; HeParams::create validates it.
struct ParamsSpec {
  std::size_t n = 0;                 ///< ring degree N (power of two)
  std::vector<u64> coeff_primes;     ///< data primes q_0 … q_{K−1}; mod switching drops from the end
  u64 special_prime = 0;             ///< key-switching prime P (0: none, so no Galois keys)
  u64 plain_modulus = 0;             ///< t: 2^ℓ (coefficient encoding) or a prime ≡ 1 mod 2N (slots)
  SecretDistribution secret = SecretDistribution::kTernary;
  ErrorDistribution error = ErrorDistribution::kCenteredBinomial21;
  Security security = Security::kHeStandard128;
};

/// Maximum log2(q·P) for 128-bit classical security with a ternary secret
/// (HomomorphicEncryption.org standard, 2018): N=2048→54, 4096→109, 8192→218, 16384→438,
/// 32768→881. Returns 0 for other N.
int max_log_q_128(std::size_t n) noexcept;

/// Validated, immutable BFV parameters with their `params_id`. Thread-safe to share.
///
/// Levels: a ciphertext at level L (1 ≤ L ≤ K) lives modulo Q_L = q_0·…·q_{L−1}; fresh
/// ciphertexts are at level K. Per-level constants (Δ_L = floor(Q_L/t) mod q_i, Q_L mod t) are
/// precomputed here.
class HeParams {
 public:
  /// Validates `spec` and builds tables. Throws Error(kInvalidArgument) for malformed parameters
  /// (N not a power of two in range, primes not prime / not ≡ 1 mod 2N / duplicated / ≥ 2^61,
  /// t neither a power of two nor a prime ≡ 1 mod 2N, t ≥ q_0), and Error(kInsecureParameters) when
  /// log2(Q·P) exceeds the 128-bit table or N < 2048 without Security::kInsecureForTestsOnly.
  static std::shared_ptr<const HeParams> create(const ParamsSpec& spec);

  /// Cheetah's coefficient-encoding parameters (TECHNIQUES.md §0.3): N = 4096, a 60-bit and a
  /// `low_prime_bits`-bit prime (49 by default: 109 bits, the 128-bit table's limit), both ≡ 1
  /// (mod 2^ℓ) so that q mod t = 1, no special prime, t = 2^ℓ. The low prime is dropped by the
  /// responses' mod switch; a smaller one (a smaller q, more secure) shrinks every input
  /// ciphertext where the layer's flood still fits (low-precision layers, HEQuant issue).
  /// Requires 13 ≤ ℓ ≤ 44 and ℓ + 2 ≤ low_prime_bits ≤ 49; throws Error(kInvalidArgument) otherwise.
  static std::shared_ptr<const HeParams> cheetah(int ell, int low_prime_bits = 49);

  /// Batch (slot) encoding parameters for the slot-encoded layers (TECHNIQUES.md §5.2, §5.5):
  /// N = n (8192 or 16384), t the largest prime below 2^t_bits with t ≡ 1 (mod 2N), `data_primes`
  /// 60-bit primes q_i ≡ 1 (mod 2N·t) (so Q_L mod t = 1 at every level and a product with a
  /// full-range slot plaintext adds no t-sized term) and a 60-bit special prime P for Galois keys.
  /// Defaults: N = 8192 with two data primes, log2(Q·P) = 180 (the table allows 218); N = 16384
  /// allows up to six (420 of 438), which the fused x²+x layer needs for a t of 30–36 bits.
  /// Made once per argument triple and shared. Errors: kInvalidArgument unless 17 ≤ t_bits ≤ 36,
  /// n ∈ {8192, 16384}, 1 ≤ data_primes and 60·(data_primes + 1) ≤ the table's bound for n.
  static std::shared_ptr<const HeParams> batch(int t_bits, std::size_t n = 8192, std::size_t data_primes = 2);

  const ParamsSpec& spec() const noexcept { return spec_; }
  std::size_t n() const noexcept { return spec_.n; }
  std::size_t levels() const noexcept { return spec_.coeff_primes.size(); }
  u64 t() const noexcept { return spec_.plain_modulus; }
  bool t_is_power_of_two() const noexcept { return (t() & (t() - 1)) == 0; }
  /// Bit length of t − 1 (= ℓ when t = 2^ℓ): the width of one plaintext coefficient.
  int t_bits() const noexcept { return t_bits_; }
  bool has_special_prime() const noexcept { return spec_.special_prime != 0; }
  u64 params_id() const noexcept { return params_id_; }
  /// log2 of Q·P as the sum of prime bit lengths (what the 128-bit table bounds).
  int total_log_q() const noexcept { return total_bits_; }

  /// RNS base of the data primes at level L (the first L primes).
  const math::RnsBase& base(std::size_t level) const { return *level_bases_.at(level - 1); }
  /// The full data base (level K).
  const math::RnsBase& base() const { return *level_bases_.back(); }
  /// Data primes followed by the special prime (key-switching keys live here). Equals base()
  /// when there is no special prime.
  const math::RnsBase& key_base() const { return *key_base_; }
  /// NTT tables for t (only when t is a prime ≡ 1 mod 2N; nullptr otherwise).
  const math::NttTables* plain_ntt() const noexcept { return plain_ntt_.get(); }

  /// floor(Q_L / t) mod q_i for i < L.
  const std::vector<u64>& delta_mod(std::size_t level) const { return delta_mod_.at(level - 1); }
  /// Q_L mod t.
  u64 q_mod_t(std::size_t level) const { return q_mod_t_.at(level - 1); }

  /// Throws Error(kParamsMismatch) unless `id` equals this params_id.
  void check_id(u64 id, const char* what) const;

 private:
  HeParams() = default;
  ParamsSpec spec_;
  int t_bits_ = 0;
  int total_bits_ = 0;
  u64 params_id_ = 0;
  std::vector<std::unique_ptr<math::RnsBase>> level_bases_;
  std::unique_ptr<math::RnsBase> key_base_;
  std::unique_ptr<math::NttTables> plain_ntt_;
  std::vector<std::vector<u64>> delta_mod_;
  std::vector<u64> q_mod_t_;
};

using HeParamsPtr = std::shared_ptr<const HeParams>;

}  // namespace peregrine::he
