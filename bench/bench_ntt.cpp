// NTT kernel benchmarks: forward / inverse negacyclic NTT per SIMD path, prime width and N.
// Names: BM_NttForward/<path>/N:<n>/bits:<b>; Time is per transform. A path this CPU lacks is
// reported as skipped (SkipWithError); the IFMA path is registered only for primes < 2^50.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "peregrine/core/cpu.hpp"
#include "peregrine/math/ntt.hpp"
#include "peregrine/math/primes.hpp"

namespace {

using peregrine::AlignedU64;
using peregrine::SimdPath;
using namespace peregrine::math;

void bm_ntt(benchmark::State& state, std::size_t n, int bits, SimdPath path, bool inverse) {
  const u64 p = generate_primes(bits, 1, 2 * n)[0];
  const NttTables tb(n, Modulus(p));
  if (!ntt_path_available(tb, path)) {
    state.SkipWithError("path not available on this CPU");
    return;
  }
  AlignedU64 a(n);
  u64 x = 0x9e3779b97f4a7c15ULL;
  for (auto& v : a) {  // splitmix-style fill, reduced into [0, p)
    x += 0x9e3779b97f4a7c15ULL;
    v = (x ^ (x >> 31)) % p;
  }
  // Both transforms map [0, p) to [0, p), so repeating in place keeps the input valid.
  for (auto _ : state) {
    if (inverse)
      ntt_inverse(a.data(), tb, path);
    else
      ntt_forward(a.data(), tb, path);
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

int register_ntt_benchmarks() {
  const SimdPath paths[] = {SimdPath::kScalar, SimdPath::kAvx2, SimdPath::kAvx512Ifma};
  for (bool inverse : {false, true}) {
    for (std::size_t n : {2048u, 4096u, 8192u, 16384u, 32768u}) {
      if (inverse && n != 4096 && n != 8192) continue;
      for (int bits : {50, 60}) {
        for (SimdPath path : paths) {
          if (path == SimdPath::kAvx512Ifma && bits > 50) continue;  // IFMA needs p < 2^50
          const std::string name = std::string(inverse ? "BM_NttInverse/" : "BM_NttForward/") +
                                   peregrine::simd_path_name(path) + "/N:" + std::to_string(n) +
                                   "/bits:" + std::to_string(bits);
          benchmark::RegisterBenchmark(name.c_str(), bm_ntt, n, bits, path, inverse);
        }
      }
    }
  }
  return 0;
}

const int kNttBenchmarksRegistered = register_ntt_benchmarks();

}  // namespace
