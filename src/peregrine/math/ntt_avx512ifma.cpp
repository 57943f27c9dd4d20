// AVX-512 IFMA negacyclic NTT kernels for primes p < 2^50.
//
// Same transforms as ntt_forward_scalar / ntt_inverse_scalar (ntt.cpp), bit for bit: natural-order
// input, bit-reversed-order evaluations, outputs fully reduced into [0, p).
//
// Arithmetic: Harvey's lazy butterflies (Harvey, "Faster arithmetic for number-theoretic
// transforms", 2014) with the Shoup product done by the 52-bit multipliers vpmadd52{lo,hi}uq, as
// proposed in Boemer et al., "Intel HEXL: Accelerating Homomorphic Encryption with Intel
// AVX512-IFMA52" (2021). With p < 2^50 every lazy value (< 4p) fits in 52 bits, so one IFMA
// instruction sees whole operands. For w in [0, p), w' = floor(w·2^52/p) and y < 2^52:
//   Q = floor(y·w' / 2^52)            (madd52hi)
//   T = (y·w − Q·p) mod 2^52          (madd52lo(y, w) then madd52lo(Q, 2^52 − p), masked)
// gives T ≡ y·w (mod p) with T in [0, 2p), since y·w/p − Q < 1 + y/2^52 < 2.
//
// Data movement (this file's own layout, not HEXL's): the stages with span t ≥ 128 run as radix-8
// or radix-4 passes over memory (radix-2 for a lone stage), three or two stages per load/store of
// the data (radix-16 spills and measured slower); the last seven stages run per 128-coefficient
// block held in sixteen registers. Spans 64 … 8 pair whole registers. Spans 4, 2, 1 pair lanes and
// are done on register pairs (16 coefficients, index bits b3..b0); "(b2; b3 b1 b0)" below means b2
// selects the register and the lane is 4·b3 + 2·b1 + b0.
// Forward: natural (b3; b2 b1 b0) → vshufi64x2 → (b2; b3 b1 b0) [span 4] → vshufi64x2 →
// (b1; b2 b3 b0) [span 2] → vpunpck{l,h}qdq → (b0; b2 b3 b1) [span 1] → vpermt2q → natural.
// Inverse: natural → vpunpck → (b0; b2 b1 b3) [span 1] → vshufi64x2 → (b1; b0 b2 b3) [span 2] →
// vshufi64x2 → (b2; b1 b0 b3) [span 4] → vpermt2q → natural.
// The order was chosen by measurement on AMD Zen 4, where vpermt2q competes with the IFMA units but
// the in-lane unpacks do not; only one two-source permute per register remains. The roots of these
// three stages are pre-expanded into NttTables::ifma_fwd_tail / ifma_inv_tail in exactly these lane
// orders, so they are plain loads. Pairs of a block advance in lockstep so that neighbouring
// instructions are independent. The forward's final reduction into [0, p) and the inverse's N^{-1}
// scaling are fused into the last butterfly stage.
//
// Measured on a 2-core AMD EPYC (Zen 4) at 3.66 GHz, where a zmm Harvey butterfly (3 IFMA + 6
// other instructions) sustains about 5.5 cycles: N = 4096, 50-bit prime, forward ≈ 5.3 µs,
// inverse ≈ 4.7 µs (bench/bench_ntt.cpp); the same butterfly arranged as HEXL arranges it (one
// memory pass per stage, separate final reduction) measured ≈ 7.4 µs forward.
//
// This translation unit alone is compiled with AVX-512 flags; nothing here is inline in a header.
// GCC 12's AVX-512 intrinsics seed unmasked operations with _mm512_undefined_epi32(), which
// -Wmaybe-uninitialized misreports once inlined (GCC bug 105593); the value is never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>

#include "peregrine/math/ntt.hpp"

