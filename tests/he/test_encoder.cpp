#include <gtest/gtest.h>

#include "he_test_util.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"

using namespace peregrine;
using namespace peregrine::he;
using test::make_params;
using test::test_prg;

TEST(CoeffEncoder, SignedValuesAndBounds) {
  for (int ell : {13, 37, 44}) {
    auto P = HeParams::cheetah(ell);
    CoeffEncoder enc(P);
    const std::int64_t half = std::int64_t{1} << (ell - 1);
    std::vector<std::int64_t> v = {0, 1, -1, half - 1, -half, half / 3, -half / 5};
    auto back = enc.decode_signed(enc.encode_signed(v));
    for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(back[i], v[i]) << ell;
    for (std::size_t i = v.size(); i < back.size(); ++i) EXPECT_EQ(back[i], 0);
    // Wraps modulo 2^ℓ like the share ring.
    EXPECT_EQ(enc.decode_signed(enc.encode_signed(std::vector<std::int64_t>{half}))[0], -half);
    EXPECT_THROW(enc.encode(std::vector<u64>{P->t()}), Error);
    EXPECT_THROW(enc.encode(std::vector<u64>(P->n() + 1, 0)), Error);
  }
}

TEST(BatchEncoder, RoundTripAndElementwiseProduct) {
  Prg prg = test_prg(30);
  for (auto P : {make_params(256, 50, 2, test::batch_prime(256, 20), true),
                 make_params(8192, 50, 3, test::batch_prime(8192, 30), true)}) {
    BatchEncoder be(P);
    const u64 t = P->t();
    std::vector<u64> a(P->n()), b(P->n());
    for (auto& x : a) x = prg.uniform_below(t);
    for (auto& x : b) x = prg.uniform_below(t);
    a[0] = t - 1;
    EXPECT_EQ(be.decode(be.encode(a)), a);
    KeyGenerator kg(P);
    SecretKey sk = kg.secret_key(prg);
    Encryptor es(P, sk);
    Decryptor dec(P, sk);
    Evaluator ev(P);
    Ciphertext ct = es.encrypt_symmetric(be.encode(a), prg);
    ev.multiply_plain_inplace(ct, ev.prepare(be.encode(b)));
    std::vector<u64> want(P->n());
    for (std::size_t i = 0; i < want.size(); ++i)
      want[i] = static_cast<u64>(static_cast<unsigned __int128>(a[i]) * b[i] % t);
    EXPECT_EQ(be.decode(dec.decrypt(ct)), want);
  }
  EXPECT_THROW(BatchEncoder(HeParams::cheetah(37)), Error);  // t = 2^37 has no slots
}

TEST(BatchEncoder, RotationsAndRowSwap) {
  Prg prg = test_prg(31);
  auto P = make_params(1024, 50, 2, test::batch_prime(1024, 20), true);
  BatchEncoder be(P);
  const std::size_t n = P->n(), half = n / 2;
  std::vector<u64> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i + 1;
  KeyGenerator kg(P);
  SecretKey sk = kg.secret_key(prg);
  std::vector<int> steps = {1, 2, 7, -1, -5, static_cast<int>(half) - 1};
  GaloisKeys gk = kg.galois_keys(sk, kg.rotation_elements(steps), prg);
  GaloisKeys swap = kg.galois_keys(sk, kg.rotation_elements({0}), prg);
  Encryptor es(P, sk);
  Decryptor dec(P, sk);
  Evaluator ev(P);
  Ciphertext ct = es.encrypt_symmetric(be.encode(v), prg);
  for (int s : steps) {
    auto got = be.decode(dec.decrypt(ev.rotate_rows(ct, s, gk)));
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t i = 0; i < half; ++i) {
        const std::size_t src = (i + half + static_cast<std::size_t>((s % static_cast<int>(half)) + static_cast<int>(half))) % half;
        ASSERT_EQ(got[r * half + i], v[r * half + src]) << "step " << s;
      }
  }
  auto got = be.decode(dec.decrypt(ev.swap_rows(ct, swap)));
  for (std::size_t i = 0; i < half; ++i) {
    EXPECT_EQ(got[i], v[half + i]);
    EXPECT_EQ(got[half + i], v[i]);
  }
  EXPECT_THROW(ev.rotate_rows(ct, 3, gk), Error);  // no key for step 3
}
