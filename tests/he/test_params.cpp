#include <gtest/gtest.h>

#include "he_test_util.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"

using namespace peregrine;
using namespace peregrine::he;

namespace {
ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorCode::kUnsupported;
}
}  // namespace

TEST(Params, SecurityTableIsEnforced) {
  EXPECT_EQ(max_log_q_128(2048), 54);
  EXPECT_EQ(max_log_q_128(4096), 109);
  EXPECT_EQ(max_log_q_128(8192), 218);
  EXPECT_EQ(max_log_q_128(16384), 438);
  EXPECT_EQ(max_log_q_128(32768), 881);
  // Cheetah's set sits exactly on the bound (60 + 49 = 109 bits).
  auto ch = HeParams::cheetah(37);
  EXPECT_EQ(ch->total_log_q(), 109);
  ParamsSpec s;
  s.n = 4096;
  s.coeff_primes = math::generate_primes(60, 1, 1ULL << 37);
  s.coeff_primes.push_back(math::generate_primes(50, 1, 1ULL << 37)[0]);  // 110 bits
  s.plain_modulus = 1ULL << 37;
  EXPECT_EQ(code_of([&] { HeParams::create(s); }), ErrorCode::kInsecureParameters);
  s.security = Security::kInsecureForTestsOnly;
  EXPECT_NO_THROW(HeParams::create(s));
  // The special prime counts towards log q.
  ParamsSpec k;
  k.n = 8192;
  k.coeff_primes = math::generate_primes(60, 3, 16384);
  k.special_prime = math::generate_primes(60, 4, 16384)[3];
  k.plain_modulus = 65537;
  EXPECT_EQ(code_of([&] { HeParams::create(k); }), ErrorCode::kInsecureParameters);  // 240 > 218
  k.coeff_primes.pop_back();
  EXPECT_NO_THROW(HeParams::create(k));  // 180 bits
  // N below 2048 needs the opt-in.
  ParamsSpec small;
  small.n = 1024;
  small.coeff_primes = math::generate_primes(27, 1, 2048);
  small.plain_modulus = 256;
  EXPECT_EQ(code_of([&] { HeParams::create(small); }), ErrorCode::kInsecureParameters);
}

TEST(Params, MalformedSpecsAreRejected) {
  ParamsSpec good;
  good.n = 2048;
  good.coeff_primes = math::generate_primes(54, 1, 4096);
  good.plain_modulus = 1 << 16;
  EXPECT_NO_THROW(HeParams::create(good));
  auto bad = good;
  bad.n = 3000;
  EXPECT_EQ(code_of([&] { HeParams::create(bad); }), ErrorCode::kInvalidArgument);
  bad = good;
  bad.coeff_primes = {good.coeff_primes[0] + 2};  // not prime or not ≡ 1 mod 2N
  EXPECT_EQ(code_of([&] { HeParams::create(bad); }), ErrorCode::kInvalidArgument);
  bad = good;
  bad.coeff_primes = {math::generate_primes(26, 1, 2048)[0], math::generate_primes(26, 1, 2048)[0]};
  EXPECT_EQ(code_of([&] { HeParams::create(bad); }), ErrorCode::kInvalidArgument);  // duplicate
  bad = good;
  bad.plain_modulus = 1000;  // neither 2^ℓ nor a prime ≡ 1 mod 2N
  EXPECT_EQ(code_of([&] { HeParams::create(bad); }), ErrorCode::kInvalidArgument);
  bad = good;
  bad.plain_modulus = 1ULL << 54;  // ≥ q_0
  EXPECT_EQ(code_of([&] { HeParams::create(bad); }), ErrorCode::kInvalidArgument);
  bad = good;
  bad.coeff_primes.clear();
  EXPECT_EQ(code_of([&] { HeParams::create(bad); }), ErrorCode::kInvalidArgument);
}

TEST(Params, IdIsDeterministicAndSensitive) {
  auto a = HeParams::cheetah(37), b = HeParams::cheetah(37), c = HeParams::cheetah(36);
  EXPECT_EQ(a->params_id(), b->params_id());
  EXPECT_NE(a->params_id(), c->params_id());
  for (u64 p : a->spec().coeff_primes) EXPECT_EQ(p % (1ULL << 37), 1u);
  EXPECT_EQ(a->q_mod_t(2), 1u);  // q ≡ 1 (mod t): no t·‖p‖₁ noise term (TECHNIQUES.md §0.3)
}

TEST(Params, ObjectsFromOtherParamsAreRefused) {
  auto a = HeParams::cheetah(37), b = HeParams::cheetah(36);
  Prg prg = test::test_prg(1);
  KeyGenerator kg(a);
  SecretKey sk = kg.secret_key(prg);
  EXPECT_EQ(code_of([&] { Encryptor(b, sk); }), ErrorCode::kParamsMismatch);
  Encryptor enc(a, sk);
  CoeffEncoder ea(a), eb(b);
  Ciphertext ct = enc.encrypt_symmetric(ea.encode(std::vector<u64>{1, 2, 3}), prg);
  EXPECT_EQ(code_of([&] { enc.encrypt_symmetric(eb.encode(std::vector<u64>{1}), prg); }),
            ErrorCode::kParamsMismatch);
  Evaluator ev_b(b);
  EXPECT_EQ(code_of([&] { ev_b.negate_inplace(ct); }), ErrorCode::kParamsMismatch);
  Evaluator ev_a(a);
  EXPECT_EQ(code_of([&] { ev_a.add_plain_inplace(ct, eb.encode(std::vector<u64>{1})); }),
            ErrorCode::kParamsMismatch);
}
