// The one pseudo-random generator of Peregrine (DESIGN.md §7 "Randomness").
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace peregrine {

/// A 32-byte PRG seed. Bytes 0..15 are the AES-128 key, bytes 16..31 the initial counter block.
using Seed = std::array<std::uint8_t, 32>;

/// AES-128 in counter mode (OpenSSL EVP, which uses AES-NI when present).
///
/// Security: 128-bit computational, as a PRF-based stream; a seed must never be reused for two
/// different secrets. Secrets (keys, noise, masks) must come from a Prg made by `from_os()`;
/// `from_seed()` exists to expand *public* seeds (the uniform half of a seeded ciphertext or key)
/// identically on both sides, and to make tests deterministic.
///
/// Thread-safety: an instance is not thread-safe; give each thread its own (split with
/// `next_seed()` + `from_seed()`). Move-only.
/// Errors: throws Error(kCrypto) if the OS entropy source or OpenSSL fails.
class Prg {
 public:
  /// A generator seeded with 32 fresh bytes from the OS (libsodium randombytes_buf).
  static Prg from_os();
  /// A deterministic generator: the same seed always yields the same stream.
  static Prg from_seed(const Seed& seed);

  Prg(Prg&&) noexcept;
  Prg& operator=(Prg&&) noexcept;
  ~Prg();

  /// The seed this stream was started from (public seeds only: never send a secret's seed).
  const Seed& seed() const noexcept { return seed_; }

  /// Writes `n` pseudo-random bytes to `out`.
  void fill(void* out, std::size_t n);
  /// Next 64 pseudo-random bits.
  std::uint64_t next_u64();
  /// Uniform in [0, bound) by rejection sampling (exact, no modulo bias). bound ≥ 1.
  std::uint64_t uniform_below(std::uint64_t bound);
  /// A fresh seed drawn from this stream (to fork an independent generator).
  Seed next_seed();

 private:
  explicit Prg(const Seed& seed);
  void refill();

  struct CipherCtx;
  std::unique_ptr<CipherCtx> ctx_;
  Seed seed_{};
  static constexpr std::size_t kBufBytes = 4096;
  alignas(64) std::uint8_t buf_[kBufBytes];
  std::size_t pos_ = kBufBytes;
};

}  // namespace peregrine
