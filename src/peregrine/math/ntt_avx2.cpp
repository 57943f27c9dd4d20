// AVX2 negacyclic NTT kernels for every supported prime p < 2^61.
//
// Same transforms as ntt_forward_scalar / ntt_inverse_scalar (ntt.cpp), bit for bit: natural-order
// input, bit-reversed-order evaluations, outputs fully reduced into [0, p).
//
// Arithmetic: Harvey's lazy butterflies (Harvey, "Faster arithmetic for number-theoretic
// transforms", 2014) with the 64-bit Shoup constants of the scalar tables, four lanes per ymm
// register. AVX2 has no 64×64-bit multiply, so products are assembled from 32-bit multiplies
// (y = yh·2^32 + yl, likewise w, w' = floor(w·2^64/p) and p):
//   Q' = yh·w'h + ⌊yl·w'h / 2^32⌋ + ⌊yh·w'l / 2^32⌋   (three vpmuludq: the high word of y·w'
//        without the carries out of the low word, so Q' ∈ {Q−2, Q−1, Q} for the exact Q),
//   T' = y·w − Q'·p mod 2^64 = T + (Q − Q')·p ∈ [0, 4p), from the low products yl·wl, ql·pl
//        (two vpmuludq) and the cross products mod 2^32 (two vpmulld against w and p with their
//        32-bit halves swapped),
// then one conditional subtraction of 2p restores Harvey's T ∈ [0, 2p). Dropping the low-word
// carries costs two instructions and saves about seven. All lazy values stay below 4p < 2^63, so
// the sign of x − b (vblendvpd) stands in for the unsigned compare AVX2 lacks.
//
// Data movement mirrors ntt_avx512ifma.cpp at half the width: the stages with span t ≥ 32 run as
// radix-2 passes over memory (radix-4 and radix-8 passes measured slower: with 16 ymm registers
// their roots spill), and the last five stages run per 32-coefficient block held in eight
// registers. Spans 16, 8, 4 pair whole registers; spans 2 and 1 pair lanes of a register pair (8
// coefficients, index bits b2 b1 b0): 128-bit swaps (vperm2i128) and in-lane unpacks move the
// butterfly bit into the register bit, natural (b2; b1 b0) → (b1; b2 b0) → (b0; b2 b1) → back.
// The forward's final reduction and the inverse's N^{-1} scaling are fused into the last
// butterfly stage.
//
// Measured on AMD Zen 4 (bench/bench_ntt.cpp), N = 4096: forward ≈ 15 µs against ≈ 38 µs for the
// scalar kernel, for 50- and 60-bit primes alike (the kernel does not depend on the prime size).
//
// This translation unit alone is compiled with -mavx2 -mbmi2; nothing here is inline in a header.
#include <immintrin.h>

#include <cstddef>

#include "peregrine/math/ntt.hpp"

