// VAES / AVX-512 kernels of the ot layer: four AES blocks per instruction. Compiled with
// -maes -mvaes -mavx512f -mavx512vl -mavx512bw (src/peregrine/CMakeLists.txt); reached only through
// the dispatchers in crhash.cpp after vaes_available(). Same rules as kernels.cpp: no std::
// templates, no exceptions.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge operand, which trips
// -W(maybe-)uninitialized on every inlined call; the operand is never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "peregrine/ot/kernels.hpp"

namespace peregrine::ot::detail {

void lpn_indices_vaes(const AesKey& key, std::uint64_t lo0, std::uint64_t hi, std::size_t nblocks,
                      std::uint32_t k, std::uint32_t* idx) noexcept {
  constexpr std::size_t kWay = 4;  // zmm registers in flight: 16 blocks, 64 indices per step
  __m512i rk[11];
  for (int r = 0; r < 11; ++r)
    rk[r] = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(&key.rk[r])));
  const long long h = static_cast<long long>(hi);
  const auto lo = static_cast<long long>(lo0);
  __m512i cv = _mm512_set_epi64(h, lo + 3, h, lo + 2, h, lo + 1, h, lo);
  const __m512i step = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
  const __m512i kv = _mm512_set1_epi64(static_cast<long long>(k));
  const __m512i hi_dwords = _mm512_set1_epi64(static_cast<long long>(0xFFFFFFFF00000000ULL));
  std::size_t b = 0;
  for (; b + 4 * kWay <= nblocks; b += 4 * kWay) {
    __m512i x[kWay];
    for (std::size_t j = 0; j < kWay; ++j) {
      x[j] = _mm512_xor_si512(cv, rk[0]);
      cv = _mm512_add_epi64(cv, step);
    }
    for (int r = 1; r < 10; ++r)
      for (std::size_t j = 0; j < kWay; ++j) x[j] = _mm512_aesenc_epi128(x[j], rk[r]);
    for (std::size_t j = 0; j < kWay; ++j) {
      const __m512i w = _mm512_aesenclast_epi128(x[j], rk[10]);
      // ⌊w·k / 2^32⌋ per 32-bit word: even words from the low, odd words from the high dword.
      const __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(w, kv), 32);
      const __m512i odd = _mm512_and_si512(_mm512_mul_epu32(_mm512_srli_epi64(w, 32), kv), hi_dwords);
      _mm512_storeu_si512(idx + 4 * (b + 4 * j), _mm512_or_si512(even, odd));
    }
  }
  if (b < nblocks) lpn_indices_aesni(key, lo0 + b, hi, nblocks - b, k, idx + 4 * b);
}

}  // namespace peregrine::ot::detail
