#include <gtest/gtest.h>

#include "he_test_util.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/serialize.hpp"

using namespace peregrine;
using namespace peregrine::he;
using test::make_params;
using test::test_prg;

namespace {
ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return static_cast<ErrorCode>(-1);
}

struct World {
  HeParamsPtr P;
  SecretKey sk;
  PublicKey pk;
  World(HeParamsPtr p, Prg& prg) : P(std::move(p)) {
    KeyGenerator kg(P);
    sk = kg.secret_key(prg);
    pk = kg.public_key(sk, prg);
  }
};
}  // namespace

TEST(Serialize, RoundTripsEveryObject) {
  Prg prg = test_prg(40);
  World w(make_params(1024, 50, 2, test::batch_prime(1024, 20), true), prg);
  const auto& P = *w.P;
  CoeffEncoder enc(w.P);
  std::vector<u64> v(P.n());
  for (auto& x : v) x = prg.uniform_below(P.t());
  Plaintext pt = enc.encode(v);
  EXPECT_EQ(deserialize_plaintext(P, serialize(P, pt)).coeffs, pt.coeffs);

  Ciphertext ct = Encryptor(w.P, w.sk).encrypt_symmetric(pt, prg);
  auto bytes = serialize(P, ct);
  EXPECT_EQ(bytes.size(), ciphertext_bytes(P, 2, true));
  Ciphertext back = deserialize_ciphertext(P, bytes);
  EXPECT_EQ(back.c0, ct.c0);
  EXPECT_EQ(back.c1, ct.c1);
  Decryptor dec(w.P, w.sk);
  EXPECT_EQ(dec.decrypt(back).coeffs, pt.coeffs);
  // Unseeded (after an operation) is about twice as large.
  Evaluator ev(w.P);
  Ciphertext ct2 = ct;
  ev.add_plain_inplace(ct2, pt);
  ev.negate_inplace(ct2);
  auto bytes2 = serialize(P, ct2);
  EXPECT_EQ(bytes2.size(), ciphertext_bytes(P, 2, false));
  EXPECT_GT(bytes2.size(), 2 * bytes.size() - 100);
  EXPECT_EQ(deserialize_ciphertext(P, bytes2).c1, ct2.c1);

  PublicKey pk2 = deserialize_public_key(P, serialize(P, w.pk));
  EXPECT_EQ(pk2.p0, w.pk.p0);
  EXPECT_EQ(pk2.p1, w.pk.p1);
  SecretKey sk2 = deserialize_secret_key(P, serialize(P, w.sk));
  EXPECT_EQ(sk2.s, w.sk.s);

  KeyGenerator kg(w.P);
  GaloisKeys gk = kg.galois_keys(w.sk, {3, 5, 2 * P.n() - 1}, prg);
  GaloisKeys gk2 = deserialize_galois_keys(P, serialize(P, gk));
  ASSERT_EQ(gk2.keys.size(), 3u);
  for (auto& [g, k] : gk.keys) {
    EXPECT_EQ(gk2.keys.at(g).b, k.b);
    EXPECT_EQ(gk2.keys.at(g).a, k.a);
  }

  Ciphertext low = ct;
  ev.mod_switch_to_inplace(low, 1);
  std::vector<std::uint32_t> idx = {0, 5, 17, 1023};
  TrimmedCiphertext tr = ev.trim(low, 12, 4, idx);
  auto tb = serialize(P, tr);
  EXPECT_EQ(tb.size(), trimmed_bytes(P, 12, 4, idx.size()));
  TrimmedCiphertext tr2 = deserialize_trimmed(P, tb, idx.size());
  EXPECT_EQ(tr2.c0_hi, tr.c0_hi);
  EXPECT_EQ(tr2.c1_hi, tr.c1_hi);
  auto vals = dec.decrypt_trimmed(tr2, idx);
  for (std::size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(vals[i], v[idx[i]]);
}

TEST(Serialize, RejectsCorruptTruncatedOversizedAndForeignInput) {
  Prg prg = test_prg(41);
  World w(HeParams::cheetah(37), prg);
  const auto& P = *w.P;
  CoeffEncoder enc(w.P);
  Ciphertext ct = Encryptor(w.P, w.sk).encrypt_symmetric(enc.encode(std::vector<u64>{7}), prg);
  const auto good = serialize(P, ct);
  ASSERT_NO_THROW(deserialize_ciphertext(P, good));

  auto bad = good;
  bad[0] ^= 1;
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);  // magic
  bad = good;
  bad[4] = 9;
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);  // version
  bad = good;
  bad[6] = static_cast<std::uint8_t>(ObjectType::kPlaintext);
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);  // type
  bad = good;
  bad[7] ^= 0x40;
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kParamsMismatch);
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(*HeParams::cheetah(36), good); }),
            ErrorCode::kParamsMismatch);
  bad = good;
  bad[15] = 3;  // level 3 > 2
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);
  bad = good;
  bad[16] = 2;  // seeded but not NTT form
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);
  bad = good;
  bad.pop_back();
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);  // truncated
  bad = good;
  bad.push_back(0);
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);  // trailing
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, good, good.size() - 1); }), ErrorCode::kSizeLimit);
  // A coefficient ≥ q_0: set the first 60-bit field of c0 to all ones.
  bad = good;
  for (int i = 17; i < 17 + 7; ++i) bad[i] = 0xFF;
  bad[24] |= 0x0F;
  EXPECT_EQ(code_of([&] { deserialize_ciphertext(P, bad); }), ErrorCode::kMalformedInput);

  // Galois keys announcing a huge count are refused before any allocation.
  auto Pk = make_params(1024, 50, 1, 256, true);
  std::vector<std::uint8_t> gbuf = {'P', 'G', 'H', 'E', 1, 0, static_cast<std::uint8_t>(ObjectType::kGaloisKeys)};
  for (int i = 0; i < 8; ++i) gbuf.push_back(static_cast<std::uint8_t>(Pk->params_id() >> (8 * i)));
  for (std::uint8_t b : {0xFF, 0xFF, 0xFF, 0x7F}) gbuf.push_back(b);
  EXPECT_EQ(code_of([&] { deserialize_galois_keys(*Pk, gbuf); }), ErrorCode::kMalformedInput);
  gbuf[15] = 2;
  gbuf[16] = gbuf[17] = gbuf[18] = 0;  // 2 keys announced, none present
  EXPECT_EQ(code_of([&] { deserialize_galois_keys(*Pk, gbuf); }), ErrorCode::kMalformedInput);

  // Trimmed responses: count must match the public index set.
  Evaluator ev(w.P);
  Ciphertext low = ct;
  ev.mod_switch_to_inplace(low, 1);
  std::vector<std::uint32_t> idx = {1, 2, 3};
  auto tb = serialize(P, ev.trim(low, 20, 10, idx));
  EXPECT_NO_THROW(deserialize_trimmed(P, tb, 3));
  EXPECT_EQ(code_of([&] { deserialize_trimmed(P, tb, 4); }), ErrorCode::kMalformedInput);
  auto tbad = tb;
  tbad[15] = 61;  // d0 ≥ log2 q'
  EXPECT_EQ(code_of([&] { deserialize_trimmed(P, tbad, 3); }), ErrorCode::kMalformedInput);
  // A secret key with a digit 3 is not ternary.
  auto skb = serialize(P, w.sk);
  skb[15] |= 0x03;
  EXPECT_EQ(code_of([&] { deserialize_secret_key(P, skb); }), ErrorCode::kMalformedInput);
}