namespace peregrine::math {
namespace {

/// Broadcast constants of one modulus. p_swap has the two 32-bit halves of p exchanged.
struct Consts {
  __m256i p, p_swap, two_p;
  explicit Consts(u64 q)
      : p(_mm256_set1_epi64x(static_cast<long long>(q))),
        p_swap(_mm256_set1_epi64x(static_cast<long long>((q >> 32) | (q << 32)))),
        two_p(_mm256_set1_epi64x(static_cast<long long>(2 * q))) {}
};

/// A multiplier w with its Shoup constant w' = floor(w·2^64/p), w with its 32-bit halves
/// exchanged, and the high half of w' (vpmuludq reads the low half of each lane).
struct Twiddle {
  __m256i w, w_swap, s, s_hi;
  Twiddle() = default;
  Twiddle(__m256i w_, __m256i s_)
      : w(w_), w_swap(_mm256_shuffle_epi32(w_, 0xB1)), s(s_), s_hi(_mm256_srli_epi64(s_, 32)) {}
  static Twiddle broadcast(u64 w_, u64 s_) {
    return Twiddle(_mm256_set1_epi64x(static_cast<long long>(w_)),
                   _mm256_set1_epi64x(static_cast<long long>(s_)));
  }
};

inline __m256i load(const u64* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline void store(u64* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

/// x − b if x ≥ b, else x. Requires x, b < 2^63 (the sign of x − b decides).
inline __m256i sub_if_ge(__m256i x, __m256i b) {
  const __m256i d = _mm256_sub_epi64(x, b);
  return _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(d), _mm256_castsi256_pd(x),
                                              _mm256_castsi256_pd(d)));
}

/// Lazy Shoup product y·w mod p in [0, 2p). y < 2^63, w in [0, p), w' = floor(w·2^64/p).
inline __m256i mul_shoup(__m256i y, const Twiddle& w, const Consts& c) {
  const __m256i yh = _mm256_srli_epi64(y, 32);
  // Q' = high word of y·w' without the carries out of the low word: Q − 2 ≤ Q' ≤ Q.
  const __m256i lh = _mm256_mul_epu32(y, w.s_hi);
  const __m256i hl = _mm256_mul_epu32(yh, w.s);
  const __m256i hh = _mm256_mul_epu32(yh, w.s_hi);
  const __m256i q = _mm256_add_epi64(
      hh, _mm256_add_epi64(_mm256_srli_epi64(lh, 32), _mm256_srli_epi64(hl, 32)));
  // T' = y·w − Q'·p mod 2^64 = (yl·wl − ql·pl) + 2^32·(yl·wh + yh·wl − ql·ph − qh·pl). The cross
  // terms matter only mod 2^32: vpmulld against the half-swapped w and p yields them per 32-bit
  // half, and adding the two halves gives their sum.
  const __m256i lo = _mm256_sub_epi64(_mm256_mul_epu32(y, w.w), _mm256_mul_epu32(q, c.p));
  const __m256i cr =
      _mm256_sub_epi32(_mm256_mullo_epi32(y, w.w_swap), _mm256_mullo_epi32(q, c.p_swap));
  const __m256i cross = _mm256_slli_epi64(_mm256_add_epi64(cr, _mm256_srli_epi64(cr, 32)), 32);
  const __m256i t = _mm256_add_epi64(lo, cross);  // [0, 4p)
  return sub_if_ge(t, c.two_p);
}

/// Cooley–Tukey butterfly (x, y) ← (x + w·y, x − w·y). Inputs and outputs in [0, 4p).
inline void fwd_bfly(__m256i& x, __m256i& y, const Twiddle& w, const Consts& c) {
  const __m256i u = sub_if_ge(x, c.two_p);  // [0, 2p)
  const __m256i t = mul_shoup(y, w, c);     // [0, 2p)
  x = _mm256_add_epi64(u, t);
  y = _mm256_sub_epi64(_mm256_add_epi64(u, c.two_p), t);
}

/// Gentleman–Sande butterfly (x, y) ← (x + y, (x − y)·w). Inputs and outputs in [0, 2p).
inline void inv_bfly(__m256i& x, __m256i& y, const Twiddle& w, const Consts& c) {
  const __m256i s = _mm256_add_epi64(x, y);                             // [0, 4p)
  const __m256i d = _mm256_sub_epi64(_mm256_add_epi64(x, c.two_p), y);  // (0, 4p)
  x = sub_if_ge(s, c.two_p);
  y = mul_shoup(d, w, c);
}

/// Last inverse stage with the N^{-1} scaling folded in: (x, y) ← ((x + y)·N^{-1},
/// (x − y)·w·N^{-1}). Inputs in [0, 2p); outputs in [0, p).
inline void inv_bfly_last(__m256i& x, __m256i& y, const Twiddle& ninv, const Twiddle& wn,
                          const Consts& c) {
  const __m256i s = _mm256_add_epi64(x, y);
  const __m256i d = _mm256_sub_epi64(_mm256_add_epi64(x, c.two_p), y);
  x = sub_if_ge(mul_shoup(s, ninv, c), c.p);
  y = sub_if_ge(mul_shoup(d, wn, c), c.p);
}

// ---- Register-pair transitions for spans 2 and 1. A pair (x, y) holds 8 coefficients with index
// bits b2 b1 b0; "(b1; b2 b0)" means the register is selected by b1 and the lane is 2·b2 + b0.

/// Swaps the register bit with lane bit 1: (x, y) ← ([x.lo y.lo], [x.hi y.hi]).
inline void swap_r_l1(__m256i& x, __m256i& y) {
  const __m256i a = _mm256_permute2x128_si256(x, y, 0x20);
  y = _mm256_permute2x128_si256(x, y, 0x31);
  x = a;
}
/// Swaps the register bit with lane bit 0: (x, y) ← ([x0 y0 x2 y2], [x1 y1 x3 y3]).
inline void swap_r_l0(__m256i& x, __m256i& y) {
  const __m256i a = _mm256_unpacklo_epi64(x, y);
  y = _mm256_unpackhi_epi64(x, y);
  x = a;
}
/// Roots of the span-2 stage for 8-coefficient block g in layout (b1; b2 b0): lane l takes
/// table[m + 2g + (l >> 1)], i.e. [r0 r0 r1 r1].
inline __m256i load_pairs(const u64* p) {
  return _mm256_permute4x64_epi64(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 0x50);
}

/// R forward stages over memory, from the stage with m0 groups (span t0 = N/(2·m0)) to the stage
/// with span t0/2^(R−1) ≥ 4. Values in [0, 4p) → [0, 4p).
template <int R>
void fwd_pass(u64* a, const NttTables& tb, std::size_t m0, const Consts& c) {
  constexpr int V = 1 << R;
  const std::size_t t0 = tb.n / (2 * m0);
  const std::size_t q = t0 >> (R - 1);
  for (std::size_t i = 0; i < m0; ++i) {
    Twiddle w[V - 1];
#pragma GCC unroll 4
    for (int s = 0; s < R; ++s) {
      const int groups = 1 << s;
#pragma GCC unroll 4
      for (int h = 0; h < groups; ++h) {
        const std::size_t idx = (m0 << s) + (i << s) + static_cast<std::size_t>(h);
        w[groups - 1 + h] = Twiddle::broadcast(tb.fwd[idx], tb.fwd_shoup[idx]);
      }
    }
    u64* base = a + 2 * i * t0;
    for (std::size_t j = 0; j < q; j += 4) {
      __m256i v[V];
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) v[k] = load(base + k * q + j);
#pragma GCC unroll 4
      for (int s = 0; s < R; ++s) {
        const int span = V >> (s + 1);
#pragma GCC unroll 8
        for (int k = 0; k < V; ++k)
          if (!(k & span)) fwd_bfly(v[k], v[k + span], w[(1 << s) - 1 + k / (2 * span)], c);
      }
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) store(base + k * q + j, v[k]);
    }
  }
}

