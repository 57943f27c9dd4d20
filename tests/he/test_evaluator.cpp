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
std::vector<u64> rnd(Prg& prg, std::size_t n, u64 t) {
  std::vector<u64> v(n);
  for (auto& x : v) x = prg.uniform_below(t);
  return v;
}

struct Fixture {
  HeParamsPtr P;
  SecretKey sk;
  PublicKey pk;
  Fixture(HeParamsPtr p, Prg& prg) : P(std::move(p)) {
    KeyGenerator kg(P);
    sk = kg.secret_key(prg);
    pk = kg.public_key(sk, prg);
  }
};

// Plaintext automorphism X → X^g on coefficients mod t.
std::vector<u64> automorph_plain(const std::vector<u64>& m, std::size_t g, u64 t) {
  const std::size_t n = m.size();
  std::vector<u64> r(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t e = (i * g) % (2 * n);
    if (e < n)
      r[e] = m[i];
    else
      r[e - n] = m[i] ? t - m[i] : 0;
  }
  return r;
}
}  // namespace

TEST(Evaluator, AdditiveOperationsMatchPlaintext) {
  Prg prg = test_prg(20);
  for (auto P : {HeParams::cheetah(37), make_params(256, 45, 3, test::batch_prime(256, 20))}) {
    Fixture f(P, prg);
    Encryptor es(P, f.sk);
    Decryptor dec(P, f.sk);
    Evaluator ev(P);
    CoeffEncoder enc(P);
    const u64 t = P->t();
    auto a = rnd(prg, P->n(), t), b = rnd(prg, P->n(), t), c = rnd(prg, P->n(), t);
    Ciphertext ca = es.encrypt_symmetric(enc.encode(a), prg);
    Ciphertext cb = es.encrypt_symmetric(enc.encode(b), prg);
    ev.from_ntt(cb);  // mixed forms are converted
    ev.add_inplace(ca, cb);
    ev.sub_plain_inplace(ca, enc.encode(c));
    Ciphertext cn = ca;
    ev.negate_inplace(cn);
    ev.add_plain_inplace(cn, enc.encode(b));
    ev.sub_inplace(cn, cb);
    std::vector<u64> want(P->n()), want_n(P->n());
    for (std::size_t i = 0; i < P->n(); ++i) {
      want[i] = ((a[i] + b[i]) % t + t - c[i]) % t;
      want_n[i] = ((t - want[i]) % t + b[i] + t - b[i]) % t;
    }
    EXPECT_EQ(enc.decode(dec.decrypt(ca)), want);
    EXPECT_EQ(enc.decode(dec.decrypt(cn)), want_n);
  }
}

TEST(Evaluator, PlainProductIsNegacyclicConvolutionModT) {
  Prg prg = test_prg(21);
  for (auto P : {HeParams::cheetah(37), make_params(512, 50, 2, 1ULL << 20),
                 make_params(1024, 55, 3, test::batch_prime(1024, 25))}) {
    Fixture f(P, prg);
    Encryptor es(P, f.sk);
    Decryptor dec(P, f.sk);
    Evaluator ev(P);
    CoeffEncoder enc(P);
    const u64 t = P->t();
    auto x = rnd(prg, P->n(), t);
    // Sparse small-norm kernel with signed taps (centred lift matters).
    std::vector<std::int64_t> k(P->n(), 0);
    for (int tap = 0; tap < 9; ++tap)
      k[prg.uniform_below(P->n())] = static_cast<std::int64_t>(prg.uniform_below(511)) - 255;
    Plaintext kp = enc.encode_signed(k);
    auto want = test::negacyclic_mod_t(x, enc.decode(kp), t);
    for (std::size_t L = P->levels(); L >= 1; --L) {
      Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
      ev.mod_switch_to_inplace(ct, L);
      Ciphertext acc = ct;
      ev.multiply_plain_inplace(ct, ev.prepare(kp, L));
      EXPECT_EQ(enc.decode(dec.decrypt(ct)), want) << "level " << L;
      // acc ← acc + acc·k = x·(1 + k)
      ev.to_ntt(acc);
      Ciphertext acc2 = acc;
      ev.multiply_plain_acc(acc2, acc, ev.prepare(kp, L));
      auto want2 = want;
      for (std::size_t i = 0; i < P->n(); ++i) want2[i] = (want2[i] + x[i]) % t;
      EXPECT_EQ(enc.decode(dec.decrypt(acc2)), want2) << "level " << L;
      EXPECT_THROW(ev.multiply_plain_inplace(ct, ev.prepare(kp, L == 1 ? 2 : 1)), Error);
    }
  }
}

