// BFV operation benchmarks (Google Benchmark). Reported, never asserted.
// Parameter sets: "cheetah" = N 4096, 60+49-bit primes, t = 2^37 (TECHNIQUES.md §0.3);
// "slots8192" = N 8192, two 50-bit data primes + a 50-bit special prime, 30-bit batching prime.
#include <benchmark/benchmark.h>

#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/serialize.hpp"
#include "peregrine/math/primes.hpp"

namespace {
using namespace peregrine;
using namespace peregrine::he;

struct World {
  HeParamsPtr P;
  Prg prg = Prg::from_os();
  SecretKey sk;
  PublicKey pk;
  GaloisKeys gk;
  Ciphertext ct;
  PlaintextNtt pt;
  Plaintext plain;

  explicit World(bool slots) {
    if (slots) {
      ParamsSpec s;
      s.n = 8192;
      auto primes = math::generate_primes(50, 3, 2 * s.n);
      s.special_prime = primes[0];
      s.coeff_primes = {primes[1], primes[2]};
      s.plain_modulus = math::generate_primes(30, 1, 2 * s.n)[0];
      P = HeParams::create(s);
    } else {
      P = HeParams::cheetah(37);
    }
    KeyGenerator kg(P);
    sk = kg.secret_key(prg);
    pk = kg.public_key(sk, prg);
    if (slots) gk = kg.galois_keys(sk, kg.rotation_elements({1}), prg);
    std::vector<u64> v(P->n());
    for (auto& x : v) x = prg.uniform_below(P->t());
    plain = CoeffEncoder(P).encode(v);
    ct = Encryptor(P, sk).encrypt_symmetric(plain, prg);
    pt = Evaluator(P).prepare(plain);
  }
};

World& world(bool slots) {
  static World cheetah(false), big(true);
  return slots ? big : cheetah;
}

void BM_HeEncryptSymmetric(benchmark::State& st) {
  World& w = world(st.range(0));
  Encryptor enc(w.P, w.sk);
  for (auto _ : st) benchmark::DoNotOptimize(enc.encrypt_symmetric(w.plain, w.prg));
}

void BM_HeEncryptPublic(benchmark::State& st) {
  World& w = world(st.range(0));
  Encryptor enc(w.P, w.pk);
  for (auto _ : st) benchmark::DoNotOptimize(enc.encrypt_public(w.plain, w.prg));
}

void BM_HeDecrypt(benchmark::State& st) {
  World& w = world(st.range(0));
  Decryptor dec(w.P, w.sk);
  Ciphertext c = w.ct;
  if (st.range(1) == 1) Evaluator(w.P).mod_switch_to_inplace(c, 1);
  st.SetLabel(st.range(1) == 1 ? "level 1" : "top level");
  for (auto _ : st) benchmark::DoNotOptimize(dec.decrypt(c));
}

void BM_HeMultiplyPlain(benchmark::State& st) {
  World& w = world(st.range(0));
  Evaluator ev(w.P);
  for (auto _ : st) {
    Ciphertext c = w.ct;
    ev.multiply_plain_inplace(c, w.pt);
    benchmark::DoNotOptimize(c);
  }
}

void BM_HeMultiplyPlainAcc(benchmark::State& st) {
  World& w = world(st.range(0));
  Evaluator ev(w.P);
  Ciphertext acc = w.ct;
  for (auto _ : st) ev.multiply_plain_acc(acc, w.ct, w.pt);
}

void BM_HePrepare(benchmark::State& st) {
  World& w = world(st.range(0));
  Evaluator ev(w.P);
  for (auto _ : st) benchmark::DoNotOptimize(ev.prepare(w.plain));
}

void BM_HeRotate(benchmark::State& st) {
  World& w = world(true);
  Evaluator ev(w.P);
  for (auto _ : st) benchmark::DoNotOptimize(ev.rotate_rows(w.ct, 1, w.gk));
}

void BM_HeModSwitch(benchmark::State& st) {
  World& w = world(st.range(0));
  Evaluator ev(w.P);
  for (auto _ : st) {
    Ciphertext c = w.ct;
    ev.mod_switch_to_next_inplace(c);
    benchmark::DoNotOptimize(c);
  }
}

void BM_HeFloodAndTrim(benchmark::State& st) {
  World& w = world(false);
  Evaluator ev(w.P);
  std::vector<std::uint32_t> keep(w.P->n());
  for (std::uint32_t i = 0; i < keep.size(); ++i) keep[i] = i;
  for (auto _ : st) {
    Ciphertext c = w.ct;
    ev.rerandomize_and_flood_inplace(c, w.pk, 62, w.prg);
    ev.mod_switch_to_inplace(c, 1);
    benchmark::DoNotOptimize(serialize(*w.P, ev.trim(c, 20, 10, keep)));
  }
}

void params_arg(benchmark::internal::Benchmark* b) {
  b->ArgNames({"slots8192"})->Arg(0)->Arg(1);
}

}  // namespace

BENCHMARK(BM_HeEncryptSymmetric)->Apply(params_arg)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HeEncryptPublic)->Apply(params_arg)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HeDecrypt)->ArgNames({"slots8192", "level1"})->Args({0, 0})->Args({0, 1})->Args({1, 0})->Args({1, 1})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HeMultiplyPlain)->Apply(params_arg)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HeMultiplyPlainAcc)->Apply(params_arg)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HePrepare)->Apply(params_arg)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HeRotate)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HeModSwitch)->Apply(params_arg)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HeFloodAndTrim)->Unit(benchmark::kMicrosecond);
