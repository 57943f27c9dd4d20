#include <gtest/gtest.h>

#include "peregrine/core/bytes.hpp"
#include "peregrine/core/prg.hpp"

using namespace peregrine;

TEST(Bytes, IntegersAndPackedRoundTrip) {
  Prg prg = Prg::from_seed(Seed{});
  for (int bits = 1; bits <= 64; ++bits) {
    std::vector<std::uint64_t> v(37);
    const std::uint64_t mask = bits == 64 ? ~0ULL : ((1ULL << bits) - 1);
    for (auto& x : v) x = prg.next_u64() & mask;
    v[0] = mask;
    v[1] = 0;
    std::vector<std::uint8_t> buf;
    ByteWriter w(buf);
    w.u16(0xBEEF);
    w.packed(v, bits);
    w.u64(0x0123456789ABCDEFULL);
    ASSERT_EQ(buf.size(), 2 + ByteReader::packed_size(v.size(), bits) + 8);
    ByteReader r(buf);
    EXPECT_EQ(r.u16(), 0xBEEF);
    std::vector<std::uint64_t> out(v.size());
    r.packed(out, bits);
    EXPECT_EQ(out, v) << bits;
    EXPECT_EQ(r.u64(), 0x0123456789ABCDEFULL);
    EXPECT_NO_THROW(r.expect_end());
  }
}

TEST(Bytes, TruncatedAndNonCanonicalInputThrows) {
  std::vector<std::uint8_t> buf = {1, 2, 3};
  ByteReader r(buf);
  EXPECT_THROW(r.u32(), Error);
  // 3 values × 3 bits = 9 bits: the top 7 bits of byte 2 are padding and must be zero.
  std::vector<std::uint8_t> p = {0xFF, 0x01};
  std::vector<std::uint64_t> out(3);
  ByteReader ok(p);
  EXPECT_NO_THROW(ok.packed(out, 3));
  p[1] = 0x05;
  ByteReader bad(p);
  EXPECT_THROW(bad.packed(out, 3), Error);
  ByteReader tr(std::span<const std::uint8_t>(p.data(), 1));
  EXPECT_THROW(tr.packed(out, 3), Error);
}
