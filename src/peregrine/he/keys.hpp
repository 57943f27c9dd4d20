// Key generation: ternary secret, public key, Galois (key-switching) keys.
#pragma once
#include <vector>

#include "peregrine/he/types.hpp"

namespace peregrine::he {

/// Generates keys for one parameter set. Secrets come from the Prg passed in, which must be
/// Prg::from_os() outside tests. Not thread-safe (the Prg is shared); use one per thread.
class KeyGenerator {
 public:
  explicit KeyGenerator(HeParamsPtr params) : params_(std::move(params)) {}

  /// A fresh ternary secret key (NTT form over the key base).
  SecretKey secret_key(Prg& prg) const;
  /// (−a·s + e, a) with a expanded from a fresh public seed (so the key serialises seeded).
  PublicKey public_key(const SecretKey& sk, Prg& prg) const;
  /// Key-switching keys for each Galois element (odd, in [1, 2N)). Needs a special prime.
  /// Throws Error(kInvalidArgument) for a bad element, Error(kUnsupported) without special prime.
  GaloisKeys galois_keys(const SecretKey& sk, const std::vector<std::uint64_t>& elements,
                         Prg& prg) const;
  /// Galois elements for slot rotations by each step (k > 0 left, k < 0 right) and, for step 0,
  /// the row swap 2N − 1. Batch encoding only.
  std::vector<std::uint64_t> rotation_elements(const std::vector<int>& steps) const;

  /// The key-switching key from s' (NTT form over the key base) to sk; a_i expand from `seed`.
  /// Exposed so tests and serialisation can rebuild the public halves.
  KeySwitchKey make_switch_key(const SecretKey& sk, const math::RnsPoly& s_from, const Seed& seed,
                               Prg& prg) const;

 private:
  HeParamsPtr params_;
};

/// Galois element for a rotation of the batch-encoded rows by `step` (left for step > 0);
/// step 0 gives the row swap 2N − 1. |step| < N/2.
std::uint64_t galois_element_for_step(int step, std::size_t n);

/// Expands the uniform halves a_0 … a_{K−1} of a key-switching key from its seed.
std::vector<math::RnsPoly> expand_switch_key_a(const HeParams& params, const Seed& seed);

}  // namespace peregrine::he