namespace peregrine::math {
namespace {

/// Broadcast constants of one modulus.
struct Consts {
  __m512i p, two_p, neg_p, mask52;
  explicit Consts(u64 q)
      : p(_mm512_set1_epi64(static_cast<long long>(q))),
        two_p(_mm512_set1_epi64(static_cast<long long>(2 * q))),
        neg_p(_mm512_set1_epi64(-static_cast<long long>(q))),
        mask52(_mm512_set1_epi64((1LL << 52) - 1)) {}
};

inline __m512i bcast(u64 x) { return _mm512_set1_epi64(static_cast<long long>(x)); }
inline __m512i load(const u64* p) { return _mm512_loadu_si512(p); }
inline void store(u64* p, __m512i v) { _mm512_storeu_si512(p, v); }

/// x mod p up to one extra p: x in [0, 2p) → [0, p) when `bound` = p, [0, 4p) → [0, 2p) when
/// `bound` = 2p. (x − bound wraps to a huge value exactly when x < bound.)
inline __m512i reduce_once(__m512i x, __m512i bound) {
  return _mm512_min_epu64(x, _mm512_sub_epi64(x, bound));
}

/// Lazy Shoup product y·w mod p in [0, 2p). y < 2^52, w in [0, p), ws = floor(w·2^52/p).
inline __m512i mul_shoup52(__m512i y, __m512i w, __m512i ws, const Consts& c) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i q = _mm512_madd52hi_epu64(zero, y, ws);
  __m512i t = _mm512_madd52lo_epu64(zero, y, w);
  t = _mm512_madd52lo_epu64(t, q, c.neg_p);
  return _mm512_and_si512(t, c.mask52);
}

/// Cooley–Tukey butterfly (x, y) ← (x + w·y, x − w·y). Inputs and outputs in [0, 4p).
inline void fwd_bfly(__m512i& x, __m512i& y, __m512i w, __m512i ws, const Consts& c) {
  const __m512i u = reduce_once(x, c.two_p);  // [0, 2p)
  const __m512i t = mul_shoup52(y, w, ws, c);  // [0, 2p)
  x = _mm512_add_epi64(u, t);
  y = _mm512_sub_epi64(_mm512_add_epi64(u, c.two_p), t);
}

/// Gentleman–Sande butterfly (x, y) ← (x + y, (x − y)·w). Inputs and outputs in [0, 2p).
inline void inv_bfly(__m512i& x, __m512i& y, __m512i w, __m512i ws, const Consts& c) {
  const __m512i s = _mm512_add_epi64(x, y);                             // [0, 4p)
  const __m512i d = _mm512_sub_epi64(_mm512_add_epi64(x, c.two_p), y);  // (0, 4p)
  x = reduce_once(s, c.two_p);
  y = mul_shoup52(d, w, ws, c);
}

/// Last inverse stage with the N^{-1} scaling folded in: (x, y) ← ((x + y)·N^{-1},
/// (x − y)·w·N^{-1}). Inputs in [0, 2p); outputs in [0, p).
inline void inv_bfly_last(__m512i& x, __m512i& y, const NttTables& tb, const Consts& c) {
  const __m512i s = _mm512_add_epi64(x, y);
  const __m512i d = _mm512_sub_epi64(_mm512_add_epi64(x, c.two_p), y);
  x = reduce_once(mul_shoup52(s, bcast(tb.inv_n), bcast(tb.inv_n_shoup52), c), c.p);
  y = reduce_once(mul_shoup52(d, bcast(tb.inv_n_w1), bcast(tb.inv_n_w1_shoup52), c), c.p);
}

// ---- Register-pair transitions for the spans 4, 2, 1 (see the file comment). ----
// A pair (x, y) holds 16 coefficients with index bits b3..b0; "(b2; b3 b1 b0)" means the register
// (x or y) is selected by b2 and the lane is 4·b3 + 2·b1 + b0. 128-bit chunks are c0..c3.

/// Swaps the register bit with lane bit 2: (x, y) ← ([x.c0 x.c1 y.c0 y.c1], [x.c2 x.c3 y.c2 y.c3]).
inline void swap_r_l2(__m512i& x, __m512i& y) {
  const __m512i a = _mm512_shuffle_i64x2(x, y, 0x44);
  y = _mm512_shuffle_i64x2(x, y, 0xEE);
  x = a;
}
/// Register ← lane bit 1, lane bit 2 ← register, lane bit 1 ← lane bit 2:
/// (x, y) ← ([x.c0 x.c2 y.c0 y.c2], [x.c1 x.c3 y.c1 y.c3]).
inline void cycle_r_l1_l2(__m512i& x, __m512i& y) {
  const __m512i a = _mm512_shuffle_i64x2(x, y, 0x88);
  y = _mm512_shuffle_i64x2(x, y, 0xDD);
  x = a;
}
/// Swaps the register bit with lane bit 0 (in-lane, the cheapest shuffle).
inline void swap_r_l0(__m512i& x, __m512i& y) {
  const __m512i a = _mm512_unpacklo_epi64(x, y);
  y = _mm512_unpackhi_epi64(x, y);
  x = a;
}
/// General two-source permutation: (x, y) ← (perm(x, ix, y), perm(x, iy, y)).
inline void permute2(__m512i& x, __m512i& y, __m512i ix, __m512i iy) {
  const __m512i a = _mm512_permutex2var_epi64(x, ix, y);
  y = _mm512_permutex2var_epi64(x, iy, y);
  x = a;
}

/// R forward stages over memory, from the stage with m0 groups (span t0 = N/(2·m0)) to the stage
/// with span t0/2^(R−1) ≥ 8. Values in [0, 4p) → [0, 4p).
template <int R>
void fwd_pass(u64* a, const NttTables& tb, std::size_t m0, const Consts& c) {
  constexpr int V = 1 << R;
  const std::size_t t0 = tb.n / (2 * m0);
  const std::size_t q = t0 >> (R - 1);
  const u64* fw = tb.fwd.data();
  const u64* fs = tb.fwd_shoup52.data();
  for (std::size_t i = 0; i < m0; ++i) {
    // Roots of stage s (0-based in this pass), group h: index (m0 << s) + (i << s) + h,
    // stored at position (1 << s) − 1 + h.
    __m512i w[V - 1], ws[V - 1];
#pragma GCC unroll 4
    for (int s = 0; s < R; ++s) {
      const int groups = 1 << s;
#pragma GCC unroll 4
      for (int h = 0; h < groups; ++h) {
        const std::size_t idx = (m0 << s) + (i << s) + static_cast<std::size_t>(h);
        w[groups - 1 + h] = bcast(fw[idx]);
        ws[groups - 1 + h] = bcast(fs[idx]);
      }
    }
    u64* base = a + 2 * i * t0;
    for (std::size_t j = 0; j < q; j += 8) {
      __m512i v[V];
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) v[k] = load(base + k * q + j);
#pragma GCC unroll 4
      for (int s = 0; s < R; ++s) {
        const int span = V >> (s + 1);
#pragma GCC unroll 8
        for (int k = 0; k < V; ++k)
          if (!(k & span)) {
            const int h = (1 << s) - 1 + k / (2 * span);
            fwd_bfly(v[k], v[k + span], w[h], ws[h], c);
          }
      }
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) store(base + k * q + j, v[k]);
    }
  }
}

