// AES-NI / SSE kernels of the ot layer. Compiled with -maes -mssse3 -msse4.1 (see
// src/peregrine/CMakeLists.txt); every entry point is guarded by require_aesni() at the public API.
// Keep this file free of std:: templates and exceptions so that no SSE4.1/AES code leaks into
// shared inline instantiations (the run-time check lives in crhash.cpp, compiled for baseline).
#include "peregrine/ot/kernels.hpp"

#include <immintrin.h>
#include <wmmintrin.h>

#include <cstring>


namespace peregrine::ot::detail {

namespace {

inline __m128i ld(const Block& b) { return _mm_load_si128(reinterpret_cast<const __m128i*>(&b)); }
inline __m128i ldu(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline void st(Block& b, __m128i v) { _mm_store_si128(reinterpret_cast<__m128i*>(&b), v); }

template <int Rcon>
inline __m128i expand_step(__m128i key) {
  __m128i gen = _mm_aeskeygenassist_si128(key, Rcon);
  gen = _mm_shuffle_epi32(gen, 0xff);
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  return _mm_xor_si128(key, gen);
}

void expand(__m128i k, __m128i* rk) {
  rk[0] = k;
  rk[1] = expand_step<0x01>(rk[0]);
  rk[2] = expand_step<0x02>(rk[1]);
  rk[3] = expand_step<0x04>(rk[2]);
  rk[4] = expand_step<0x08>(rk[3]);
  rk[5] = expand_step<0x10>(rk[4]);
  rk[6] = expand_step<0x20>(rk[5]);
  rk[7] = expand_step<0x40>(rk[6]);
  rk[8] = expand_step<0x80>(rk[7]);
  rk[9] = expand_step<0x1b>(rk[8]);
  rk[10] = expand_step<0x36>(rk[9]);
}

/// Encrypts N blocks in registers under the round keys rk (N-way interleaved for the AES pipeline).
template <int N>
inline void enc(const __m128i* rk, __m128i* x) {
  for (int i = 0; i < N; ++i) x[i] = _mm_xor_si128(x[i], rk[0]);
  for (int r = 1; r < 10; ++r) {
    const __m128i k = rk[r];
    for (int i = 0; i < N; ++i) x[i] = _mm_aesenc_si128(x[i], k);
  }
  for (int i = 0; i < N; ++i) x[i] = _mm_aesenclast_si128(x[i], rk[10]);
}

/// The public fixed key of π: the first 128 bits of the fractional part of pi
/// (0x243F6A8885A308D3, 0x13198A2E03707344), a nothing-up-my-sleeve constant.
struct FixedKey {
  __m128i rk[11];
  FixedKey() { expand(_mm_set_epi64x(0x13198A2E03707344LL, 0x243F6A8885A308D3LL), rk); }
};

const __m128i* fixed_rk() {
  static const FixedKey k;  // immutable after the (thread-safe) first initialisation
  return k.rk;
}

/// σ(x) = (x.hi, x.hi ⊕ x.lo) as (lo, hi): a linear orthomorphism (GKWY20).
inline __m128i sigma(__m128i a) {
  const __m128i swapped = _mm_shuffle_epi32(a, 0x4e);  // (hi, lo)
  const __m128i hi_mask = _mm_set_epi64x(-1, 0);
  return _mm_xor_si128(swapped, _mm_and_si128(a, hi_mask));
}

}  // namespace

const AesKey& fixed_key() noexcept {
  static const AesKey k = [] {
    AesKey out;
    const __m128i* rk = fixed_rk();
    for (int i = 0; i < 11; ++i) st(out.rk[i], rk[i]);
    return out;
  }();
  return k;
}

void aes_expand_key(Block key, AesKey& out) noexcept {
  __m128i rk[11];
  expand(ld(key), rk);
  for (int i = 0; i < 11; ++i) st(out.rk[i], rk[i]);
}

namespace {
// ECB encryption of n blocks under expanded round keys rk, 8 blocks at a time.
void ecb(const __m128i* rk, const Block* in, Block* out, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i x[8];
    for (int j = 0; j < 8; ++j) x[j] = ld(in[i + j]);
    enc<8>(rk, x);
    for (int j = 0; j < 8; ++j) st(out[i + j], x[j]);
  }
  for (; i < n; ++i) {
    __m128i x[1] = {ld(in[i])};
    enc<1>(rk, x);
    st(out[i], x[0]);
  }
}
}  // namespace

void aes_ecb(const AesKey& key, const Block* in, Block* out, std::size_t n) noexcept {
  __m128i rk[11];
  for (int i = 0; i < 11; ++i) rk[i] = ld(key.rk[i]);
  ecb(rk, in, out, n);
}

void lpn_indices_aesni(const AesKey& key, std::uint64_t lo0, std::uint64_t hi, std::size_t nblocks,
                       std::uint32_t k, std::uint32_t* idx) noexcept {
  __m128i rk[11];
  for (int i = 0; i < 11; ++i) rk[i] = ld(key.rk[i]);
  const __m128i one = _mm_set_epi64x(0, 1);
  __m128i cv = _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo0));
  alignas(16) std::uint32_t w[32];
  std::size_t b = 0;
  while (b < nblocks) {
    const std::size_t c = nblocks - b < 8 ? nblocks - b : 8;
    __m128i x[8];
    for (std::size_t j = 0; j < 8; ++j) {
      x[j] = cv;
      if (j < c) cv = _mm_add_epi64(cv, one);
    }
    enc<8>(rk, x);
    for (int j = 0; j < 8; ++j) _mm_store_si128(reinterpret_cast<__m128i*>(w + 4 * j), x[j]);
    for (std::size_t e = 0; e < 4 * c; ++e)
      idx[4 * b + e] = static_cast<std::uint32_t>((static_cast<std::uint64_t>(w[e]) * k) >> 32);
    b += c;
  }
}

