#include "peregrine/math/ntt.hpp"

#include "peregrine/math/primes.hpp"

namespace peregrine::math {

NttTables::NttTables(std::size_t n_, const Modulus& p) : n(n_), mod(p) {
  require(n >= 2 && n <= (1u << 17) && (n & (n - 1)) == 0, ErrorCode::kInvalidArgument,
          "NTT size must be a power of two in [2, 2^17]");
  log_n = __builtin_ctzll(n);
  psi = minimal_primitive_root(2 * n, mod);
  const u64 q = mod.value;
  const u64 psi_inv = inv_mod(psi, mod);
  inv_n = inv_mod(n, mod);
  inv_n_shoup = shoup_precompute(inv_n, q);
  fwd.assign(n, 0);
  inv.assign(n, 0);
  fwd_shoup.assign(n, 0);
  inv_shoup.assign(n, 0);
  u64 pw = 1, pwi = 1;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = bit_reverse(i, log_n);
    fwd[r] = pw;
    inv[r] = pwi;
    pw = mul_mod(pw, psi, mod);
    pwi = mul_mod(pwi, psi_inv, mod);
  }
  for (std::size_t i = 0; i < n; ++i) {
    fwd_shoup[i] = shoup_precompute(fwd[i], q);
    inv_shoup[i] = shoup_precompute(inv[i], q);
  }
  // Vector-path tables.
  inv_n_w1 = mul_mod(inv[1], inv_n, mod);
  inv_n_w1_shoup = shoup_precompute(inv_n_w1, q);
  ifma_ok = q < (1ULL << 50);
  if (ifma_ok) {
    const auto shoup52 = [q](u64 w) { return static_cast<u64>((static_cast<u128>(w) << 52) / q); };
    fwd_shoup52.assign(n, 0);
    inv_shoup52.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      fwd_shoup52[i] = shoup52(fwd[i]);
      inv_shoup52[i] = shoup52(inv[i]);
    }
    inv_n_shoup52 = shoup52(inv_n);
    inv_n_w1_shoup52 = shoup52(inv_n_w1);
    if (n >= 16) {
      // Root index of lane l (l = 4·L2 + 2·L1 + L0) in 16-coefficient block g, per stage, for the
      // register layouts documented in ntt_avx512ifma.cpp.
      const auto bit = [](std::size_t l, int b) { return (l >> b) & 1; };
      const std::size_t q8 = n / 8, q4 = n / 4, q2 = n / 2;
      ifma_fwd_tail.assign(3 * n, 0);
      ifma_inv_tail.assign(3 * n, 0);
      for (std::size_t g = 0; g < n / 16; ++g) {
        for (std::size_t l = 0; l < 8; ++l) {
          // Forward: span 4 in (b2; b3 b1 b0), span 2 in (b1; b2 b3 b0), span 1 in (b0; b2 b3 b1).
          const std::size_t f[3] = {q8 + 2 * g + bit(l, 2),
                                    q4 + 4 * g + 2 * bit(l, 1) + bit(l, 2),
                                    q2 + 8 * g + 4 * bit(l, 1) + 2 * bit(l, 2) + bit(l, 0)};
          // Inverse: span 1 in (b0; b2 b1 b3), span 2 in (b1; b0 b2 b3), span 4 in (b2; b1 b0 b3).
          const std::size_t v[3] = {q2 + 8 * g + 4 * bit(l, 0) + 2 * bit(l, 2) + bit(l, 1),
                                    q4 + 4 * g + 2 * bit(l, 0) + bit(l, 1),
                                    q8 + 2 * g + bit(l, 0)};
          for (int s = 0; s < 3; ++s) {
            u64* fo = &ifma_fwd_tail[48 * g + 16 * s];
            u64* io = &ifma_inv_tail[48 * g + 16 * s];
            fo[l] = fwd[f[s]];
            fo[8 + l] = fwd_shoup52[f[s]];
            io[l] = inv[v[s]];
            io[8 + l] = inv_shoup52[v[s]];
          }
        }
      }
    }
  }
}

