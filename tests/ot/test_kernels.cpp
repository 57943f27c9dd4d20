// Local kernels: AES known answer, fixed-key CCR/TCCR hashes, 128×128 transpose vs naive, bit
// packing.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ot_test_util.hpp"
#include "peregrine/core/error.hpp"
#include "peregrine/ot/crhash.hpp"
#include "peregrine/ot/kernels.hpp"

using namespace peregrine;
using namespace peregrine::ot;

namespace {

Block from_bytes(const std::uint8_t* b) {
  Block x;
  std::memcpy(&x.lo, b, 8);
  std::memcpy(&x.hi, b + 8, 8);
  return x;
}

bool get_bit(const Block& b, int j) { return ((j < 64 ? b.lo >> j : b.hi >> (j - 64)) & 1) != 0; }

void naive_transpose(const Block* in, std::size_t stride, Block* out) {
  for (int j = 0; j < 128; ++j) {
    out[j] = Block{};
    for (int r = 0; r < 128; ++r)
      if (get_bit(in[r * stride], j)) {
        if (r < 64) out[j].lo |= std::uint64_t{1} << r;
        else out[j].hi |= std::uint64_t{1} << (r - 64);
      }
  }
}

std::vector<Block> random_blocks(Prg& prg, std::size_t n) {
  std::vector<Block> v(n);
  prg.fill(v.data(), n * sizeof(Block));
  return v;
}

}  // namespace

TEST(OtKernels, AesFips197KnownAnswer) {
  // FIPS-197 Appendix C.1: key 000102..0f, plaintext 00112233..ff -> 69c4e0d86a7b0430d8cdb78070b4c55a.
  std::uint8_t key[16], pt[16];
  for (int i = 0; i < 16; ++i) {
    key[i] = static_cast<std::uint8_t>(i);
    pt[i] = static_cast<std::uint8_t>(i * 0x11);
  }
  const std::uint8_t expect[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                                   0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
  detail::AesKey k;
  detail::aes_expand_key(from_bytes(key), k);
  std::vector<Block> in(11, from_bytes(pt)), out(11);  // 8-way path and scalar tail
  detail::aes_ecb(k, in.data(), out.data(), in.size());
  for (const auto& o : out) EXPECT_EQ(o, from_bytes(expect));
}

TEST(OtKernels, PrgColumnsIsAesCtr) {
  Prg prg = Prg::from_seed(test_util::test_seed(10));
  auto seeds = random_blocks(prg, 3);
  std::vector<detail::AesKey> keys(3);
  for (int i = 0; i < 3; ++i) detail::aes_expand_key(seeds[i], keys[i]);
  for (std::size_t nb : {1u, 7u, 8u, 13u}) {
    std::vector<Block> out(3 * nb);
    detail::prg_columns(keys.data(), 3, 1000, nb, out.data());
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t k = 0; k < nb; ++k) {
        Block ctr{1000 + k, 0}, e;
        detail::aes_ecb(keys[c], &ctr, &e, 1);
        ASSERT_EQ(out[c * nb + k], e);
      }
  }
}

TEST(OtKernels, CcrAndTccrMatchDefinition) {
  Prg prg = Prg::from_seed(test_util::test_seed(11));
  for (std::size_t n : {1u, 8u, 16u, 21u, 37u}) {  // 16 and more: the VAES path and its tail
    auto x = random_blocks(prg, n);
    std::vector<Block> ccr(n), tccr(n), tccr2(n), tw(n);
    ccr_hash(x, ccr);
    const Block t0{0xfffffffffffffff0ULL, 77};
    tccr_hash(x, t0, tccr);
    for (std::size_t i = 0; i < n; ++i) tw[i] = Block{t0.lo + i, t0.hi};
    tccr_hash(x, tw, tccr2);
    EXPECT_EQ(tccr, tccr2);
    for (std::size_t i = 0; i < n; ++i) {
      // σ(x) = (x.hi, x.hi ^ x.lo), CCR = π(σ) ^ σ.
      const Block s{x[i].hi, x[i].hi ^ x[i].lo};
      Block ps;
      fixed_key_aes(std::span<const Block>(&s, 1), std::span<Block>(&ps, 1));
      EXPECT_EQ(ccr[i], ps ^ s);
      // TCCR = π(π(x) ^ t) ^ π(x).
      Block px, ppx;
      fixed_key_aes(std::span<const Block>(&x[i], 1), std::span<Block>(&px, 1));
      const Block in2 = px ^ tw[i];
      fixed_key_aes(std::span<const Block>(&in2, 1), std::span<Block>(&ppx, 1));
      EXPECT_EQ(tccr[i], ppx ^ px);
    }
  }
  // Different tweaks give different outputs; in-place hashing works.
  auto x = random_blocks(prg, 2);
  x[1] = x[0];
  std::vector<Block> h(2);
  tccr_hash(x, Block{5, 0}, h);
  EXPECT_NE(h[0], h[1]);
  std::vector<Block> y = x;
  ccr_hash(y, y);
  std::vector<Block> z(2);
  ccr_hash(x, z);
  EXPECT_EQ(y, z);
  EXPECT_THROW(ccr_hash(x, std::span<Block>(z.data(), 1)), Error);
}

