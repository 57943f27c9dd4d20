#include <gtest/gtest.h>

#include <cmath>

#include "he_test_util.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"

using namespace peregrine;
using namespace peregrine::he;
using test::make_params;
using test::test_prg;

namespace {
std::vector<u64> random_values(Prg& prg, std::size_t n, u64 t) {
  std::vector<u64> v(n);
  for (auto& x : v) x = prg.uniform_below(t);
  // Edge values: 0, 1, t−1, t/2 (the centring boundary), t/2 − 1.
  v[0] = 0;
  v[1] = 1;
  v[2] = t - 1;
  v[3] = t / 2;
  v[4] = t / 2 - 1;
  return v;
}

struct Case {
  const char* name;
  HeParamsPtr params;
};

std::vector<Case> cases() {
  return {
      {"cheetah_l37", HeParams::cheetah(37)},
      {"cheetah_l20", HeParams::cheetah(20)},
      // q mod t ≠ 1 and t ∤ q: exercises the rounding of round(Q·m/t).
      {"generic_4096_t2^37", make_params(4096, 54, 2, 1ULL << 37)},
      {"n8192_3primes_batch", make_params(8192, 50, 3, test::batch_prime(8192, 30), true)},
      {"n256_batch_t17bit", make_params(256, 40, 2, test::batch_prime(256, 17), true)},
      {"n1024_1prime_t2^8", make_params(1024, 40, 1, 256)},
      {"n2048_61bit_t2^60", make_params(2048, 61, 2, 1ULL << 60)},
  };
}
}  // namespace

TEST(Bfv, SymmetricAndPublicRoundTrip) {
  Prg prg = test_prg(10);
  for (const auto& c : cases()) {
    const auto& P = c.params;
    KeyGenerator kg(P);
    SecretKey sk = kg.secret_key(prg);
    PublicKey pk = kg.public_key(sk, prg);
    Encryptor es(P, sk), ep(P, pk);
    Decryptor dec(P, sk);
    CoeffEncoder enc(P);
    for (int rep = 0; rep < 3; ++rep) {
      const auto v = random_values(prg, P->n(), P->t());
      Plaintext pt = enc.encode(v);
      Ciphertext a = es.encrypt_symmetric(pt, prg);
      EXPECT_TRUE(a.c1_seed.has_value());
      EXPECT_EQ(enc.decode(dec.decrypt(a)), v) << c.name;
      EXPECT_GT(dec.noise_budget_bits(a), 0) << c.name;
      Ciphertext b = ep.encrypt_public(pt, prg);
      EXPECT_EQ(enc.decode(dec.decrypt(b)), v) << c.name;
      // Fresh noise is small: |e| ≤ 21 for symmetric; public-key noise ≤ ~N·21·2 + 21.
      const auto e = dec.noise(a);
      double mx = 0;
      for (double x : e) mx = std::max(mx, std::fabs(x));
      EXPECT_LE(mx, 21.0 + 1.0) << c.name;
    }
  }
}

TEST(Bfv, DecryptsAtEveryLevelAfterModSwitch) {
  Prg prg = test_prg(11);
  for (const auto& c : cases()) {
    const auto& P = c.params;
    // Mod switching needs room at q_0: skip sets whose last prime barely exceeds t.
    if (P->levels() < 2 || P->base(1).mod(0).bits - P->t_bits() < 20) continue;
    KeyGenerator kg(P);
    SecretKey sk = kg.secret_key(prg);
    Encryptor es(P, sk);
    Decryptor dec(P, sk);
    Evaluator ev(P);
    CoeffEncoder enc(P);
    const auto v = random_values(prg, P->n(), P->t());
    Ciphertext ct = es.encrypt_symmetric(enc.encode(v), prg);
    while (ct.level() > 1) {
      ev.mod_switch_to_next_inplace(ct);
      ASSERT_EQ(enc.decode(dec.decrypt(ct)), v) << c.name << " level " << ct.level();
    }
    EXPECT_THROW(ev.mod_switch_to_next_inplace(ct), Error);
  }
}

TEST(Bfv, WrongKeyDoesNotDecrypt) {
  auto P = HeParams::cheetah(37);
  Prg prg = test_prg(12);
  KeyGenerator kg(P);
  SecretKey sk1 = kg.secret_key(prg), sk2 = kg.secret_key(prg);
  CoeffEncoder enc(P);
  const auto v = random_values(prg, P->n(), P->t());
  Ciphertext ct = Encryptor(P, sk1).encrypt_symmetric(enc.encode(v), prg);
  EXPECT_NE(enc.decode(Decryptor(P, sk2).decrypt(ct)), v);
  EXPECT_EQ(Decryptor(P, sk2).noise_budget_bits(ct), 0);
}

TEST(Bfv, SecretAndErrorDistributions) {
  auto P = make_params(4096, 50, 1, 256);
  Prg prg = test_prg(13);
  KeyGenerator kg(P);
  SecretKey sk = kg.secret_key(prg);
  math::RnsPoly s = sk.s;
  math::from_ntt(s, P->key_base());
  int counts[3] = {0, 0, 0};
  const u64 q = P->key_base().mod(0).value;
  for (std::size_t j = 0; j < P->n(); ++j) {
    const u64 x = s.comp(0)[j];
    ASSERT_TRUE(x == 0 || x == 1 || x == q - 1);
    ++counts[x == 0 ? 0 : x == 1 ? 1 : 2];
  }
  for (int c : counts) EXPECT_NEAR(c, 4096 / 3.0, 200);  // ~7σ
  // Encryption noise of a symmetric ciphertext is CBD(21): variance 10.5.
  Encryptor es(P, sk);
  Decryptor dec(P, sk);
  CoeffEncoder enc(P);
  double var = 0;
  const int reps = 8;
  for (int r = 0; r < reps; ++r) {
    for (double e : dec.noise(es.encrypt_symmetric(enc.encode(std::vector<u64>{}), prg))) var += e * e;
  }
  var /= reps * 4096.0;
  EXPECT_NEAR(var, 10.5, 0.6);
}
