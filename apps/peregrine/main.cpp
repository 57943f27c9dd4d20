// The `peregrine` command line: `peregrine run | serve | query | inspect | eval` (private inference
// of an ONNX model, infer.hpp), `peregrine demo`, a walk through the HE core with timings, and
// `peregrine bench OP`, two-party protocol benchmarks over TCP (bench.hpp).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <exception>

#include "bench.hpp"
#include "infer.hpp"

#include "peregrine/core/cpu.hpp"
#include "peregrine/core/timer.hpp"
#include "peregrine/he/encoder.hpp"
#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/evaluator.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/serialize.hpp"
#include "peregrine/math/primes.hpp"

namespace {

using namespace peregrine;
using namespace peregrine::he;

struct DemoOptions {
  int ell = 37;
  int taps = 9;
};

void row(const char* what, double seconds, const std::string& note = "") {
  fmt::print("  {:<44} {:>10.3f} ms  {}\n", what, seconds * 1e3, note);
}

// Cheetah-style round trip: the client encrypts its share, the server multiplies by a kernel,
// masks, floods, mod-switches and trims; the client decrypts its output share.
int run_demo(const DemoOptions& o) {
  Prg prg = Prg::from_os();
  Timer t;
  auto P = HeParams::cheetah(o.ell);
  fmt::print("Peregrine HE core demo\n");
  fmt::print("  parameters: N = {}, log2 q = {} ({} primes ≡ 1 mod 2^{}), t = 2^{}, NTT path: {}\n",
             P->n(), P->total_log_q(), P->levels(), o.ell, o.ell,
             simd_path_name(math::ntt_default_path(P->base().ntt(0))));
  row("parameter set-up", t.seconds());

  KeyGenerator kg(P);
  t.reset();
  SecretKey sk = kg.secret_key(prg);
  PublicKey pk = kg.public_key(sk, prg);
  row("key generation (secret + public)", t.seconds(),
      fmt::format("public key {} B", serialize(*P, pk).size()));

  const std::size_t n = P->n();
  const u64 tmod = P->t();
  std::vector<u64> xc(n), xs(n), r(n);
  for (std::size_t i = 0; i < n; ++i) {
    xc[i] = prg.uniform_below(tmod);
    xs[i] = prg.uniform_below(tmod);
    r[i] = prg.uniform_below(tmod);
  }
  std::vector<std::int64_t> kernel(n, 0);
  std::vector<std::pair<std::size_t, std::int64_t>> taps;
  for (int k = 0; k < o.taps; ++k) {
    const std::size_t pos = static_cast<std::size_t>(k) * 3;
    kernel[pos] = static_cast<std::int64_t>(prg.uniform_below(8193)) - 4096;
    taps.emplace_back(pos, kernel[pos]);
  }
  CoeffEncoder enc(P);
  Encryptor client(P, sk);
  Decryptor dec(P, sk);
  Evaluator ev(P);

  t.reset();
  Ciphertext up = client.encrypt_symmetric(enc.encode(xc), prg);
  const double t_enc = t.seconds();
  auto up_bytes = serialize(*P, up);
  row("client: encrypt share (seeded, symmetric)", t_enc, fmt::format("{} B on the wire", up_bytes.size()));

  t.reset();
  Ciphertext ct = deserialize_ciphertext(*P, up_bytes);
  ev.add_plain_inplace(ct, enc.encode(xs));
  PlaintextNtt kp = ev.prepare(enc.encode_signed(kernel));
  ev.multiply_plain_inplace(ct, kp);
  ev.sub_plain_inplace(ct, enc.encode(r));
  const double t_eval = t.seconds();
  row("server: + share, x kernel, - mask", t_eval);
  t.reset();
  ev.rerandomize_and_flood_inplace(ct, pk, 62, prg);
  row("server: re-randomise + flood (2^62)", t.seconds());
  t.reset();
  ev.mod_switch_to_inplace(ct, 1);
  std::vector<std::uint32_t> keep(n);
  for (std::uint32_t i = 0; i < n; ++i) keep[i] = i;
  auto down = serialize(*P, ev.trim(ct, 20, 10, keep));
  row("server: mod switch + drop bits + pack", t.seconds(), fmt::format("{} B on the wire", down.size()));

  t.reset();
  auto yc = dec.decrypt_trimmed(deserialize_trimmed(*P, down, keep.size()), keep);
  row("client: decrypt response", t.seconds());

  // Check y_C + R = (x_C + x_S) · K (negacyclic, mod 2^ℓ).
  std::size_t wrong = 0;
  const u64 mask = tmod - 1;
  std::vector<u64> want(n, 0);
  for (auto [pos, w] : taps) {
    for (std::size_t i = 0; i < n; ++i) {
      const u64 prod = (((xc[i] + xs[i]) & mask) * (static_cast<u64>(w) & mask)) & mask;
      const std::size_t k = i + pos;
      if (k < n) want[k] = (want[k] + prod) & mask;
      else want[k - n] = (want[k - n] - prod) & mask;
    }
  }
  for (std::size_t i = 0; i < n; ++i) wrong += ((yc[i] + r[i]) & mask) != want[i];
  fmt::print("  result: {} of {} output coefficients correct ({})\n", n - wrong, n,
             wrong == 0 ? "y_C + R = x * K mod 2^l" : "MISMATCH");
  return wrong == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Peregrine: two-party private CNN inference"};
  app.require_subcommand(1);
  DemoOptions demo;
  auto* d = app.add_subcommand("demo", "HE core demo: keys, encrypt, homomorphic ops, decrypt, timings");
  d->add_option("--ell", demo.ell, "share ring / plaintext bits ℓ (t = 2^ℓ)")->check(CLI::Range(13, 44));
  d->add_option("--taps", demo.taps, "kernel taps")->check(CLI::Range(1, 1000));
  peregrine::app::BenchOptions bench;
  auto* b = peregrine::app::add_bench_subcommand(app, bench);
  peregrine::app::InferOptions infer;
  auto infer_cmds = peregrine::app::add_infer_subcommands(app, infer);
  CLI11_PARSE(app, argc, argv);
  for (CLI::App* c : infer_cmds) {
    if (!c->parsed()) continue;
    try {
      return peregrine::app::run_infer(c->get_name(), infer);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peregrine: %s\n", e.what());
      return 1;
    }
  }
  if (b->parsed()) {
    try {
      return peregrine::app::run_bench(bench);
    } catch (const peregrine::Error& e) {
      std::fprintf(stderr, "peregrine: %s\n", e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peregrine: %s\n", e.what());
      return 1;
    }
  }
  try {
    if (d->parsed()) return run_demo(demo);
  } catch (const peregrine::Error& e) {
    std::fprintf(stderr, "peregrine: %s\n", e.what());
    return 2;
  }
  return 0;
}