void fixed_aes(const Block* in, Block* out, std::size_t n) noexcept { ecb(fixed_rk(), in, out, n); }

void ccr_hash_aesni(const Block* in, Block* out, std::size_t n) noexcept {
  const __m128i* rk = fixed_rk();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i s[8], x[8];
    for (int j = 0; j < 8; ++j) x[j] = s[j] = sigma(ld(in[i + j]));
    enc<8>(rk, x);
    for (int j = 0; j < 8; ++j) st(out[i + j], _mm_xor_si128(x[j], s[j]));
  }
  for (; i < n; ++i) {
    const __m128i s = sigma(ld(in[i]));
    __m128i x[1] = {s};
    enc<1>(rk, x);
    st(out[i], _mm_xor_si128(x[0], s));
  }
}

namespace {
template <int N>
inline void tccr_n(const __m128i* rk, const Block* in, const __m128i* t, Block* out) {
  __m128i p[N], x[N];
  for (int j = 0; j < N; ++j) p[j] = ld(in[j]);
  enc<N>(rk, p);
  for (int j = 0; j < N; ++j) x[j] = _mm_xor_si128(p[j], t[j]);
  enc<N>(rk, x);
  for (int j = 0; j < N; ++j) st(out[j], _mm_xor_si128(x[j], p[j]));
}
}  // namespace

void tccr_hash_aesni(const Block* in, Block tweak0, Block* out, std::size_t n) noexcept {
  const __m128i* rk = fixed_rk();
  std::size_t i = 0;
  __m128i t[8];
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j)
      t[j] = _mm_set_epi64x(static_cast<long long>(tweak0.hi),
                            static_cast<long long>(tweak0.lo + i + static_cast<unsigned>(j)));
    tccr_n<8>(rk, in + i, t, out + i);
  }
  for (; i < n; ++i) {
    t[0] = _mm_set_epi64x(static_cast<long long>(tweak0.hi), static_cast<long long>(tweak0.lo + i));
    tccr_n<1>(rk, in + i, t, out + i);
  }
}

void tccr_hash_tweaks_aesni(const Block* in, const Block* tweaks, Block* out, std::size_t n) noexcept {
  const __m128i* rk = fixed_rk();
  std::size_t i = 0;
  __m128i t[8];
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) t[j] = ld(tweaks[i + j]);
    tccr_n<8>(rk, in + i, t, out + i);
  }
  for (; i < n; ++i) {
    t[0] = ld(tweaks[i]);
    tccr_n<1>(rk, in + i, t, out + i);
  }
}

void kk_pad_kernel(const Block* rows, const Block* offsets, std::size_t N, std::size_t n,
                   std::uint64_t index0, std::uint64_t hi_a, std::uint64_t hi_b,
                   std::uint64_t* out) noexcept {
  const __m128i* rk = fixed_rk();
  for (std::size_t j = 0; j < n; ++j) {
    const __m128i qa = ld(rows[2 * j]), qb = ld(rows[2 * j + 1]);
    const long long idx = static_cast<long long>(index0 + j);
    const __m128i ta = _mm_set_epi64x(static_cast<long long>(hi_a), idx);
    const __m128i tb = _mm_set_epi64x(static_cast<long long>(hi_b), idx);
    std::size_t x = 0;
    for (; x + 8 <= N; x += 8) {
      __m128i p[8], y[8];
      for (int k = 0; k < 8; ++k) p[k] = _mm_xor_si128(qa, ld(offsets[2 * (x + k)]));
      enc<8>(rk, p);
      for (int k = 0; k < 8; ++k) y[k] = _mm_xor_si128(p[k], ta);
      enc<8>(rk, y);
      // y ⊕ p = TCCR(a); chain into the second half.
      for (int k = 0; k < 8; ++k)
        p[k] = _mm_xor_si128(_mm_xor_si128(y[k], p[k]), _mm_xor_si128(qb, ld(offsets[2 * (x + k) + 1])));
      enc<8>(rk, p);
      for (int k = 0; k < 8; ++k) y[k] = _mm_xor_si128(p[k], tb);
      enc<8>(rk, y);
      for (int k = 0; k < 8; ++k)
        out[j * N + x + k] = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_xor_si128(y[k], p[k])));
    }
    for (; x < N; ++x) {
      __m128i p[1] = {_mm_xor_si128(qa, ld(offsets[2 * x]))}, y[1];
      enc<1>(rk, p);
      y[0] = _mm_xor_si128(p[0], ta);
      enc<1>(rk, y);
      p[0] = _mm_xor_si128(_mm_xor_si128(y[0], p[0]), _mm_xor_si128(qb, ld(offsets[2 * x + 1])));
      enc<1>(rk, p);
      y[0] = _mm_xor_si128(p[0], tb);
      enc<1>(rk, y);
      out[j * N + x] = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_xor_si128(y[0], p[0])));
    }
  }
}