/// R inverse stages over memory, from the stage with span t0 ≥ 8 to span t0·2^(R−1). Values in
/// [0, 2p) → [0, 2p), or [0, p) when kLast (the pass ends with the m = 1 stage and scales by
/// N^{-1}).
template <int R, bool kLast>
void inv_pass(u64* a, const NttTables& tb, std::size_t t0, const Consts& c) {
  constexpr int V = 1 << R;
  const std::size_t n = tb.n;
  const std::size_t m0 = n / (2 * t0);
  const u64* iw = tb.inv.data();
  const u64* is = tb.inv_shoup52.data();
  for (std::size_t i = 0; i < n / (t0 * V); ++i) {
    // Roots of stage s (V/2^(s+1) groups here), group h: index (m0 >> s) + (i << (R − 1 − s)) + h,
    // stored at position V − 2·groups + h.
    __m512i w[V - 1], ws[V - 1];
#pragma GCC unroll 4
    for (int s = 0; s < R; ++s) {
      const int groups = V >> (s + 1);
#pragma GCC unroll 4
      for (int h = 0; h < groups; ++h) {
        const std::size_t idx =
            (m0 >> s) + (i << (R - 1 - s)) + static_cast<std::size_t>(h);
        w[V - 2 * groups + h] = bcast(iw[idx]);
        ws[V - 2 * groups + h] = bcast(is[idx]);
      }
    }
    u64* base = a + i * t0 * V;
    for (std::size_t j = 0; j < t0; j += 8) {
      __m512i v[V];
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) v[k] = load(base + k * t0 + j);
#pragma GCC unroll 4
      for (int s = 0; s < R; ++s) {
        const int span = 1 << s;
        const int groups = V >> (s + 1);
#pragma GCC unroll 8
        for (int k = 0; k < V; ++k)
          if (!(k & span)) {
            if (kLast && s == R - 1) {
              inv_bfly_last(v[k], v[k + span], tb, c);
            } else {
              const int h = V - 2 * groups + k / (2 * span);
              inv_bfly(v[k], v[k + span], w[h], ws[h], c);
            }
          }
      }
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) store(base + k * t0 + j, v[k]);
    }
  }
}

