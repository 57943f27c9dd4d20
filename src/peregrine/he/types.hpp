// BFV objects: plaintexts, ciphertexts, keys, trimmed responses. Each carries its params_id and
// every public call checks it. Value types; not thread-safe for concurrent mutation.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "peregrine/core/prg.hpp"
#include "peregrine/he/params.hpp"

namespace peregrine::he {

/// A plaintext polynomial in R_t: N coefficients in [0, t). For coefficient encoding the
/// coefficients are the values; for batch encoding they are the inverse slot transform.
struct Plaintext {
  u64 params_id = 0;
  AlignedU64 coeffs;  ///< size N, each < t
};

/// A plaintext prepared for ct × pt at a given level: the centred lift of m (coefficients in
/// (−t/2, t/2]) reduced mod each q_i and transformed to NTT form. Reusable across products.
struct PlaintextNtt {
  u64 params_id = 0;
  std::size_t level = 0;
  math::RnsPoly poly;  ///< NTT form, `level` components
};

/// A BFV ciphertext (c0, c1) with c0 + c1·s = round(Q_L·m/t) + e (mod Q_L), at level L.
/// `c1_seed` is set while c1 is still the uniform polynomial expanded from that public seed (a
/// fresh symmetric encryption), so serialisation can send the 32-byte seed instead of c1.
struct Ciphertext {
  u64 params_id = 0;
  math::RnsPoly c0, c1;  ///< same level and form
  std::optional<Seed> c1_seed;

  std::size_t level() const noexcept { return c0.k; }
  bool ntt_form() const noexcept { return c0.ntt_form; }
};

/// Ternary secret s, stored in NTT form over the key base (data primes + special prime).
struct SecretKey {
  u64 params_id = 0;
  math::RnsPoly s;
};

/// Public key (p0, p1) = (−a·s + e, a) over the data primes, NTT form; a expands from `seed`.
struct PublicKey {
  u64 params_id = 0;
  math::RnsPoly p0, p1;
  Seed seed{};
};

/// One key-switching key from s' to s: for each data prime i, (b_i, a_i) over the key base with
/// b_i = −a_i·s + e_i + [P]_{q_i}·s' in component i only (hybrid RNS key switching, one special
/// prime P). a_i expands from a seed derived from `seed` and i.
struct KeySwitchKey {
  std::vector<math::RnsPoly> b, a;  ///< K entries each, NTT form over key_base()
  Seed seed{};
};

/// Galois keys: one key-switching key per Galois element g (odd, in [1, 2N)) from s(X^g) to s.
struct GaloisKeys {
  u64 params_id = 0;
  std::map<std::uint64_t, KeySwitchKey> keys;
};

/// A level-1 ciphertext prepared for transmission (Cheetah's response form, TECHNIQUES.md §0.5
/// steps 6–7): c1 with its low d1 bits dropped (all N coefficients), and c0 with its low d0 bits
/// dropped at a public index set V only. Values are round(c / 2^d) (they may equal
/// ceil(q'/2^d) at the top; the receiver reduces mod q').
struct TrimmedCiphertext {
  u64 params_id = 0;
  int d0 = 0, d1 = 0;
  AlignedU64 c0_hi;  ///< |V| values, in index-set order
  AlignedU64 c1_hi;  ///< N values
};

}  // namespace peregrine::he