TEST(Serialize, RandomCorruptionNeverCrashes) {
  Prg prg = test_prg(42);
  World w(make_params(256, 50, 2, 1 << 10, true), prg);
  const auto& P = *w.P;
  KeyGenerator kg(w.P);
  CoeffEncoder enc(w.P);
  Ciphertext ct = Encryptor(w.P, w.sk).encrypt_symmetric(enc.encode(std::vector<u64>{1, 2}), prg);
  Evaluator ev(w.P);
  Ciphertext unseeded = ct;
  ev.negate_inplace(unseeded);
  std::vector<std::vector<std::uint8_t>> blobs = {
      serialize(P, ct), serialize(P, unseeded), serialize(P, w.pk), serialize(P, w.sk),
      serialize(P, kg.galois_keys(w.sk, {3}, prg)), serialize(P, enc.encode(std::vector<u64>{5}))};
  int rejected = 0, total = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto b = blobs[iter % blobs.size()];
    const int flips = 1 + static_cast<int>(prg.uniform_below(4));
    for (int f = 0; f < flips; ++f) b[prg.uniform_below(b.size())] ^= static_cast<std::uint8_t>(1 + prg.uniform_below(255));
    if (prg.uniform_below(4) == 0) b.resize(prg.uniform_below(b.size() + 1));
    ++total;
    try {
      switch (iter % blobs.size()) {
        case 0:
        case 1: deserialize_ciphertext(P, b); break;
        case 2: deserialize_public_key(P, b); break;
        case 3: deserialize_secret_key(P, b); break;
        case 4: deserialize_galois_keys(P, b); break;
        default: deserialize_plaintext(P, b); break;
      }
    } catch (const Error&) {
      ++rejected;
    }
  }
  // Most corruptions are caught (range/length/header checks); the rest decode to valid objects.
  EXPECT_GT(rejected, total / 4);
}