/// R inverse stages over memory, from the stage with span t0 ≥ 4 to span t0·2^(R−1). Values in
/// [0, 2p) → [0, 2p), or [0, p) when kLast (the pass ends with the m = 1 stage and scales by
/// N^{-1}).
template <int R, bool kLast>
void inv_pass(u64* a, const NttTables& tb, std::size_t t0, const Consts& c) {
  constexpr int V = 1 << R;
  const std::size_t n = tb.n;
  const std::size_t m0 = n / (2 * t0);
  const Twiddle ninv = Twiddle::broadcast(tb.inv_n, tb.inv_n_shoup);
  const Twiddle wn = Twiddle::broadcast(tb.inv_n_w1, tb.inv_n_w1_shoup);
  for (std::size_t i = 0; i < n / (t0 * V); ++i) {
    // Roots of stage s (V/2^(s+1) groups here), group h: index (m0 >> s) + (i << (R − 1 − s)) + h,
    // stored at position V − 2·groups + h.
    Twiddle w[V - 1];
#pragma GCC unroll 4
    for (int s = 0; s < R; ++s) {
      const int groups = V >> (s + 1);
#pragma GCC unroll 4
      for (int h = 0; h < groups; ++h) {
        const std::size_t idx = (m0 >> s) + (i << (R - 1 - s)) + static_cast<std::size_t>(h);
        w[V - 2 * groups + h] = Twiddle::broadcast(tb.inv[idx], tb.inv_shoup[idx]);
      }
    }
    u64* base = a + i * t0 * V;
    for (std::size_t j = 0; j < t0; j += 4) {
      __m256i v[V];
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) v[k] = load(base + k * t0 + j);
#pragma GCC unroll 4
      for (int s = 0; s < R; ++s) {
        const int span = 1 << s;
        const int groups = V >> (s + 1);
#pragma GCC unroll 8
        for (int k = 0; k < V; ++k)
          if (!(k & span)) {
            if (kLast && s == R - 1)
              inv_bfly_last(v[k], v[k + span], ninv, wn, c);
            else
              inv_bfly(v[k], v[k + span], w[V - 2 * groups + k / (2 * span)], c);
          }
      }
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k) store(base + k * t0 + j, v[k]);
    }
  }
}