// TECHNIQUES.md §0.3: with the plain Δ·m = floor(Q/t)·m encoding and a generic q, ct × p carries
// an extra −(Q mod t)·k term of size ≈ t·‖p‖₁/2; with every q_i ≡ 1 (mod t) it vanishes. Our
// encoding adds the exact rounding round(Q·m/t), which cancels that term for any q; the test shows
// all three cases.
TEST(Evaluator, PlainProductNoiseDependsOnQModTAndEncoding) {
  Prg prg = test_prg(22);
  const u64 t = 1ULL << 37;
  auto cheetah = HeParams::cheetah(37);
  auto generic = make_params(4096, 54, 2, t);  // q mod t ≠ 1
  ASSERT_NE(generic->q_mod_t(2), 1u);
  ASSERT_GT(generic->q_mod_t(2), 1ULL << 30);
  auto max_noise = [&](HeParamsPtr P, bool floor_encoding) {
    Fixture f(P, prg);
    Encryptor es(P, f.sk);
    Decryptor dec(P, f.sk);
    Evaluator ev(P);
    CoeffEncoder enc(P);
    std::vector<std::int64_t> k(9);
    for (auto& v : k) v = static_cast<std::int64_t>(prg.uniform_below(512)) - 256;  // |p_i| ≤ 2^8
    auto m = rnd(prg, P->n(), t);
    Ciphertext ct;
    if (floor_encoding) {
      // Enc(0) + floor(Q/t)·m, built by hand.
      ct = es.encrypt_symmetric(enc.encode(std::vector<u64>{}), prg);
      math::RnsPoly dm(P->n(), 2, false);
      for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t j = 0; j < P->n(); ++j)
          dm.comp(i)[j] = math::mul_mod(m[j], P->delta_mod(2)[i], P->base().mod(i));
      math::to_ntt(dm, P->base());
      math::add_inplace(ct.c0, dm, P->base());
    } else {
      ct = es.encrypt_symmetric(enc.encode(m), prg);
    }
    ev.multiply_plain_inplace(ct, ev.prepare(enc.encode_signed(k)));
    double mx = 0;
    for (double e : dec.noise(ct)) mx = std::max(mx, std::fabs(e));
    return mx;
  };
  const double bound = (21.0 + 1.0) * 9 * 256;  // ‖e‖∞·‖p‖₁ plus rounding
  EXPECT_LT(max_noise(cheetah, true), bound);
  EXPECT_LT(max_noise(cheetah, false), bound);
  EXPECT_LT(max_noise(generic, false), bound);
  EXPECT_GT(max_noise(generic, true), std::ldexp(1.0, 35));  // ≈ (q mod t)·‖p‖₁/2
}

TEST(Evaluator, MonomialProduct) {
  Prg prg = test_prg(23);
  auto P = HeParams::cheetah(37);
  Fixture f(P, prg);
  Encryptor es(P, f.sk);
  Decryptor dec(P, f.sk);
  Evaluator ev(P);
  CoeffEncoder enc(P);
  auto x = rnd(prg, P->n(), P->t());
  for (std::size_t e : {0u, 1u, 17u, 4095u, 4096u, 5000u, 8191u}) {
    Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
    ev.multiply_monomial_inplace(ct, e);
    std::vector<u64> mono(P->n(), 0);
    std::vector<u64> want;
    if (e < P->n()) {
      mono[e] = 1;
    } else {
      mono[e - P->n()] = P->t() - 1;
    }
    want = test::negacyclic_mod_t(x, mono, P->t());
    EXPECT_EQ(enc.decode(dec.decrypt(ct)), want) << e;
  }
}

TEST(Evaluator, GaloisAutomorphismWithKeySwitching) {
  Prg prg = test_prg(24);
  for (auto P : {make_params(256, 50, 2, 1ULL << 16, true), make_params(4096, 36, 2, 1ULL << 20, true),
                 make_params(8192, 50, 3, test::batch_prime(8192, 30), true)}) {
    Fixture f(P, prg);
    KeyGenerator kg(P);
    const std::size_t two_n = 2 * P->n();
    std::vector<std::uint64_t> elts = {3, 5, two_n - 1, 25};
    GaloisKeys gk = kg.galois_keys(f.sk, elts, prg);
    Encryptor es(P, f.sk);
    Decryptor dec(P, f.sk);
    Evaluator ev(P);
    CoeffEncoder enc(P);
    auto x = rnd(prg, P->n(), P->t());
    for (std::uint64_t g : elts) {
      for (std::size_t L = P->levels(); L >= 1; --L) {
        Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
        ev.mod_switch_to_inplace(ct, L);
        Ciphertext r = ev.apply_galois(ct, g, gk);
        ASSERT_EQ(enc.decode(dec.decrypt(r)), automorph_plain(x, g, P->t())) << "g=" << g << " L=" << L;
        EXPECT_GT(dec.noise_budget_bits(r), 0);
      }
    }
    Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
    EXPECT_THROW(ev.apply_galois(ct, 7, gk), Error);  // no key
  }
  // No special prime: no Galois keys.
  auto P = HeParams::cheetah(37);
  Prg p2 = test_prg(25);
  KeyGenerator kg(P);
  SecretKey sk = kg.secret_key(p2);
  EXPECT_THROW(kg.galois_keys(sk, {3}, p2), Error);
}