TEST(OtKernels, TransposeMatchesNaive) {
  Prg prg = Prg::from_seed(test_util::test_seed(12));
  for (std::size_t stride : {1u, 3u, 8u}) {
    for (int rep = 0; rep < 20; ++rep) {
      auto in = random_blocks(prg, 128 * stride);
      std::vector<Block> fast(128), slow(128);
      detail::transpose128(in.data(), stride, fast.data());
      naive_transpose(in.data(), stride, slow.data());
      ASSERT_EQ(fast, slow) << "stride " << stride;
    }
  }
  // Structured matrices: identity and a single bit.
  std::vector<Block> id(128), out(128);
  for (int r = 0; r < 128; ++r) id[r] = r < 64 ? Block{std::uint64_t{1} << r, 0} : Block{0, std::uint64_t{1} << (r - 64)};
  detail::transpose128(id.data(), 1, out.data());
  EXPECT_EQ(out, id);
  std::vector<Block> one(128);
  one[5].hi = std::uint64_t{1} << 60;  // row 5, column 124
  detail::transpose128(one.data(), 1, out.data());
  for (int j = 0; j < 128; ++j) EXPECT_EQ(out[j], (j == 124 ? Block{1u << 5, 0} : Block{}));
}

TEST(OtKernels, PackBits) {
  Prg prg = Prg::from_seed(test_util::test_seed(13));
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 128u, 300u}) {
    std::vector<std::uint8_t> c(n);
    prg.fill(c.data(), n);
    for (auto& v : c) v = (v & 3) == 0 ? 0 : v;  // arbitrary nonzero values count as 1
    std::vector<Block> out((n + 127) / 128 + 1, Block{~0ULL, ~0ULL});
    detail::pack_bits(c.data(), n, out.data());
    for (std::size_t i = 0; i < ((n + 127) / 128) * 128; ++i)
      ASSERT_EQ(get_bit(out[i / 128], static_cast<int>(i % 128)), i < n && c[i] != 0) << n << " " << i;
  }
}

// The LPN matrix indices: both kernels equal the definition (AES-128 of {lo0 + b, hi}, each 32-bit
// word w mapped to ⌊w·k / 2^32⌋), for every tail length and across a 2^64 counter wrap.
TEST(OtKernels, LpnIndicesMatchDefinitionOnEveryKernel) {
  detail::AesKey key;
  detail::aes_expand_key(Block{0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL}, key);
  const std::uint32_t k = 238000;
  for (const std::uint64_t lo0 : {std::uint64_t{0}, std::uint64_t{12345}, ~std::uint64_t{0} - 20}) {
    for (const std::size_t nb : {std::size_t{1}, std::size_t{3}, std::size_t{8}, std::size_t{15},
                                 std::size_t{16}, std::size_t{17}, std::size_t{2560}, std::size_t{2563}}) {
      std::vector<Block> ctr(nb);
      for (std::size_t b = 0; b < nb; ++b) ctr[b] = Block{lo0 + b, 77};
      detail::aes_ecb(key, ctr.data(), ctr.data(), nb);
      std::vector<std::uint32_t> want(4 * nb), got(4 * nb, 0xFFFFFFFFu);
      std::memcpy(want.data(), ctr.data(), 16 * nb);
      for (auto& w : want) w = static_cast<std::uint32_t>((static_cast<std::uint64_t>(w) * k) >> 32);
      detail::lpn_indices_aesni(key, lo0, 77, nb, k, got.data());
      ASSERT_EQ(got, want) << "aesni " << lo0 << " " << nb;
      std::fill(got.begin(), got.end(), 0xFFFFFFFFu);
      detail::lpn_indices(key, lo0, 77, nb, k, got.data());
      ASSERT_EQ(got, want) << "dispatch " << lo0 << " " << nb;
      if (detail::vaes_available()) {
        std::fill(got.begin(), got.end(), 0xFFFFFFFFu);
        detail::lpn_indices_vaes(key, lo0, 77, nb, k, got.data());
        ASSERT_EQ(got, want) << "vaes " << lo0 << " " << nb;
      }
    }
  }
}

// The dispatched hashes (VAES where the CPU has it) equal the AES-NI kernels on every length,
// in place too, so parties on different CPUs derive the same pads.
TEST(OtKernels, HashKernelsAgreeAcrossPaths) {
  Prg prg = Prg::from_seed(test_util::test_seed(12));
  for (const std::size_t n : {std::size_t{0}, std::size_t{15}, std::size_t{16}, std::size_t{17},
                              std::size_t{64}, std::size_t{1000}}) {
    auto x = random_blocks(prg, n);
    auto tw = random_blocks(prg, n);
    const Block t0{~std::uint64_t{0} - 7, 99};
    std::vector<Block> a(n), b(n), c(n), d(n), e(n), f(n);
    detail::ccr_hash_aesni(x.data(), a.data(), n);
    detail::ccr_hash_kernel(x.data(), b.data(), n);
    EXPECT_EQ(a, b) << n;
    detail::tccr_hash_aesni(x.data(), t0, c.data(), n);
    detail::tccr_hash_kernel(x.data(), t0, d.data(), n);
    EXPECT_EQ(c, d) << n;
    detail::tccr_hash_tweaks_aesni(x.data(), tw.data(), e.data(), n);
    std::vector<Block> inplace = x;
    detail::tccr_hash_tweaks_kernel(inplace.data(), tw.data(), inplace.data(), n);
    EXPECT_EQ(e, inplace) << n;
    if (detail::vaes_available()) {
      detail::ccr_hash_vaes(x.data(), f.data(), n);
      EXPECT_EQ(a, f) << n;
      detail::tccr_hash_vaes(x.data(), t0, f.data(), n);
      EXPECT_EQ(c, f) << n;
      detail::tccr_hash_tweaks_vaes(x.data(), tw.data(), f.data(), n);
      EXPECT_EQ(e, f) << n;
    }
  }
}
