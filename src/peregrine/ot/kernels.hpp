// Internal SIMD kernels of the ot layer (AES-NI / SSE4.1, compiled per file with their own flags in
// kernels.cpp). Not part of the public API: the mpc layer uses crhash.hpp, iknp.hpp, derived.hpp.
//
// Every kernel here requires a CPU with AES-NI and SSE4.1; callers check aesni_available() (or
// require_aesni()) once at their API boundary. Kernels take raw pointers, carry no checks and are
// thread-safe (no shared mutable state; the fixed AES key schedule is an immutable constant).
#pragma once
#include <cstddef>
#include <cstdint>

#include "peregrine/ot/cot.hpp"

namespace peregrine::ot::detail {

/// An expanded AES-128 key: 11 round keys.
struct AesKey {
  Block rk[11];
};

/// True when the CPU has AES-NI, SSE4.1 and SSSE3 (core/cpu.hpp, CpuFeature::kAesNi; thread-safe).
bool aesni_available() noexcept;
/// Throws Error(kUnsupported) when aesni_available() is false.
void require_aesni();

/// True when the CPU and OS support VAES with AVX-512F/VL/BW (core/cpu.hpp, CpuFeature::kVaesAvx512):
/// the 4-blocks-per-instruction AES kernels.
bool vaes_available() noexcept;

/// AES-128 key expansion (FIPS-197 §5.2) of `key` (bytes = the little-endian image of the Block).
void aes_expand_key(Block key, AesKey& out) noexcept;
/// ECB encryption of n blocks under `key`, 8 blocks at a time. in and out may alias exactly.
void aes_ecb(const AesKey& key, const Block* in, Block* out, std::size_t n) noexcept;

/// π(x): AES-128 under the public fixed key (see crhash.hpp), n blocks. in/out may alias exactly.
void fixed_aes(const Block* in, Block* out, std::size_t n) noexcept;
/// out_i = π(σ(x_i)) ⊕ σ(x_i) (GKWY20 CCR hash). in/out may alias exactly.
void ccr_hash_kernel(const Block* in, Block* out, std::size_t n) noexcept;
/// out_i = π(π(x_i) ⊕ t_i) ⊕ π(x_i) with t_i = {tweak0.lo + i, tweak0.hi} (GKWY20 TCCR hash).
void tccr_hash_kernel(const Block* in, Block tweak0, Block* out, std::size_t n) noexcept;
/// As tccr_hash_kernel with an explicit tweak per block.
void tccr_hash_tweaks_kernel(const Block* in, const Block* tweaks, Block* out, std::size_t n) noexcept;
// The three hashes above dispatch (crhash.cpp) to the VAES kernels (kernels_vaes.cpp, 16 blocks
// in flight) when vaes_available(), else to the AES-NI ones (kernels.cpp, 8 in flight); both give
// identical output (tested). Exposed for that test.
void ccr_hash_aesni(const Block* in, Block* out, std::size_t n) noexcept;
void tccr_hash_aesni(const Block* in, Block tweak0, Block* out, std::size_t n) noexcept;
void tccr_hash_tweaks_aesni(const Block* in, const Block* tweaks, Block* out, std::size_t n) noexcept;
void ccr_hash_vaes(const Block* in, Block* out, std::size_t n) noexcept;
void tccr_hash_vaes(const Block* in, Block tweak0, Block* out, std::size_t n) noexcept;
void tccr_hash_tweaks_vaes(const Block* in, const Block* tweaks, Block* out, std::size_t n) noexcept;
/// π's round keys (the public fixed key), for the VAES kernels.
const AesKey& fixed_key() noexcept;

/// KK13 pads (kkot.hpp): for each OT j < n and x < N, with a = rows[2j] ⊕ offsets[2x] and
/// b = rows[2j+1] ⊕ offsets[2x+1], out[j·N + x] = low 64 bits of
/// TCCR(TCCR(a, {index0 + j, hi_a}) ⊕ b, {index0 + j, hi_b}). 8-way pipelined over x.
void kk_pad_kernel(const Block* rows, const Block* offsets, std::size_t N, std::size_t n,
                   std::uint64_t index0, std::uint64_t hi_a, std::uint64_t hi_b,
                   std::uint64_t* out) noexcept;

/// IKNP column expansion: for each column c < ncols and k < nblocks,
/// out[c * nblocks + k] = AES_{keys[c]}({ctr + k, 0}) (AES-128-CTR keystream block ctr + k of
/// column c's seed). 8-way pipelined.
void prg_columns(const AesKey* keys, std::size_t ncols, std::uint64_t ctr, std::size_t nblocks,
                 Block* out) noexcept;

/// The OT-extension sender's correction (IKNP and KK13): q_i ⊕= u_i for every column i < ncols
/// with s[i] = 1, columns being nblocks Blocks each ([ncols][nblocks] row-major). Plain code.
inline void xor_selected_columns(Block* q, const Block* u, const std::uint8_t* s, std::size_t ncols,
                                 std::size_t nblocks) noexcept {
  for (std::size_t i = 0; i < ncols; ++i) {
    if (!s[i]) continue;
    for (std::size_t k = 0; k < nblocks; ++k) q[i * nblocks + k] ^= u[i * nblocks + k];
  }
}

/// Indices of the LPN matrix (ferret.cpp): block b < nblocks is AES_key({lo0 + b, hi}); each of its
/// four little-endian 32-bit words w gives ⌊w·k / 2^32⌋, so idx receives 4·nblocks values < k.
/// lpn_indices picks the VAES kernel when vaes_available(), else the AES-NI one; the two write
/// identical output (tested), so parties on different CPUs agree on the matrix.
void lpn_indices(const AesKey& key, std::uint64_t lo0, std::uint64_t hi, std::size_t nblocks, std::uint32_t k,
                 std::uint32_t* idx) noexcept;
void lpn_indices_aesni(const AesKey& key, std::uint64_t lo0, std::uint64_t hi, std::size_t nblocks,
                       std::uint32_t k, std::uint32_t* idx) noexcept;
/// The VAES kernel of lpn_indices (kernels_vaes.cpp); only when vaes_available().
void lpn_indices_vaes(const AesKey& key, std::uint64_t lo0, std::uint64_t hi, std::size_t nblocks,
                      std::uint32_t k, std::uint32_t* idx) noexcept;

/// 128×128 bit-matrix transpose. Row r of the input is in[r * in_stride] (bit j of a Block is bit
/// j of its little-endian 128-bit value: lo bit 0 .. hi bit 63); out[j] bit r = in row r bit j.
/// SSE2 byte-unpack + movemask method. in and out must not overlap.
void transpose128(const Block* in, std::size_t in_stride, Block* out) noexcept;

/// Packs n choice bytes into bits (bit i of the little-endian bit string = (choices[i] != 0)),
/// writing ceil(n / 128) Blocks; bits past n are zero.
void pack_bits(const std::uint8_t* choices, std::size_t n, Block* out) noexcept;

}  // namespace peregrine::ot::detail