/// The last LOGB forward stages (spans 2^(LOGB−1) … 1) per block of B = 2^LOGB coefficients,
/// with the final reduction. Values in [0, 4p) → [0, p).
template <int LOGB>
void fwd_blocks(u64* a, const NttTables& tb, const Consts& c) {
  constexpr int B = 1 << LOGB, V = B / 4, P = V / 2;
  const std::size_t n = tb.n;
  const u64* fw = tb.fwd.data();
  const u64* fs = tb.fwd_shoup.data();
  for (std::size_t b = 0; b < n / B; ++b) {
    u64* base = a + b * B;
    __m256i v[V];
#pragma GCC unroll 8
    for (int k = 0; k < V; ++k) v[k] = load(base + 4 * k);
    // Spans B/2 … 4: whole registers. Stage s has n·2^s/B groups.
#pragma GCC unroll 4
    for (int s = 0; s < LOGB - 2; ++s) {
      const int span = V >> (s + 1);
      const std::size_t m = (n / B) << s;
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k)
        if (!(k & span)) {
          const std::size_t g = m + (b << s) + static_cast<std::size_t>(k / (2 * span));
          fwd_bfly(v[k], v[k + span], Twiddle::broadcast(fw[g], fs[g]), c);
        }
    }
    // Spans 2, 1 on register pairs; pair h is 8-coefficient block b·P + h.
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) swap_r_l1(v[2 * h], v[2 * h + 1]);  // → (b1; b2 b0)
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) {
      const std::size_t g = n / 4 + 2 * (b * P + static_cast<std::size_t>(h));
      fwd_bfly(v[2 * h], v[2 * h + 1], Twiddle(load_pairs(fw + g), load_pairs(fs + g)), c);
    }
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) swap_r_l0(v[2 * h], v[2 * h + 1]);  // → (b0; b2 b1)
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) {
      const std::size_t g = n / 2 + 4 * (b * P + static_cast<std::size_t>(h));
      fwd_bfly(v[2 * h], v[2 * h + 1], Twiddle(load(fw + g), load(fs + g)), c);
    }
#pragma GCC unroll 8
    for (int k = 0; k < V; ++k) v[k] = sub_if_ge(sub_if_ge(v[k], c.two_p), c.p);
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) {
      swap_r_l0(v[2 * h], v[2 * h + 1]);  // → (b1; b2 b0)
      swap_r_l1(v[2 * h], v[2 * h + 1]);  // → natural
      store(base + 8 * h, v[2 * h]);
      store(base + 8 * h + 4, v[2 * h + 1]);
    }
  }
}

/// The first LOGB inverse stages (spans 1 … 2^(LOGB−1)) per block of B = 2^LOGB coefficients.
/// Values in [0, 2p) → [0, 2p), or [0, p) with the N^{-1} scaling when kLast (B = N).
template <int LOGB, bool kLast>
void inv_blocks(u64* a, const NttTables& tb, const Consts& c) {
  constexpr int B = 1 << LOGB, V = B / 4, P = V / 2;
  const std::size_t n = tb.n;
  const u64* iw = tb.inv.data();
  const u64* is = tb.inv_shoup.data();
  const Twiddle ninv = Twiddle::broadcast(tb.inv_n, tb.inv_n_shoup);
  const Twiddle wn = Twiddle::broadcast(tb.inv_n_w1, tb.inv_n_w1_shoup);
  for (std::size_t b = 0; b < n / B; ++b) {
    u64* base = a + b * B;
    __m256i v[V];
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) {
      v[2 * h] = load(base + 8 * h);
      v[2 * h + 1] = load(base + 8 * h + 4);
      swap_r_l1(v[2 * h], v[2 * h + 1]);  // → (b1; b2 b0)
      swap_r_l0(v[2 * h], v[2 * h + 1]);  // → (b0; b2 b1)
    }
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) {
      const std::size_t g = n / 2 + 4 * (b * P + static_cast<std::size_t>(h));
      inv_bfly(v[2 * h], v[2 * h + 1], Twiddle(load(iw + g), load(is + g)), c);
    }
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) swap_r_l0(v[2 * h], v[2 * h + 1]);  // → (b1; b2 b0)
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) {
      const std::size_t g = n / 4 + 2 * (b * P + static_cast<std::size_t>(h));
      inv_bfly(v[2 * h], v[2 * h + 1], Twiddle(load_pairs(iw + g), load_pairs(is + g)), c);
    }
