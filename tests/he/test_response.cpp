// Property test of Cheetah's response pipeline (TECHNIQUES.md §0.5) on the real parameter set:
// client encrypts x_C; server adds x_S, multiplies by a kernel, subtracts its mask R,
// re-randomises and floods, mod-switches to q', drops low bits and trims c0 to V; the client
// decrypts y_C and y_C + R must equal (x·K) at V modulo 2^ℓ — for thousands of random cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "he_test_util.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/serialize.hpp"

using namespace peregrine;
using namespace peregrine::he;
using test::test_prg;

namespace {
// Reference: negacyclic product mod 2^ℓ of x (dense) and a sparse signed kernel.
std::vector<u64> product_mod_t(const std::vector<u64>& x, const std::vector<std::pair<std::size_t, std::int64_t>>& taps,
                               u64 t) {
  const std::size_t n = x.size();
  const u64 mask = t - 1;
  std::vector<u64> y(n, 0);
  for (auto [pos, w] : taps) {
    const u64 wm = static_cast<u64>(w) & mask;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = i + pos;
      const u64 prod = (x[i] * wm) & mask;  // mod 2^ℓ: wrap-around multiplication is exact
      if (k < n)
        y[k] = (y[k] + prod) & mask;
      else
        y[k - n] = (y[k - n] - prod) & mask;
    }
  }
  return y;
}
}  // namespace

TEST(CheetahResponse, ThousandsOfRandomCasesDecryptCorrectly) {
  const int ell = 37;
  auto P = HeParams::cheetah(ell);
  const u64 t = P->t();
  const std::size_t n = P->n();
  Prg prg = test_prg(50);
  KeyGenerator kg(P);
  SecretKey sk = kg.secret_key(prg);
  PublicKey pk = kg.public_key(sk, prg);
  // The server only ever sees the serialised public key.
  PublicKey server_pk = deserialize_public_key(*P, serialize(*P, pk));
  Encryptor client_enc(P, sk);
  Decryptor dec(P, sk);
  Evaluator ev(P);
  CoeffEncoder enc(P);

  // Noise budget (docs/NOISE.md): kernels of ≤ 25 taps with |w| ≤ 2^12 (f = 12 weights) give
  // honest noise ≤ (21 + 1)·25·2^12 < 2^22; flood 2^62 (40 bits above); q' = 60-bit prime,
  // d0 = 20, d1 = 10: total error < 2^20.5 < Δ'/2 = 2^22.
  const int flood_bits = 62, d0 = 20, d1 = 10;
  const int cases = 2000;
  std::size_t coefficients = 0;
  for (int c = 0; c < cases; ++c) {
    std::vector<u64> xc(n), xs(n), x(n), r(n);
    for (std::size_t i = 0; i < n; ++i) {
      xc[i] = prg.uniform_below(t);
      xs[i] = prg.uniform_below(t);
      x[i] = (xc[i] + xs[i]) & (t - 1);
      r[i] = prg.uniform_below(t);
    }
    // Edge values of the share ring at fixed places.
    xc[0] = 0;
    xs[0] = 0;
    xc[1] = t - 1;
    xs[1] = 1;
    x[0] = 0;
    x[1] = 0;
    std::vector<std::pair<std::size_t, std::int64_t>> taps;
    const int ntaps = c % 3 == 0 ? 1 : (c % 3 == 1 ? 9 : 25);
    std::vector<std::int64_t> kernel(n, 0);
    for (int k = 0; k < ntaps; ++k) {
      const std::size_t pos = prg.uniform_below(n);
      std::int64_t w = static_cast<std::int64_t>(prg.uniform_below((1u << 13) + 1)) - (1 << 12);
      if (k == 0 && c % 7 == 0) w = (c % 2) ? (1 << 12) : -(1 << 12);  // worst-case magnitude
      if (kernel[pos] != 0) continue;
      kernel[pos] = w;
      taps.emplace_back(pos, w);
    }
    const auto want = product_mod_t(x, taps, t);
    // Public valid set V: a random subset (always including 0 and 1).
    std::vector<std::uint32_t> V = {0, 1};
    const u64 keep_one_in = 1 + prg.uniform_below(8);
    for (std::uint32_t i = 2; i < n; ++i)
      if (prg.uniform_below(keep_one_in) == 0) V.push_back(i);

    // Client → server (serialised, seeded).
    auto up = serialize(*P, client_enc.encrypt_symmetric(enc.encode(xc), prg));
    Ciphertext ct = deserialize_ciphertext(*P, up);
    // Server.
    ev.add_plain_inplace(ct, enc.encode(xs));
    ev.multiply_plain_inplace(ct, ev.prepare(enc.encode_signed(kernel)));
    ev.sub_plain_inplace(ct, enc.encode(r));
    ev.rerandomize_and_flood_inplace(ct, server_pk, flood_bits, prg);
    ev.mod_switch_to_inplace(ct, 1);
    auto down = serialize(*P, ev.trim(ct, d0, d1, V));
    ASSERT_EQ(down.size(), trimmed_bytes(*P, d0, d1, V.size()));
    // Client.
    auto yc = dec.decrypt_trimmed(deserialize_trimmed(*P, down, V.size()), V);
    for (std::size_t i = 0; i < V.size(); ++i) {
      ASSERT_EQ((yc[i] + r[V[i]]) & (t - 1), want[V[i]]) << "case " << c << " index " << V[i];
    }
    coefficients += V.size();
  }
  EXPECT_GT(coefficients, 1000000u);  // ≥ 10^6 decrypted coefficients without a failure
}

// The flood must dominate: the response noise before the switch has spread ≈ 2^flood_bits,
// whatever the kernel (so the noise does not reveal the weights).
TEST(CheetahResponse, NoiseIsFloodedIndependentlyOfTheKernel) {
  auto P = HeParams::cheetah(37);
  Prg prg = test_prg(51);
  KeyGenerator kg(P);
  SecretKey sk = kg.secret_key(prg);
  PublicKey pk = kg.public_key(sk, prg);
  Encryptor es(P, sk);
  Decryptor dec(P, sk);
  Evaluator ev(P);
  CoeffEncoder enc(P);
  const int flood_bits = 62;
  std::vector<double> sigmas;
  for (std::int64_t w : {std::int64_t{1}, std::int64_t{4096}}) {
    std::vector<std::int64_t> kernel(9, w);
    std::vector<u64> x(P->n());
    for (auto& v : x) v = prg.uniform_below(P->t());
    Ciphertext ct = es.encrypt_symmetric(enc.encode(x), prg);
    ev.multiply_plain_inplace(ct, ev.prepare(enc.encode_signed(kernel)));
    double honest = 0;
    for (double e : dec.noise(ct)) honest = std::max(honest, std::fabs(e));
    ev.rerandomize_and_flood_inplace(ct, pk, flood_bits, prg);
    double s2 = 0;
    for (double e : dec.noise(ct)) s2 += e * e;
    const double sigma = std::sqrt(s2 / P->n());
    EXPECT_GE(std::log2(sigma) - std::log2(std::max(honest, 1.0)), 40.0 - 1.0);
    sigmas.push_back(sigma);
  }
  EXPECT_NEAR(sigmas[0] / sigmas[1], 1.0, 0.05);
}
