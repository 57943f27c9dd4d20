// Negacyclic number-theoretic transform over Z_p[X]/(X^N + 1).
//
// Forward: Cooley–Tukey with Harvey's lazy butterflies; inverse: Gentleman–Sande. Both in place,
// natural-order input, bit-reversed-order evaluations: after ntt_forward, a[j] = a(ψ^(2·rev(j)+1))
// where ψ is the minimal primitive 2N-th root and rev is the log2(N)-bit reversal.
// Source: Harvey, "Faster arithmetic for number-theoretic transforms" (2014); Longa–Naehrig (2016).
#pragma once
#include <cstddef>
#include <cstdint>

#include "peregrine/core/aligned.hpp"
#include "peregrine/core/cpu.hpp"
#include "peregrine/math/modarith.hpp"

namespace peregrine::math {

/// Precomputed twiddles for one (N, p). Immutable after construction, thread-safe to share.
struct NttTables {
  /// Builds tables for N = 2^k (2 ≤ N ≤ 2^17) and prime p ≡ 1 (mod 2N), p < 2^61.
  /// Throws Error(kInvalidArgument) otherwise.
  NttTables(std::size_t n, const Modulus& p);

  std::size_t n = 0;
  int log_n = 0;
  Modulus mod;
  u64 psi = 0;        ///< minimal primitive 2N-th root of unity
  u64 inv_n = 0;      ///< N^{-1} mod p
  u64 inv_n_shoup = 0;

  // Scalar tables: fwd[k] = ψ^rev(k), inv[k] = ψ^{-rev(k)} for k in [1, N); Shoup constants
  // floor(w·2^64/p) beside them.
  AlignedU64 fwd, fwd_shoup, inv, inv_shoup;

  // ---- vector-path tables (see ntt_avx512ifma.cpp / ntt_avx2.cpp) ----
  /// True when p < 2^50, so the 52-bit IFMA multipliers apply with lazy range [0, 4p).
  bool ifma_ok = false;
  /// 52-bit Shoup constants floor(w·2^52/p) of fwd and inv (filled when ifma_ok).
  AlignedU64 fwd_shoup52, inv_shoup52;
  /// The last inverse stage (m = 1) with the N^{-1} scaling folded in: inv_n_w1 = inv[1]·N^{-1}
  /// mod p and its 64-bit Shoup constant (AVX2 path); 52-bit Shoup constants of inv_n and
  /// inv_n_w1 (IFMA path, filled when ifma_ok).
  u64 inv_n_w1 = 0, inv_n_w1_shoup = 0;
  u64 inv_n_shoup52 = 0, inv_n_w1_shoup52 = 0;
  /// IFMA path, last three forward stages (spans 4, 2, 1) and first three inverse stages (spans
  /// 1, 2, 4), pre-expanded to the lane layouts of ntt_avx512ifma.cpp: for each 16-coefficient
  /// block g, 48 words = for each of the three stages in execution order, 8 roots then their 8
  /// 52-bit Shoup constants. Filled when ifma_ok and N ≥ 16 (3N words each).
  AlignedU64 ifma_fwd_tail, ifma_inv_tail;
};

/// Forward negacyclic NTT in place on a[0..N). Input in [0, p) (any value in [0, 4p) is also
/// accepted); output in [0, p). Dispatches to the fastest supported path. Thread-safe for
/// distinct `a`.
void ntt_forward(u64* a, const NttTables& t);
/// Inverse negacyclic NTT in place, including the N^{-1} scaling. Input in [0, p) (also [0, 2p));
/// output in [0, p).
void ntt_inverse(u64* a, const NttTables& t);

/// The path ntt_forward/ntt_inverse take for these tables on this CPU.
SimdPath ntt_default_path(const NttTables& t) noexcept;
/// True when `path` can run on this CPU with these tables (IFMA also needs p < 2^50).
bool ntt_path_available(const NttTables& t, SimdPath path) noexcept;

/// Same transforms on an explicit path (tests and benchmarks compare paths).
/// Throws Error(kUnsupported) when !ntt_path_available(t, path).
void ntt_forward(u64* a, const NttTables& t, SimdPath path);
void ntt_inverse(u64* a, const NttTables& t, SimdPath path);

/// Scalar reference kernels (always available).
void ntt_forward_scalar(u64* a, const NttTables& t);
void ntt_inverse_scalar(u64* a, const NttTables& t);

/// Vector kernels; call only when the CPU supports them (ntt_path_available).
void ntt_forward_avx2(u64* a, const NttTables& t);
void ntt_inverse_avx2(u64* a, const NttTables& t);
void ntt_forward_avx512ifma(u64* a, const NttTables& t);
void ntt_inverse_avx512ifma(u64* a, const NttTables& t);

/// log2(N)-bit reversal of i.
inline std::size_t bit_reverse(std::size_t i, int log_n) {
  std::size_t r = 0;
  for (int b = 0; b < log_n; ++b) r |= ((i >> b) & 1) << (log_n - 1 - b);
  return r;
}

}  // namespace peregrine::math