/// The last LOGB forward stages (spans 2^(LOGB−1) … 1) per block of B = 2^LOGB coefficients,
/// with the final reduction. Values in [0, 4p) → [0, p). The register pairs of a block advance in
/// lockstep so that neighbouring instructions are independent.
template <int LOGB>
void fwd_blocks(u64* a, const NttTables& tb, const Consts& c) {
  constexpr int B = 1 << LOGB, V = B / 8, P = V / 2;
  const std::size_t n = tb.n;
  const u64* fw = tb.fwd.data();
  const u64* fs = tb.fwd_shoup52.data();
  // (b0; b2 b3 b1) → natural (b3; b2 b1 b0).
  const __m512i ix = _mm512_setr_epi64(0, 8, 1, 9, 4, 12, 5, 13);
  const __m512i iy = _mm512_setr_epi64(2, 10, 3, 11, 6, 14, 7, 15);
  for (std::size_t b = 0; b < n / B; ++b) {
    u64* base = a + b * B;
    __m512i v[V];
#pragma GCC unroll 16
    for (int k = 0; k < V; ++k) v[k] = load(base + 8 * k);
    // Spans B/2 … 8: whole registers. Stage s has n·2^s/B groups.
#pragma GCC unroll 8
    for (int s = 0; s < LOGB - 3; ++s) {
      const int span = V >> (s + 1);
      const std::size_t m = (n / B) << s;
#pragma GCC unroll 16
      for (int k = 0; k < V; ++k)
        if (!(k & span)) {
          const std::size_t g = m + (b << s) + static_cast<std::size_t>(k / (2 * span));
          fwd_bfly(v[k], v[k + span], bcast(fw[g]), bcast(fs[g]), c);
        }
    }
    // Spans 4, 2, 1 on register pairs; pair h is 16-coefficient block b·P + h.
    const u64* tail = tb.ifma_fwd_tail.data() + 48 * P * b;
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) swap_r_l2(v[2 * h], v[2 * h + 1]);  // → (b2; b3 b1 b0)
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h)
      fwd_bfly(v[2 * h], v[2 * h + 1], load(tail + 48 * h), load(tail + 48 * h + 8), c);
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) cycle_r_l1_l2(v[2 * h], v[2 * h + 1]);  // → (b1; b2 b3 b0)
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h)
      fwd_bfly(v[2 * h], v[2 * h + 1], load(tail + 48 * h + 16), load(tail + 48 * h + 24), c);
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) swap_r_l0(v[2 * h], v[2 * h + 1]);  // → (b0; b2 b3 b1)
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h)
      fwd_bfly(v[2 * h], v[2 * h + 1], load(tail + 48 * h + 32), load(tail + 48 * h + 40), c);
#pragma GCC unroll 16
    for (int k = 0; k < V; ++k) v[k] = reduce_once(reduce_once(v[k], c.two_p), c.p);
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) {
      permute2(v[2 * h], v[2 * h + 1], ix, iy);  // → natural
      store(base + 16 * h, v[2 * h]);
      store(base + 16 * h + 8, v[2 * h + 1]);
    }
  }
}

/// The first LOGB inverse stages (spans 1 … 2^(LOGB−1)) per block of B = 2^LOGB coefficients.
/// Values in [0, 2p) → [0, 2p), or [0, p) with the N^{-1} scaling when kLast (B = N).
template <int LOGB, bool kLast>
void inv_blocks(u64* a, const NttTables& tb, const Consts& c) {
  constexpr int B = 1 << LOGB, V = B / 8, P = V / 2;
  const std::size_t n = tb.n;
  const u64* iw = tb.inv.data();
  const u64* is = tb.inv_shoup52.data();
  // (b2; b1 b0 b3) → natural (b3; b2 b1 b0).
  const __m512i ix = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i iy = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
  for (std::size_t b = 0; b < n / B; ++b) {
    u64* base = a + b * B;
    const u64* tail = tb.ifma_inv_tail.data() + 48 * P * b;
    __m512i v[V];
#pragma GCC unroll 16
    for (int k = 0; k < V; ++k) v[k] = load(base + 8 * k);
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) swap_r_l0(v[2 * h], v[2 * h + 1]);  // → (b0; b2 b1 b3)
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h)
      inv_bfly(v[2 * h], v[2 * h + 1], load(tail + 48 * h), load(tail + 48 * h + 8), c);
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) cycle_r_l1_l2(v[2 * h], v[2 * h + 1]);  // → (b1; b0 b2 b3)
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h)
      inv_bfly(v[2 * h], v[2 * h + 1], load(tail + 48 * h + 16), load(tail + 48 * h + 24), c);
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) cycle_r_l1_l2(v[2 * h], v[2 * h + 1]);  // → (b2; b1 b0 b3)
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h)
      inv_bfly(v[2 * h], v[2 * h + 1], load(tail + 48 * h + 32), load(tail + 48 * h + 40), c);
