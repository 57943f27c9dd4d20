// VAES / AVX-512 kernels of the ot layer: four AES blocks per instruction, four registers in flight. Compiled with
// -maes -mvaes -mavx512f -mavx512vl -mavx512bw (src/peregrine/CMakeLists.txt); reached only through
// the dispatchers in crhash.cpp after vaes_available(). Same rules as kernels.cpp: no std::
// templates, no exceptions.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge operand, which trips
// -W(maybe-)uninitialized on every inlined call; the operand is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "peregrine/ot/kernels.hpp"

namespace peregrine::ot::detail {

namespace {

constexpr std::size_t kWay = 4;  // zmm registers in flight: 16 blocks per step

struct Keys {
  __m512i rk[11];
  explicit Keys(const AesKey& key) {
    for (int r = 0; r < 11; ++r)
      rk[r] = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&key.rk[r])));
  }
};

inline void enc(const Keys& k, __m512i* x) {
  for (std::size_t j = 0; j < kWay; ++j) x[j] = _mm512_xor_si512(x[j], k.rk[0]);
  for (int r = 1; r < 10; ++r)
    for (std::size_t j = 0; j < kWay; ++j) x[j] = _mm512_aesenc_epi128(x[j], k.rk[r]);
  for (std::size_t j = 0; j < kWay; ++j) x[j] = _mm512_aesenclast_epi128(x[j], k.rk[10]);
}

// Counter blocks {lo0 + i, hi}, i = 0, 1, 2, ...: next() fills kWay registers (16 blocks).
class Counter {
 public:
  Counter(std::uint64_t lo0, std::uint64_t hi) {
    const auto h = static_cast<long long>(hi), lo = static_cast<long long>(lo0);
    v_ = _mm512_set_epi64(h, lo + 3, h, lo + 2, h, lo + 1, h, lo);
  }
  void next(__m512i* x) {
    const __m512i step = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
    for (std::size_t j = 0; j < kWay; ++j) {
      x[j] = v_;
      v_ = _mm512_add_epi64(v_, step);
    }
  }

 private:
  __m512i v_;
};

inline __m512i ld(const Block* p) { return _mm512_loadu_si512(static_cast<const void*>(p)); }
inline void st(Block* p, __m512i v) { _mm512_storeu_si512(static_cast<void*>(p), v); }

// TCCR on 16 blocks: out = π(π(x) ⊕ t) ⊕ π(x).
inline void tccr16(const Keys& k, const Block* in, const __m512i* t, Block* out) {
  __m512i p[kWay], x[kWay];
  for (std::size_t j = 0; j < kWay; ++j) p[j] = ld(in + 4 * j);
  enc(k, p);
  for (std::size_t j = 0; j < kWay; ++j) x[j] = _mm512_xor_si512(p[j], t[j]);
  enc(k, x);
  for (std::size_t j = 0; j < kWay; ++j) st(out + 4 * j, _mm512_xor_si512(x[j], p[j]));
}

}  // namespace

void ccr_hash_vaes(const Block* in, Block* out, std::size_t n) noexcept {
  const Keys k(fixed_key());
  const __m512i hi_lanes = _mm512_set_epi64(-1, 0, -1, 0, -1, 0, -1, 0);
  std::size_t i = 0;
  for (; i + 4 * kWay <= n; i += 4 * kWay) {
    __m512i s[kWay], x[kWay];
    for (std::size_t j = 0; j < kWay; ++j) {
      const __m512i a = ld(in + i + 4 * j);  // σ(a) = (a.hi, a.hi ⊕ a.lo) per 128-bit lane
      x[j] = s[j] = _mm512_xor_si512(_mm512_shuffle_epi32(a, _MM_PERM_BADC), _mm512_and_si512(a, hi_lanes));
    }
    enc(k, x);
    for (std::size_t j = 0; j < kWay; ++j) st(out + i + 4 * j, _mm512_xor_si512(x[j], s[j]));
  }
  if (i < n) ccr_hash_aesni(in + i, out + i, n - i);
}

void tccr_hash_vaes(const Block* in, Block tweak0, Block* out, std::size_t n) noexcept {
  const Keys k(fixed_key());
  Counter tweaks(tweak0.lo, tweak0.hi);
  std::size_t i = 0;
  for (; i + 4 * kWay <= n; i += 4 * kWay) {
    __m512i t[kWay];
    tweaks.next(t);
    tccr16(k, in + i, t, out + i);
  }
  if (i < n) tccr_hash_aesni(in + i, Block{tweak0.lo + i, tweak0.hi}, out + i, n - i);
}

void tccr_hash_tweaks_vaes(const Block* in, const Block* tweaks, Block* out, std::size_t n) noexcept {
  const Keys k(fixed_key());
  std::size_t i = 0;
  for (; i + 4 * kWay <= n; i += 4 * kWay) {
    __m512i t[kWay];
    for (std::size_t j = 0; j < kWay; ++j) t[j] = ld(tweaks + i + 4 * j);
    tccr16(k, in + i, t, out + i);
  }
  if (i < n) tccr_hash_tweaks_aesni(in + i, tweaks + i, out + i, n - i);
}

void lpn_indices_vaes(const AesKey& key, std::uint64_t lo0, std::uint64_t hi, std::size_t nblocks,
                      std::uint32_t k, std::uint32_t* idx) noexcept {
  const Keys keys(key);
  Counter ctr(lo0, hi);
  const __m512i kv = _mm512_set1_epi64(static_cast<long long>(k));
  const __m512i hi_dwords = _mm512_set1_epi64(static_cast<long long>(0xFFFFFFFF00000000ULL));
  std::size_t b = 0;
  for (; b + 4 * kWay <= nblocks; b += 4 * kWay) {
    __m512i x[kWay];
    ctr.next(x);
    enc(keys, x);
    for (std::size_t j = 0; j < kWay; ++j) {
      // ⌊w·k / 2^32⌋ per 32-bit word: even words from the low, odd words from the high dword.
      const __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(x[j], kv), 32);
      const __m512i odd = _mm512_and_si512(_mm512_mul_epu32(_mm512_srli_epi64(x[j], 32), kv), hi_dwords);
      _mm512_storeu_si512(idx + 4 * (b + 4 * j), _mm512_or_si512(even, odd));
    }
  }
  if (b < nblocks) lpn_indices_aesni(key, lo0 + b, hi, nblocks - b, k, idx + 4 * b);
}

}  // namespace peregrine::ot::detail
