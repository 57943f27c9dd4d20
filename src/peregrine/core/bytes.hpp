// Little-endian byte and bit packing with bounds-checked reading (for every wire/file format).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "peregrine/core/error.hpp"

namespace peregrine {

/// Appends little-endian integers, raw bytes and bit-packed words to a byte vector.
/// Not thread-safe.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<std::uint8_t>& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { le(v, 2); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void bytes(const void* p, std::size_t n) {
    auto* b = static_cast<const std::uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  /// Packs each of `vals` into `bits` bits (1..64), LSB first, padded to a whole byte at the end.
  /// Values must already be < 2^bits (caller's invariant).
  void packed(std::span<const std::uint64_t> vals, int bits);

 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t>& out_;
};

/// Reads what ByteWriter wrote. Every read is bounds-checked and throws Error(kMalformedInput) on
/// a short buffer; nothing is allocated from a size read out of the buffer. Not thread-safe.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(le(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
  std::uint64_t u64() { return le(8); }
  void bytes(void* p, std::size_t n) {
    need(n);
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  /// Unpacks out.size() values of `bits` bits each (inverse of ByteWriter::packed).
  void packed(std::span<std::uint64_t> out, int bits);
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  /// Throws unless every byte was consumed (trailing garbage is malformed input).
  void expect_end() const {
    if (pos_ != in_.size()) throw Error(ErrorCode::kMalformedInput, "trailing bytes after object");
  }

  /// Bytes needed for `count` values of `bits` bits in packed form.
  static std::size_t packed_size(std::size_t count, int bits) {
    return (count * static_cast<std::size_t>(bits) + 7) / 8;
  }

 private:
  void need(std::size_t n) const {
    if (n > in_.size() - pos_) throw Error(ErrorCode::kMalformedInput, "buffer truncated");
  }
  std::uint64_t le(int n) {
    need(static_cast<std::size_t>(n));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(in_[pos_ + i]) << (8 * i);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

inline void ByteWriter::packed(std::span<const std::uint64_t> vals, int bits) {
  if (bits < 1 || bits > 64) throw Error(ErrorCode::kInvalidArgument, "packed: bits out of 1..64");
  out_.reserve(out_.size() + ByteReader::packed_size(vals.size(), bits));
  unsigned __int128 acc = 0;
  int n = 0;
  for (std::uint64_t v : vals) {
    acc |= static_cast<unsigned __int128>(v) << n;
    n += bits;
    while (n >= 8) {
      out_.push_back(static_cast<std::uint8_t>(acc));
      acc >>= 8;
      n -= 8;
    }
  }
  if (n > 0) out_.push_back(static_cast<std::uint8_t>(acc));
}

inline void ByteReader::packed(std::span<std::uint64_t> out, int bits) {
  if (bits < 1 || bits > 64) throw Error(ErrorCode::kInvalidArgument, "packed: bits out of 1..64");
  const std::size_t n = packed_size(out.size(), bits);
  need(n);
  const std::uint8_t* in = in_.data() + pos_;
  const std::uint64_t mask = bits == 64 ? ~0ULL : ((1ULL << bits) - 1);
  unsigned __int128 acc = 0;
  int have = 0;
  std::size_t byte = 0;
  for (auto& v : out) {
    while (have < bits) {
      acc |= static_cast<unsigned __int128>(in[byte++]) << have;
      have += 8;
    }
    v = static_cast<std::uint64_t>(acc) & mask;
    acc >>= bits;
    have -= bits;
  }
  // Padding bits of the last byte must be zero: a canonical encoding has exactly one form.
  if (acc != 0) throw Error(ErrorCode::kMalformedInput, "non-zero padding bits");
  pos_ += n;
}

}  // namespace peregrine