#pragma GCC unroll 8
    for (int h = 0; h < P; ++h) permute2(v[2 * h], v[2 * h + 1], ix, iy);  // → natural
    // Spans 8 … B/2: whole registers. The stage with span 8·2^s has n/(16·2^s) groups.
#pragma GCC unroll 8
    for (int s = 0; s < LOGB - 3; ++s) {
      const int span = 1 << s;
      const std::size_t m = n >> (4 + s);
#pragma GCC unroll 16
      for (int k = 0; k < V; ++k)
        if (!(k & span)) {
          if (kLast && s == LOGB - 4) {
            inv_bfly_last(v[k], v[k + span], tb, c);
          } else {
            const std::size_t g =
                m + (b << (LOGB - 4 - s)) + static_cast<std::size_t>(k / (2 * span));
            inv_bfly(v[k], v[k + span], bcast(iw[g]), bcast(is[g]), c);
          }
        }
    }
#pragma GCC unroll 16
    for (int k = 0; k < V; ++k) store(base + 8 * k, v[k]);
  }
}

/// Splits the S = log N − LOGB memory stages into passes of 3, 2 (or 1) stages; returns the
/// count and fills r[] in forward order.
int plan_passes(int s, int r[8]) {
  int k = 0;
  while (s > 0) {
    const int take = s == 4 ? 2 : (s >= 3 ? 3 : s);
    r[k++] = take;
    s -= take;
  }
  return k;
}

constexpr int kLogBlock = 7;

}  // namespace

/// Forward negacyclic NTT in place (AVX-512 IFMA). Requires tb.ifma_ok (p < 2^50), N ≥ 16 and a
/// CPU with AVX-512F/VL/DQ/BW + IFMA. Input in [0, 4p); output in [0, p), bit-reversed order,
/// equal to ntt_forward_scalar.
void ntt_forward_avx512ifma(u64* a, const NttTables& tb) {
  const Consts c(tb.mod.value);
  const int logb = tb.log_n < kLogBlock ? tb.log_n : kLogBlock;
  int r[8];
  const int passes = plan_passes(tb.log_n - logb, r);
  std::size_t m = 1;
  for (int k = 0; k < passes; ++k) {
    switch (r[k]) {
      case 3: fwd_pass<3>(a, tb, m, c); break;
      case 2: fwd_pass<2>(a, tb, m, c); break;
      default: fwd_pass<1>(a, tb, m, c); break;
    }
    m <<= r[k];
  }
  switch (logb) {
    case 4: fwd_blocks<4>(a, tb, c); break;
    case 5: fwd_blocks<5>(a, tb, c); break;
    case 6: fwd_blocks<6>(a, tb, c); break;
    default: fwd_blocks<kLogBlock>(a, tb, c); break;
  }
}

/// Inverse negacyclic NTT in place (AVX-512 IFMA), including the N^{-1} scaling. Same
/// requirements as the forward. Input in [0, 2p), bit-reversed order; output in [0, p), equal to
/// ntt_inverse_scalar.
void ntt_inverse_avx512ifma(u64* a, const NttTables& tb) {
  const Consts c(tb.mod.value);
  const int logb = tb.log_n < kLogBlock ? tb.log_n : kLogBlock;
  int r[8];
  const int passes = plan_passes(tb.log_n - logb, r);
  if (passes == 0) {
    switch (logb) {
      case 4: inv_blocks<4, true>(a, tb, c); break;
      case 5: inv_blocks<5, true>(a, tb, c); break;
      case 6: inv_blocks<6, true>(a, tb, c); break;
      default: inv_blocks<kLogBlock, true>(a, tb, c); break;
    }
    return;
  }
  inv_blocks<kLogBlock, false>(a, tb, c);
  std::size_t t = std::size_t{1} << kLogBlock;
  for (int k = passes - 1; k >= 0; --k) {
    const bool last = k == 0;
    switch (r[k] * 2 + (last ? 1 : 0)) {
      case 7: inv_pass<3, true>(a, tb, t, c); break;
      case 6: inv_pass<3, false>(a, tb, t, c); break;
      case 5: inv_pass<2, true>(a, tb, t, c); break;
      case 4: inv_pass<2, false>(a, tb, t, c); break;
      case 3: inv_pass<1, true>(a, tb, t, c); break;
      default: inv_pass<1, false>(a, tb, t, c); break;
    }
    t <<= r[k];
  }
}

}  // namespace peregrine::math
