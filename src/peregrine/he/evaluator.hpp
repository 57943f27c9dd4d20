// Homomorphic operations on BFV ciphertexts (no ciphertext × ciphertext product: Peregrine's
// protocols need only ct ± ct, ct ± pt, ct × pt, monomials and automorphisms).
#pragma once
#include <span>
#include <vector>

#include "peregrine/core/aligned.hpp"
#include "peregrine/he/types.hpp"

namespace peregrine::he {

/// Largest flooding width accepted by Evaluator::rerandomize_and_flood_inplace (bits).
inline constexpr int kMaxFloodBits = 250;

/// Stateless apart from the parameters; every method checks params_id and shapes and throws
/// Error(kParamsMismatch) / Error(kInvalidArgument). Thread-safe for concurrent calls on
/// distinct ciphertexts.
class Evaluator {
 public:
  explicit Evaluator(HeParamsPtr params) : params_(std::move(params)) {}
  const HeParams& params() const noexcept { return *params_; }

  /// Converts both components to NTT / coefficient form (no-op when already there).
  void to_ntt(Ciphertext& ct) const;
  void from_ntt(Ciphertext& ct) const;

  /// a += b, a −= b, a = −a. Same level; b is converted to a's form if needed.
  void add_inplace(Ciphertext& a, const Ciphertext& b) const;
  void sub_inplace(Ciphertext& a, const Ciphertext& b) const;
  void negate_inplace(Ciphertext& a) const;

  /// ct += m and ct −= m for a plaintext m (adds ±round(Q_L·m/t) to c0; no noise growth).
  void add_plain_inplace(Ciphertext& ct, const Plaintext& pt) const;
  void sub_plain_inplace(Ciphertext& ct, const Plaintext& pt) const;

  /// Prepares m for ct × pt at `level` (0 = top): centred lift, NTT. Reuse it across products.
  PlaintextNtt prepare(const Plaintext& pt, std::size_t level = 0) const;
  /// ct ·= m (NTT form result). Noise becomes e·m (TECHNIQUES.md §0.3; with q ≡ 1 mod t there is
  /// no extra t·‖m‖₁ term).
  void multiply_plain_inplace(Ciphertext& ct, const PlaintextNtt& pt) const;
  /// acc += ct · m (all NTT form; acc must already have ct's level). The inner loop of a conv.
  void multiply_plain_acc(Ciphertext& acc, const Ciphertext& ct, const PlaintextNtt& pt) const;
  /// Σ_t cts[t] · pts[t] (NTT form in and out; every term at the same level, at least one term):
  /// the lazy-reduction form of repeated multiply_plain_acc (math::dot_product).
  Ciphertext dot_plain(std::span<const Ciphertext* const> cts, std::span<const PlaintextNtt* const> pts) const;

  /// ct ·= X^e for e in [0, 2N) (exact, no noise growth). Returns coefficient form.
  void multiply_monomial_inplace(Ciphertext& ct, std::size_t e) const;

  /// Applies X → X^g and key-switches back to s (hybrid RNS key switching with the special
  /// prime; added noise ≈ L·N·q_max·B_e/P + rounding, i.e. O(L·N·B_e) when P ≥ q_max): the
  /// one-element apply_galois_hoisted. Errors: Error(kInvalidArgument) when no key for g is present.
  Ciphertext apply_galois(const Ciphertext& ct, std::uint64_t g, const GaloisKeys& keys) const;
  /// Hoisted automorphisms (TECHNIQUES.md §5.2, §5.6 candidate A): apply_galois for every element
  /// of `elements`, sharing one RNS decomposition of c1 and its NTTs (L·(L+1) NTTs once instead of
  /// per element; σ_g permutes the decomposed digits' evaluations). Each result equals
  /// apply_galois(ct, g, keys). Errors: as apply_galois; nothing is computed when a key is missing.
  std::vector<Ciphertext> apply_galois_hoisted(const Ciphertext& ct, std::span<const std::uint64_t> elements,
                                               const GaloisKeys& keys) const;
  /// Slot rotation of both rows by `step` (left for step > 0); batch encoding only.
  Ciphertext rotate_rows(const Ciphertext& ct, int step, const GaloisKeys& keys) const;
  /// Swaps the two slot rows (Galois element 2N − 1).
  Ciphertext swap_rows(const Ciphertext& ct, const GaloisKeys& keys) const;

  /// Drops the last prime q_{L−1}: c ← round(c / q_{L−1}) mod Q_{L−1} (correct rounding).
  /// Scales the noise by 1/q_{L−1} and adds ≤ (1 + ‖s‖₁)/2. Result in coefficient form.
  void mod_switch_to_next_inplace(Ciphertext& ct) const;
  /// Mod-switches down to `level` (1 ≤ level ≤ current).
  void mod_switch_to_inplace(Ciphertext& ct, std::size_t level) const;

  /// Circuit privacy (DESIGN.md §1): adds a fresh Enc_pk(0) and, to c0, noise uniform in
  /// [−2^flood_bits, 2^flood_bits) (0 ≤ flood_bits ≤ kMaxFloodBits). Call at the top modulus, before any
  /// mod switch or bit dropping. Randomness from `prg` (Prg::from_os() outside tests).
  void rerandomize_and_flood_inplace(Ciphertext& ct, const PublicKey& pk, int flood_bits,
                                     Prg& prg) const;

  /// Cheetah's response form: a level-1 ciphertext with low bits dropped (d0 of c0, d1 of c1,
  /// each rounded to nearest) and c0 kept only at `indices` (each < N, the public valid set V).
  /// Adds a rounding error ≤ 2^{d0−1} + ‖s·δ1‖∞ with |δ1| ≤ 2^{d1−1}. 0 ≤ d < log2 q'.
  TrimmedCiphertext trim(const Ciphertext& ct, int d0, int d1,
                         std::span<const std::uint32_t> indices) const;

 private:
  void check(const Ciphertext& ct) const;
  void add_or_sub(Ciphertext& a, const Ciphertext& b, bool subtract) const;
  void add_or_sub_plain(Ciphertext& ct, const Plaintext& pt, bool subtract) const;
  /// The RNS digits [c]_{q_i} (i < L) reduced mod each of the L data primes and P, NTT form:
  /// digits[i·(L+1) + j], slot L for P.
  struct Decomposition {
    std::size_t level = 0;
    std::vector<AlignedU64> digits;
  };
  Decomposition decompose(const math::RnsPoly& c) const;
  /// Key-switches σ(c) from s' to s, for c given by its decomposition and σ by its NTT
  /// permutation `perm` (math::automorphism_ntt_permutation): returns (d0, d1) with
  /// d0 + d1·s ≈ σ(c)·s' (mod Q_L), coefficient form.
  std::pair<math::RnsPoly, math::RnsPoly> key_switch(const Decomposition& dec, const std::size_t* perm,
                                                     const KeySwitchKey& ksk) const;
  HeParamsPtr params_;
};

}  // namespace peregrine::he