void prg_columns(const AesKey* keys, std::size_t ncols, std::uint64_t ctr, std::size_t nblocks,
                 Block* out) noexcept {
  const __m128i one = _mm_set_epi64x(0, 1);
  for (std::size_t c = 0; c < ncols; ++c) {
    __m128i rk[11];
    for (int r = 0; r < 11; ++r) rk[r] = ld(keys[c].rk[r]);
    Block* o = out + c * nblocks;
    __m128i cv = _mm_set_epi64x(0, static_cast<long long>(ctr));
    std::size_t k = 0;
    for (; k + 8 <= nblocks; k += 8) {
      __m128i x[8];
      for (int j = 0; j < 8; ++j) {
        x[j] = cv;
        cv = _mm_add_epi64(cv, one);
      }
      enc<8>(rk, x);
      for (int j = 0; j < 8; ++j) st(o[k + j], x[j]);
    }
    for (; k < nblocks; ++k) {
      __m128i x[1] = {cv};
      cv = _mm_add_epi64(cv, one);
      enc<1>(rk, x);
      st(o[k], x[0]);
    }
  }
}

void transpose128(const Block* in, std::size_t in_stride, Block* out) noexcept {
  auto* out16 = reinterpret_cast<std::uint16_t*>(out);  // out[j] = 8 u16 words
  for (int strip = 0; strip < 8; ++strip) {
    // A[k]: row 16*strip + k, 16 bytes (byte c holds bits 8c..8c+7).
    __m128i a[16];
    for (int k = 0; k < 16; ++k) a[k] = ld(in[(static_cast<std::size_t>(strip) * 16 + k) * in_stride]);
    // 16×16 byte transpose in four unpack stages; r[c] ends with byte k = row k's byte c.
    __m128i s1[2][8], s2[4][4], s3[8][2], r[16];
    for (int p = 0; p < 8; ++p) {
      s1[0][p] = _mm_unpacklo_epi8(a[2 * p], a[2 * p + 1]);
      s1[1][p] = _mm_unpackhi_epi8(a[2 * p], a[2 * p + 1]);
    }
    for (int g = 0; g < 4; ++g)
      for (int q = 0; q < 4; ++q)
        s2[g][q] = (g & 1) ? _mm_unpackhi_epi16(s1[g >> 1][2 * q], s1[g >> 1][2 * q + 1])
                           : _mm_unpacklo_epi16(s1[g >> 1][2 * q], s1[g >> 1][2 * q + 1]);
    for (int g = 0; g < 8; ++g)
      for (int q = 0; q < 2; ++q)
        s3[g][q] = (g & 1) ? _mm_unpackhi_epi32(s2[g >> 1][2 * q], s2[g >> 1][2 * q + 1])
                           : _mm_unpacklo_epi32(s2[g >> 1][2 * q], s2[g >> 1][2 * q + 1]);
    for (int c = 0; c < 16; ++c)
      r[c] = (c & 1) ? _mm_unpackhi_epi64(s3[c >> 1][0], s3[c >> 1][1])
                     : _mm_unpacklo_epi64(s3[c >> 1][0], s3[c >> 1][1]);
    // movemask collects bit 7 of every byte: bits 16*strip..+15 of output row 8c+7, then shift.
    for (int c = 0; c < 16; ++c) {
      __m128i v = r[c];
      for (int b = 7; b >= 0; --b) {
        out16[(8 * c + b) * 8 + strip] = static_cast<std::uint16_t>(_mm_movemask_epi8(v));
        v = _mm_slli_epi64(v, 1);
      }
    }
  }
}

void pack_bits(const std::uint8_t* choices, std::size_t n, Block* out) noexcept {
  const std::size_t nblk = (n + 127) / 128;
  std::memset(static_cast<void*>(out), 0, nblk * sizeof(Block));
  auto* o16 = reinterpret_cast<std::uint16_t*>(out);
  const __m128i zero = _mm_setzero_si128();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i v = ldu(choices + i);
    const int m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
    o16[i / 16] = static_cast<std::uint16_t>(~m & 0xffff);
  }
  auto* o8 = reinterpret_cast<std::uint8_t*>(out);
  for (; i < n; ++i)
    if (choices[i]) o8[i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
}

}  // namespace peregrine::ot::detail
