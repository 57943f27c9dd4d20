// Versioned, size-bounded, validated binary forms of HE objects.
//
// Layout: "PGHE" | u16 format version (1) | u8 object type | u64 params_id | payload.
// Coefficients are bit-packed at the bit length of their modulus, LSB first. Every size is implied
// by the parameters (never taken from the buffer before it is checked against the remaining
// bytes), every coefficient is range-checked, trailing bytes are rejected.
// Errors: Error(kMalformedInput) for bad magic/version/type/lengths/values, Error(kParamsMismatch)
// for a foreign params_id, Error(kSizeLimit) when the buffer exceeds `max_bytes`.
// Thread-safe (pure functions).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "peregrine/he/types.hpp"

namespace peregrine::he {

inline constexpr std::uint16_t kSerialFormatVersion = 1;
/// Default bound on an accepted buffer: 256 MiB.
inline constexpr std::size_t kDefaultMaxBytes = std::size_t{256} << 20;
/// Most Galois keys accepted in one object.
inline constexpr std::uint32_t kMaxGaloisKeys = 4096;

enum class ObjectType : std::uint8_t {
  kPlaintext = 1,
  kCiphertext = 2,
  kPublicKey = 3,
  kSecretKey = 4,
  kGaloisKeys = 5,
  kTrimmedCiphertext = 6,
};

std::vector<std::uint8_t> serialize(const HeParams& params, const Plaintext& pt);
/// Sends the 32-byte seed instead of c1 when ct.c1_seed is set (a fresh symmetric encryption).
std::vector<std::uint8_t> serialize(const HeParams& params, const Ciphertext& ct);
std::vector<std::uint8_t> serialize(const HeParams& params, const PublicKey& pk);
/// The secret key as 2-bit ternary digits. Local storage only; never send it.
std::vector<std::uint8_t> serialize(const HeParams& params, const SecretKey& sk);
std::vector<std::uint8_t> serialize(const HeParams& params, const GaloisKeys& gk);
std::vector<std::uint8_t> serialize(const HeParams& params, const TrimmedCiphertext& ct);

/// Bytes serialize(params, ct) produces for a ciphertext at `level` (seeded or not), and for a
/// trimmed response with `kept` c0 coefficients. Used by cost models.
std::size_t ciphertext_bytes(const HeParams& params, std::size_t level, bool seeded);
std::size_t trimmed_bytes(const HeParams& params, int d0, int d1, std::size_t kept);
/// Bytes serialize(params, gk) produces for `count` Galois keys (requires a special prime).
std::size_t galois_keys_bytes(const HeParams& params, std::size_t count);

Plaintext deserialize_plaintext(const HeParams& params, std::span<const std::uint8_t> in,
                                std::size_t max_bytes = kDefaultMaxBytes);
Ciphertext deserialize_ciphertext(const HeParams& params, std::span<const std::uint8_t> in,
                                  std::size_t max_bytes = kDefaultMaxBytes);
PublicKey deserialize_public_key(const HeParams& params, std::span<const std::uint8_t> in,
                                 std::size_t max_bytes = kDefaultMaxBytes);
SecretKey deserialize_secret_key(const HeParams& params, std::span<const std::uint8_t> in,
                                 std::size_t max_bytes = kDefaultMaxBytes);
GaloisKeys deserialize_galois_keys(const HeParams& params, std::span<const std::uint8_t> in,
                                   std::size_t max_bytes = kDefaultMaxBytes);
/// `expected_kept` is |V|, known to the receiver from the public layout.
TrimmedCiphertext deserialize_trimmed(const HeParams& params, std::span<const std::uint8_t> in,
                                      std::size_t expected_kept,
                                      std::size_t max_bytes = kDefaultMaxBytes);

}  // namespace peregrine::he