void ntt_forward_scalar(u64* a, const NttTables& tb) {
  const std::size_t n = tb.n;
  const u64 p = tb.mod.value, two_p = 2 * p;
  std::size_t t = n;
  for (std::size_t m = 1; m < n; m <<= 1) {
    t >>= 1;
    for (std::size_t i = 0; i < m; ++i) {
      const u64 w = tb.fwd[m + i], ws = tb.fwd_shoup[m + i];
      u64* x = a + 2 * i * t;
      u64* y = x + t;
      for (std::size_t j = 0; j < t; ++j) {
        // Harvey butterfly: x, y in [0, 4p) -> [0, 4p).
        u64 u = x[j];
        u = u >= two_p ? u - two_p : u;
        const u64 v = mul_mod_shoup_lazy(y[j], w, ws, p);
        x[j] = u + v;
        y[j] = u - v + two_p;
      }
    }
  }
  for (std::size_t j = 0; j < n; ++j) {
    u64 u = a[j];
    u = u >= two_p ? u - two_p : u;
    a[j] = u >= p ? u - p : u;
  }
}

void ntt_inverse_scalar(u64* a, const NttTables& tb) {
  const std::size_t n = tb.n;
  const u64 p = tb.mod.value, two_p = 2 * p;
  std::size_t t = 1;
  for (std::size_t m = n >> 1; m >= 1; m >>= 1) {
    for (std::size_t i = 0; i < m; ++i) {
      const u64 w = tb.inv[m + i], ws = tb.inv_shoup[m + i];
      u64* x = a + 2 * i * t;
      u64* y = x + t;
      for (std::size_t j = 0; j < t; ++j) {
        // Gentleman–Sande butterfly: x, y in [0, 2p) -> [0, 2p).
        const u64 u = x[j], v = y[j];
        u64 s = u + v;
        x[j] = s >= two_p ? s - two_p : s;
        y[j] = mul_mod_shoup_lazy(u - v + two_p, w, ws, p);
      }
    }
    t <<= 1;
  }
  for (std::size_t j = 0; j < n; ++j) a[j] = mul_mod_shoup(a[j], tb.inv_n, tb.inv_n_shoup, p);
}

bool ntt_path_available(const NttTables& t, SimdPath path) noexcept {
  if (!cpu_supports(path)) return false;
  if (path == SimdPath::kAvx512Ifma) return t.ifma_ok && t.n >= 16;
  if (path == SimdPath::kAvx2) return t.n >= 8;
  return true;
}

SimdPath ntt_default_path(const NttTables& t) noexcept {
  // Chosen by measurement (bench/bench_ntt.cpp, medians of 5, run-to-run spread < 2%; 2-core AMD
  // EPYC Zen 4 with AVX-512 IFMA at 3.66 GHz, GCC 12 -O3). ns per transform:
  //                         scalar    avx2   avx512ifma
  //   forward N=4096 50b     37 800  14 900     5 340
  //   forward N=4096 60b     38 200  15 000       —
  //   forward N=8192 50b     81 400  32 300    11 400
  //   forward N=8192 60b     81 500  32 200       —
  //   inverse N=4096 50b     42 500  15 300     4 700
  //   inverse N=4096 60b     42 500  15 300       —
  //   inverse N=8192 50b     90 800  33 100    10 100
  //   inverse N=8192 60b     90 800  33 200       —
  // IFMA wins wherever it applies (p < 2^50, N ≥ 16); AVX2 beats scalar about 2.5× for both
  // 50- and 60-bit primes, so it is the default for every other prime when the CPU has it (N ≥ 8).
  if (ntt_path_available(t, SimdPath::kAvx512Ifma)) return SimdPath::kAvx512Ifma;
  if (ntt_path_available(t, SimdPath::kAvx2)) return SimdPath::kAvx2;
  return SimdPath::kScalar;
}

void ntt_forward(u64* a, const NttTables& t, SimdPath path) {
  require(ntt_path_available(t, path), ErrorCode::kUnsupported, "NTT path not available");
  switch (path) {
    case SimdPath::kAvx512Ifma: return ntt_forward_avx512ifma(a, t);
    case SimdPath::kAvx2: return ntt_forward_avx2(a, t);
    case SimdPath::kScalar: return ntt_forward_scalar(a, t);
  }
}

void ntt_inverse(u64* a, const NttTables& t, SimdPath path) {
  require(ntt_path_available(t, path), ErrorCode::kUnsupported, "NTT path not available");
  switch (path) {
    case SimdPath::kAvx512Ifma: return ntt_inverse_avx512ifma(a, t);
    case SimdPath::kAvx2: return ntt_inverse_avx2(a, t);
    case SimdPath::kScalar: return ntt_inverse_scalar(a, t);
  }
}

void ntt_forward(u64* a, const NttTables& t) { ntt_forward(a, t, ntt_default_path(t)); }
void ntt_inverse(u64* a, const NttTables& t) { ntt_inverse(a, t, ntt_default_path(t)); }

}  // namespace peregrine::math