TEST(Evaluator, HoistedAutomorphismsEqualOneAtATime) {
  Prg prg = test_prg(26);
  for (auto P : {make_params(256, 50, 2, 1ULL << 16, true), make_params(8192, 50, 3, test::batch_prime(8192, 30), true)}) {
    Fixture f(P, prg);
    KeyGenerator kg(P);
    const std::size_t two_n = 2 * P->n();
    const std::vector<std::uint64_t> elts = {3, 5, two_n - 1, 25, 9};
    GaloisKeys gk = kg.galois_keys(f.sk, elts, prg);
    Encryptor es(P, f.sk);
    Decryptor dec(P, f.sk);
    Evaluator ev(P);
    CoeffEncoder enc(P);
    auto x = rnd(prg, P->n(), P->t());
    for (std::size_t L = P->levels(); L >= 1; --L) {
      Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
      ev.mod_switch_to_inplace(ct, L);
      const std::vector<Ciphertext> h = ev.apply_galois_hoisted(ct, elts, gk);
      ASSERT_EQ(h.size(), elts.size());
      for (std::size_t e = 0; e < elts.size(); ++e) {
        ASSERT_EQ(enc.decode(dec.decrypt(h[e])), automorph_plain(x, elts[e], P->t())) << "g=" << elts[e] << " L=" << L;
        // Same key-switching noise as one at a time, within a bit.
        const Ciphertext one = ev.apply_galois(ct, elts[e], gk);
        EXPECT_NEAR(dec.noise_budget_bits(h[e]), dec.noise_budget_bits(one), 1);
      }
    }
    Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
    const std::vector<std::uint64_t> missing = {3, 7};
    EXPECT_THROW(ev.apply_galois_hoisted(ct, missing, gk), Error);
    EXPECT_TRUE(ev.apply_galois_hoisted(ct, {}, gk).empty());
  }
}

TEST(Evaluator, FloodingHasTheRequestedMagnitude) {
  Prg prg = test_prg(26);
  // Below and above the two-limb range (the slot layers' fused x²+x floods ≈ 130 bits).
  for (const auto& [P, flood] : {std::pair{HeParams::cheetah(37), 50}, std::pair{HeParams::batch(30, 16384, 3), 140}}) {
    SCOPED_TRACE(flood);
    Fixture f(P, prg);
    Encryptor es(P, f.sk);
    Decryptor dec(P, f.sk);
    Evaluator ev(P);
    CoeffEncoder enc(P);
    auto x = rnd(prg, P->n(), P->t());
    Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
    Ciphertext plain = ct;
    ev.rerandomize_and_flood_inplace(ct, f.pk, flood, prg);
    EXPECT_EQ(enc.decode(dec.decrypt(ct)), x);
    // Uniform on [−2^b, 2^b]: σ = 2^b/√3, max ≈ 2^b. Enc_pk(0) adds ≪ 2^b.
    double sum2 = 0, mx = 0, sum = 0;
    for (double e : dec.noise(ct)) {
      sum += e;
      sum2 += e * e;
      mx = std::max(mx, std::fabs(e));
    }
    const double nd = static_cast<double>(P->n());
    const double sigma = std::sqrt(sum2 / nd);
    EXPECT_NEAR(sigma / (std::ldexp(1.0, flood) / std::sqrt(3.0)), 1.0, 0.05);
    EXPECT_NEAR(sum / nd / std::ldexp(1.0, flood), 0.0, 0.05);  // centred
    EXPECT_LE(mx, std::ldexp(1.0, flood) * (1 + 1e-9) + 4096.0);
    EXPECT_GE(mx, std::ldexp(1.0, flood) * 0.99);
    // Without flooding the noise is tiny; c1 changed (re-randomised).
    double mx0 = 0;
    for (double e : dec.noise(plain)) mx0 = std::max(mx0, std::fabs(e));
    EXPECT_LT(mx0, 32);
    EXPECT_NE(ct.c1.data, plain.c1.data);
    EXPECT_FALSE(ct.c1_seed.has_value());
    EXPECT_THROW(ev.rerandomize_and_flood_inplace(ct, f.pk, kMaxFloodBits + 1, prg), Error);
  }
}