#pragma GCC unroll 4
    for (int h = 0; h < P; ++h) swap_r_l1(v[2 * h], v[2 * h + 1]);  // → natural
    // Spans 4 … B/2: whole registers. The stage with span 4·2^s has n/(8·2^s) groups.
#pragma GCC unroll 4
    for (int s = 0; s < LOGB - 2; ++s) {
      const int span = 1 << s;
      const std::size_t m = n >> (3 + s);
#pragma GCC unroll 8
      for (int k = 0; k < V; ++k)
        if (!(k & span)) {
          if (kLast && s == LOGB - 3) {
            inv_bfly_last(v[k], v[k + span], ninv, wn, c);
          } else {
            const std::size_t g =
                m + (b << (LOGB - 3 - s)) + static_cast<std::size_t>(k / (2 * span));
            inv_bfly(v[k], v[k + span], Twiddle::broadcast(iw[g], is[g]), c);
          }
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < V; ++k) store(base + 4 * k, v[k]);
  }
}

/// Splits the S memory stages into passes of at most kMaxRadixLog stages; returns the count and
/// fills r[] in forward order.
constexpr int kMaxRadixLog = 1;
int plan_passes(int s, int r[16]) {
  int k = 0;
  while (s > 0) {
    const int take = s >= kMaxRadixLog ? kMaxRadixLog : s;
    r[k++] = take;
    s -= take;
  }
  return k;
}

constexpr int kLogBlock = 5;

}  // namespace

/// Forward negacyclic NTT in place (AVX2). Requires N ≥ 8 and a CPU with AVX2 + BMI2; any prime
/// p < 2^61. Input in [0, 4p); output in [0, p), bit-reversed order, equal to ntt_forward_scalar.
void ntt_forward_avx2(u64* a, const NttTables& tb) {
  const Consts c(tb.mod.value);
  const int logb = tb.log_n < kLogBlock ? tb.log_n : kLogBlock;
  int r[16];
  const int passes = plan_passes(tb.log_n - logb, r);
  std::size_t m = 1;
  for (int k = 0; k < passes; ++k) {
    if (r[k] == 2)
      fwd_pass<2>(a, tb, m, c);
    else
      fwd_pass<1>(a, tb, m, c);
    m <<= r[k];
  }
  switch (logb) {
    case 3: fwd_blocks<3>(a, tb, c); break;
    case 4: fwd_blocks<4>(a, tb, c); break;
    default: fwd_blocks<kLogBlock>(a, tb, c); break;
  }
}

/// Inverse negacyclic NTT in place (AVX2), including the N^{-1} scaling. Same requirements as the
/// forward. Input in [0, 2p), bit-reversed order; output in [0, p), equal to ntt_inverse_scalar.
void ntt_inverse_avx2(u64* a, const NttTables& tb) {
  const Consts c(tb.mod.value);
  const int logb = tb.log_n < kLogBlock ? tb.log_n : kLogBlock;
  int r[16];
  const int passes = plan_passes(tb.log_n - logb, r);
  if (passes == 0) {
    switch (logb) {
      case 3: inv_blocks<3, true>(a, tb, c); break;
      case 4: inv_blocks<4, true>(a, tb, c); break;
      default: inv_blocks<kLogBlock, true>(a, tb, c); break;
    }
    return;
  }
  inv_blocks<kLogBlock, false>(a, tb, c);
  std::size_t t = std::size_t{1} << kLogBlock;
  for (int k = passes - 1; k >= 0; --k) {
    const bool last = k == 0;
    if (r[k] == 2) {
      if (last)
        inv_pass<2, true>(a, tb, t, c);
      else
        inv_pass<2, false>(a, tb, t, c);
    } else {
      if (last)
        inv_pass<1, true>(a, tb, t, c);
      else
        inv_pass<1, false>(a, tb, t, c);
    }
    t <<= r[k];
  }
}

}  // namespace peregrine::math
