// Fuzz target: every deserialiser of HE objects (he/serialize.hpp) on bytes from a peer or a file.
// Input: byte 0 selects the object in its low 3 bits (ciphertext, plaintext, public key, secret
// key, Galois keys, trimmed response) and the parameter set in bits 3–4 (Cheetah N = 4096 /
// ℓ = 37; a small slot set with a special prime; or a per-layer Cheetah set with a smaller q,
// ℓ = 16 and a 25-bit second prime, as the packed integer convs use; or the slot conv's batch set,
// he::HeParams::batch(26): N = 8192, two data primes and a special prime); the rest is the buffer.
// (There are no relinearisation keys: the library has no ciphertext × ciphertext product, so
// Galois keys are the only key-switching keys.)
// Seeds: every object for the four sets (seeded / full / coefficient-form / level-1 ciphertexts,
// Galois keys for rotations and the row swap, trimmed responses with several dropped-bit counts).
#include "fuzz_target.hpp"
#include "peregrine/core/prg.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/serialize.hpp"
#include "peregrine/math/primes.hpp"

namespace peregrine::fuzz {

namespace {

he::HeParamsPtr params(int which) {
  static const he::HeParamsPtr cheetah = he::HeParams::cheetah(37);
  static const he::HeParamsPtr slots = [] {
    he::ParamsSpec s;
    s.n = 1024;
    auto primes = math::generate_primes(50, 3, 2048);
    s.special_prime = primes.front();
    s.coeff_primes = {primes[1], primes[2]};
    s.plain_modulus = math::generate_primes(20, 1, 2048)[0];
    s.security = he::Security::kInsecureForTestsOnly;
    return he::HeParams::create(s);
  }();
  static const he::HeParamsPtr small_q = he::HeParams::cheetah(16, 25);
  static const he::HeParamsPtr batch = he::HeParams::batch(26);
  return which == 0 ? cheetah : which == 1 ? slots : which == 2 ? small_q : batch;
}

constexpr std::size_t kKept = 100;  // |V| of the trimmed responses

}  // namespace

std::string name() { return "he_objects"; }

void run_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const int kind = (data[0] & 7) % 6, which = (data[0] >> 3) % 4;
  const he::HeParams& P = *params(which);
  const std::span<const std::uint8_t> in(data + 1, size - 1);
  constexpr std::size_t kMax = std::size_t{8} << 20;
  switch (kind) {
    case 0: (void)he::deserialize_ciphertext(P, in, kMax); break;
    case 1: (void)he::deserialize_plaintext(P, in, kMax); break;
    case 2: (void)he::deserialize_public_key(P, in, kMax); break;
    case 3: (void)he::deserialize_secret_key(P, in, kMax); break;
    case 4: (void)he::deserialize_galois_keys(P, in, kMax); break;
    default: (void)he::deserialize_trimmed(P, in, kKept, kMax); break;
  }
}

std::vector<std::vector<std::uint8_t>> seeds() {
  std::vector<std::vector<std::uint8_t>> out;
  Seed sd{};
  sd[0] = 7;
  Prg prg = Prg::from_seed(sd);
  for (int which = 0; which < 4; ++which) {
    const auto P = params(which);
    he::KeyGenerator kg(P);
    const he::SecretKey sk = kg.secret_key(prg);
    const he::PublicKey pk = kg.public_key(sk, prg);
    he::CoeffEncoder enc(P);
    std::vector<std::uint64_t> m(P->n(), 1);
    const he::Plaintext pt = enc.encode(m);
    he::Encryptor e(P, sk);
    he::Ciphertext ct = e.encrypt_symmetric(pt, prg);
    auto add = [&](int kind, std::vector<std::uint8_t> b) {
      b.insert(b.begin(), static_cast<std::uint8_t>(kind | (which << 3)));
      out.push_back(std::move(b));
    };
    add(0, he::serialize(*P, ct));
    ct.c1_seed.reset();
    add(0, he::serialize(*P, ct));
    he::Evaluator ev(P);
    he::Ciphertext coeff = ct;
    ev.from_ntt(coeff);
    add(0, he::serialize(*P, coeff));  // coefficient form (flags 0)
    add(1, he::serialize(*P, pt));
    add(2, he::serialize(*P, pk));
    add(2, he::serialize(*P, kg.public_key(sk, prg)));
    add(3, he::serialize(*P, sk));
    // Galois keys exist only with a special prime (the slot sets); several elements incl. row swap.
    if (which == 1) {
      add(4, he::serialize(*P, kg.galois_keys(sk, kg.rotation_elements({1}), prg)));
      add(4, he::serialize(*P, kg.galois_keys(sk, {3, 5, 2 * P->n() - 1}, prg)));
    }
    if (which == 3) add(4, he::serialize(*P, kg.galois_keys(sk, kg.rotation_elements({0, -33}), prg)));
    // A level-1 ciphertext and trimmed responses (several dropped-bit counts) from it.
    ev.mod_switch_to_inplace(ct, 1);
    add(0, he::serialize(*P, ct));
    std::vector<std::uint32_t> idx(kKept);
    for (std::uint32_t i = 0; i < kKept; ++i) idx[i] = 3 * i;
    add(5, he::serialize(*P, ev.trim(ct, 20, 10, idx)));
    add(5, he::serialize(*P, ev.trim(ct, 0, 0, idx)));
    add(5, he::serialize(*P, ev.trim(ct, 1, 30, idx)));
  }
  return out;
}

}  // namespace peregrine::fuzz
