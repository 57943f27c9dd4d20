// BFV encryption (symmetric with a seeded uniform half, and public-key) and decryption.
#pragma once
#include <span>
#include <vector>

#include "peregrine/he/types.hpp"

namespace peregrine::he {

/// Throws Error(kParamsMismatch) for a foreign ciphertext and Error(kInvalidArgument) unless its
/// level, sizes and forms are consistent with `params`. Every public entry point calls it.
void check_ciphertext(const HeParams& params, const Ciphertext& ct);
/// Same for a plaintext (params_id and N coefficients; coefficient ranges are checked where used).
void check_plaintext(const HeParams& params, const Plaintext& pt);

/// round(Q_L·m/t) mod q_i for each coefficient of m (the scaled message of BFV), coefficient form
/// at level L. With r = Q_L mod t this is Δ·m + floor((r·m + floor(t/2))/t): exact when t ∤ Q_L.
math::RnsPoly scale_plaintext(const HeParams& params, const Plaintext& pt, std::size_t level);

/// Encrypts plaintexts. Holds no secret state of its own beyond the key it was given.
/// Thread-safety: const methods are safe to call concurrently with distinct Prg objects.
class Encryptor {
 public:
  /// Symmetric (secret-key) encryptor: the client's uploads (TECHNIQUES.md §0.5 step 1).
  Encryptor(HeParamsPtr params, const SecretKey& sk);
  /// Public-key encryptor (re-randomisation, and encryption by a party without the secret).
  Encryptor(HeParamsPtr params, const PublicKey& pk);

  /// c1 = a uniform from a fresh public seed, c0 = −a·s + e + round(Q·m/t); NTT form, top level.
  /// The result carries c1_seed, so it serialises to half size. Needs the secret-key constructor.
  /// Errors: Error(kParamsMismatch) for a foreign plaintext, Error(kInvalidArgument) without sk.
  Ciphertext encrypt_symmetric(const Plaintext& pt, Prg& prg) const;
  /// (p0·u + e1 + round(Q·m/t), p1·u + e2) with ternary u; NTT form, at `level` (0 = top).
  Ciphertext encrypt_public(const Plaintext& pt, Prg& prg, std::size_t level = 0) const;
  /// A public-key encryption of zero at `level` (0 = top): the re-randomiser of §0.5 step 5.
  Ciphertext encrypt_zero_public(Prg& prg, std::size_t level = 0) const;

 private:
  HeParamsPtr params_;
  const SecretKey* sk_ = nullptr;
  const PublicKey* pk_ = nullptr;
};

/// Decrypts and measures noise. Holds a reference to the secret key (caller keeps it alive).
/// Thread-safe for concurrent const calls.
class Decryptor {
 public:
  Decryptor(HeParamsPtr params, const SecretKey& sk);

  /// m = round(t·(c0 + c1·s)/Q_L) mod t, exact for every level. Correct while the noise is
  /// below Δ/2. Errors: Error(kParamsMismatch).
  Plaintext decrypt(const Ciphertext& ct) const;

  /// Decrypts a trimmed level-1 response at the public index set `indices` (the same list given
  /// to Evaluator::trim). Returns one value in [0, t) per index.
  /// Errors: Error(kParamsMismatch), Error(kInvalidArgument) if sizes or indices do not match.
  std::vector<u64> decrypt_trimmed(const TrimmedCiphertext& ct,
                                   std::span<const std::uint32_t> indices) const;

  /// SEAL's invariant noise budget in bits: log2(Q_L) − log2(‖[t·(c0 + c1·s)]_{Q_L}‖∞) − 1,
  /// clamped at 0. Decryption is correct while it is > 0. For tests and diagnostics.
  int noise_budget_bits(const Ciphertext& ct) const;

  /// The signed noise e_j = [c0 + c1·s − round(Q_L·m/t)]_{Q_L} of every coefficient (as doubles),
  /// with m the decrypted plaintext. For tests and diagnostics (flooding measurements).
  std::vector<double> noise(const Ciphertext& ct) const;

 private:
  /// c0 + c1·s in coefficient form at the ciphertext's level.
  math::RnsPoly phase(const Ciphertext& ct) const;
  /// round(t·x/Q_L) mod t of every coefficient of a phase x at `level`.
  Plaintext decode_phase(const math::RnsPoly& x, std::size_t level) const;
  HeParamsPtr params_;
  const SecretKey& sk_;
};

}  // namespace peregrine::he
