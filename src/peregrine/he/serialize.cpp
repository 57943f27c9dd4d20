#include "peregrine/he/serialize.hpp"

#include "peregrine/core/bytes.hpp"
#include "peregrine/he/keys.hpp"
#include "peregrine/he/sampling.hpp"

namespace peregrine::he {

using math::RnsPoly;

namespace {

constexpr std::uint8_t kMagic[4] = {'P', 'G', 'H', 'E'};
constexpr std::size_t kHeaderBytes = 4 + 2 + 1 + 8;

void write_header(ByteWriter& w, ObjectType type, u64 params_id) {
  w.bytes(kMagic, 4);
  w.u16(kSerialFormatVersion);
  w.u8(static_cast<std::uint8_t>(type));
  w.u64(params_id);
}

ByteReader read_header(const HeParams& params, std::span<const std::uint8_t> in, ObjectType type,
                       std::size_t max_bytes) {
  if (in.size() > max_bytes) throw Error(ErrorCode::kSizeLimit, "serialized object exceeds the bound");
  ByteReader r(in);
  std::uint8_t magic[4];
  r.bytes(magic, 4);
  if (!std::equal(magic, magic + 4, kMagic)) throw Error(ErrorCode::kMalformedInput, "bad magic");
  if (r.u16() != kSerialFormatVersion)
    throw Error(ErrorCode::kMalformedInput, "unsupported format version");
  if (r.u8() != static_cast<std::uint8_t>(type))
    throw Error(ErrorCode::kMalformedInput, "unexpected object type");
  params.check_id(r.u64(), "serialized object");
  return r;
}

std::size_t poly_bytes(const math::RnsBase& base, std::size_t k) {
  std::size_t b = 0;
  for (std::size_t i = 0; i < k; ++i) b += ByteReader::packed_size(base.n(), base.mod(i).bits);
  return b;
}

// Component i of p packed at bits(q_j) where j = prime_index(i).
template <class F>
void write_poly(ByteWriter& w, const RnsPoly& p, const math::RnsBase& base, F prime_index) {
  for (std::size_t i = 0; i < p.k; ++i)
    w.packed(std::span<const u64>(p.comp(i), p.n), base.mod(prime_index(i)).bits);
}

template <class F>
RnsPoly read_poly(ByteReader& r, const math::RnsBase& base, std::size_t k, bool ntt, F prime_index) {
  RnsPoly p(base.n(), k, ntt);
  for (std::size_t i = 0; i < k; ++i) {
    const math::Modulus& m = base.mod(prime_index(i));
    r.packed(std::span<u64>(p.comp(i), p.n), m.bits);
    for (std::size_t j = 0; j < p.n; ++j)
      if (p.comp(i)[j] >= m.value) throw Error(ErrorCode::kMalformedInput, "coefficient ≥ modulus");
  }
  return p;
}

auto identity = [](std::size_t i) { return i; };

int hi_bits(u64 q, int d) {
  // Evaluator::trim sends values < ⌈q/2^d⌉.
  const u64 ceil_q = (q >> d) + ((q & ((1ULL << d) - 1)) ? 1 : 0);
  const u64 max_hi = ceil_q - 1;
  return max_hi == 0 ? 1 : 64 - __builtin_clzll(max_hi);
}

}  // namespace

// ---- plaintext ----
std::vector<std::uint8_t> serialize(const HeParams& params, const Plaintext& pt) {
  params.check_id(pt.params_id, "plaintext");
  std::vector<std::uint8_t> out;
  ByteWriter w(out);
  write_header(w, ObjectType::kPlaintext, params.params_id());
  w.packed(std::span<const u64>(pt.coeffs.data(), pt.coeffs.size()), params.t_bits());
  return out;
}

Plaintext deserialize_plaintext(const HeParams& params, std::span<const std::uint8_t> in,
                                std::size_t max_bytes) {
  ByteReader r = read_header(params, in, ObjectType::kPlaintext, max_bytes);
  if (r.remaining() != ByteReader::packed_size(params.n(), params.t_bits()))
    throw Error(ErrorCode::kMalformedInput, "plaintext length mismatch");
  Plaintext pt;
  pt.params_id = params.params_id();
  pt.coeffs.assign(params.n(), 0);
  r.packed(std::span<u64>(pt.coeffs.data(), pt.coeffs.size()), params.t_bits());
  for (u64 v : pt.coeffs)
    if (v >= params.t()) throw Error(ErrorCode::kMalformedInput, "plaintext coefficient ≥ t");
  r.expect_end();
  return pt;
}

// ---- ciphertext ----
std::size_t ciphertext_bytes(const HeParams& params, std::size_t level, bool seeded) {
  const auto& base = params.base(level);
  return kHeaderBytes + 2 + poly_bytes(base, level) + (seeded ? 32 : poly_bytes(base, level));
}

std::vector<std::uint8_t> serialize(const HeParams& params, const Ciphertext& ct) {
  params.check_id(ct.params_id, "ciphertext");
  const bool seeded = ct.c1_seed.has_value() && ct.ntt_form();
  std::vector<std::uint8_t> out;
  out.reserve(ciphertext_bytes(params, ct.level(), seeded));
  ByteWriter w(out);
  write_header(w, ObjectType::kCiphertext, params.params_id());
  w.u8(static_cast<std::uint8_t>(ct.level()));
  w.u8(static_cast<std::uint8_t>((ct.ntt_form() ? 1 : 0) | (seeded ? 2 : 0)));
  const auto& base = params.base(ct.level());
  write_poly(w, ct.c0, base, identity);
  if (seeded)
    w.bytes(ct.c1_seed->data(), 32);
  else
    write_poly(w, ct.c1, base, identity);
  return out;
}

Ciphertext deserialize_ciphertext(const HeParams& params, std::span<const std::uint8_t> in,
                                  std::size_t max_bytes) {
  ByteReader r = read_header(params, in, ObjectType::kCiphertext, max_bytes);
  const std::size_t level = r.u8();
  const std::uint8_t flags = r.u8();
  if (level < 1 || level > params.levels()) throw Error(ErrorCode::kMalformedInput, "bad level");
  if (flags & ~3u) throw Error(ErrorCode::kMalformedInput, "unknown flags");
  const bool ntt = flags & 1, seeded = flags & 2;
  if (seeded && !ntt) throw Error(ErrorCode::kMalformedInput, "seeded ciphertext must be NTT form");
  if (r.remaining() + kHeaderBytes + 2 != ciphertext_bytes(params, level, seeded))
    throw Error(ErrorCode::kMalformedInput, "ciphertext length mismatch");
  const auto& base = params.base(level);
  Ciphertext ct;
  ct.params_id = params.params_id();
  ct.c0 = read_poly(r, base, level, ntt, identity);
  if (seeded) {
    Seed s;
    r.bytes(s.data(), 32);
    Prg a_prg = Prg::from_seed(s);
    ct.c1 = detail::sample_uniform(a_prg, base, level);
    ct.c1_seed = s;
  } else {
    ct.c1 = read_poly(r, base, level, ntt, identity);
  }
  r.expect_end();
  return ct;
}

// ---- public key ----
std::vector<std::uint8_t> serialize(const HeParams& params, const PublicKey& pk) {
  params.check_id(pk.params_id, "public key");
  std::vector<std::uint8_t> out;
  ByteWriter w(out);
  write_header(w, ObjectType::kPublicKey, params.params_id());
  w.bytes(pk.seed.data(), 32);
  write_poly(w, pk.p0, params.base(), identity);
  return out;
}

PublicKey deserialize_public_key(const HeParams& params, std::span<const std::uint8_t> in,
                                 std::size_t max_bytes) {
  ByteReader r = read_header(params, in, ObjectType::kPublicKey, max_bytes);
  const auto& base = params.base();
  if (r.remaining() != 32 + poly_bytes(base, base.size()))
    throw Error(ErrorCode::kMalformedInput, "public key length mismatch");
  PublicKey pk;
  pk.params_id = params.params_id();
  r.bytes(pk.seed.data(), 32);
  pk.p0 = read_poly(r, base, base.size(), true, identity);
  Prg a_prg = Prg::from_seed(pk.seed);
  pk.p1 = detail::sample_uniform(a_prg, base, base.size());
  r.expect_end();
  return pk;
}

// ---- secret key ----
std::vector<std::uint8_t> serialize(const HeParams& params, const SecretKey& sk) {
  params.check_id(sk.params_id, "secret key");
  const auto& kb = params.key_base();
  RnsPoly s = sk.s;
  math::from_ntt(s, kb);
  const u64 q0 = kb.mod(0).value;
  std::vector<u64> digits(params.n());
  for (std::size_t j = 0; j < params.n(); ++j) {
    const u64 v = s.comp(0)[j];
    digits[j] = v == 0 ? 0 : v == 1 ? 1 : 2;  // 2 encodes −1 (q0 − 1)
    if (v > 1 && v != q0 - 1) throw Error(ErrorCode::kInvalidArgument, "secret key is not ternary");
  }
  std::vector<std::uint8_t> out;
  ByteWriter w(out);
  write_header(w, ObjectType::kSecretKey, params.params_id());
  w.packed(digits, 2);
  return out;
}

SecretKey deserialize_secret_key(const HeParams& params, std::span<const std::uint8_t> in,
                                 std::size_t max_bytes) {
  ByteReader r = read_header(params, in, ObjectType::kSecretKey, max_bytes);
  if (r.remaining() != ByteReader::packed_size(params.n(), 2))
    throw Error(ErrorCode::kMalformedInput, "secret key length mismatch");
  std::vector<u64> digits(params.n());
  r.packed(digits, 2);
  r.expect_end();
  std::vector<std::int8_t> v(params.n());
  for (std::size_t j = 0; j < params.n(); ++j) {
    if (digits[j] > 2) throw Error(ErrorCode::kMalformedInput, "secret key digit out of range");
    v[j] = digits[j] == 2 ? -1 : static_cast<std::int8_t>(digits[j]);
  }
  SecretKey sk;
  sk.params_id = params.params_id();
  sk.s = detail::lift_small(v, params.key_base(), params.key_base().size());
  math::to_ntt(sk.s, params.key_base());
  return sk;
}

// ---- Galois keys ----
namespace {
std::size_t galois_key_bytes(const HeParams& params) {
  const auto& kb = params.key_base();
  return 8 + 32 + params.levels() * poly_bytes(kb, kb.size());
}
}  // namespace

std::vector<std::uint8_t> serialize(const HeParams& params, const GaloisKeys& gk) {
  params.check_id(gk.params_id, "Galois keys");
  require(gk.keys.size() <= kMaxGaloisKeys, ErrorCode::kInvalidArgument, "too many Galois keys");
  std::vector<std::uint8_t> out;
  out.reserve(kHeaderBytes + 4 + gk.keys.size() * galois_key_bytes(params));
  ByteWriter w(out);
  write_header(w, ObjectType::kGaloisKeys, params.params_id());
  w.u32(static_cast<std::uint32_t>(gk.keys.size()));
  for (const auto& [g, ksk] : gk.keys) {
    w.u64(g);
    w.bytes(ksk.seed.data(), 32);
    for (const auto& b : ksk.b) write_poly(w, b, params.key_base(), identity);
  }
  return out;
}

GaloisKeys deserialize_galois_keys(const HeParams& params, std::span<const std::uint8_t> in,
                                   std::size_t max_bytes) {
  ByteReader r = read_header(params, in, ObjectType::kGaloisKeys, max_bytes);
  if (!params.has_special_prime())
    throw Error(ErrorCode::kMalformedInput, "Galois keys for parameters without a special prime");
  const std::uint32_t count = r.u32();
  if (count > kMaxGaloisKeys) throw Error(ErrorCode::kMalformedInput, "too many Galois keys");
  // Check the whole length before allocating anything.
  if (r.remaining() != static_cast<std::size_t>(count) * galois_key_bytes(params))
    throw Error(ErrorCode::kMalformedInput, "Galois key length mismatch");
  GaloisKeys gk;
  gk.params_id = params.params_id();
  const auto& kb = params.key_base();
  for (std::uint32_t c = 0; c < count; ++c) {
    const u64 g = r.u64();
    if (!(g & 1) || g >= 2 * params.n() || g == 1)
      throw Error(ErrorCode::kMalformedInput, "bad Galois element");
    if (gk.keys.count(g)) throw Error(ErrorCode::kMalformedInput, "duplicate Galois element");
    KeySwitchKey ksk;
    r.bytes(ksk.seed.data(), 32);
    for (std::size_t i = 0; i < params.levels(); ++i)
      ksk.b.push_back(read_poly(r, kb, kb.size(), true, identity));
    ksk.a = expand_switch_key_a(params, ksk.seed);
    gk.keys.emplace(g, std::move(ksk));
  }
  r.expect_end();
  return gk;
}

std::size_t galois_keys_bytes(const HeParams& params, std::size_t count) {
  return kHeaderBytes + 4 + count * galois_key_bytes(params);
}

// ---- trimmed response ----
std::size_t trimmed_bytes(const HeParams& params, int d0, int d1, std::size_t kept) {
  const u64 q = params.base(1).mod(0).value;
  return kHeaderBytes + 2 + 4 + ByteReader::packed_size(params.n(), hi_bits(q, d1)) +
         ByteReader::packed_size(kept, hi_bits(q, d0));
}

std::vector<std::uint8_t> serialize(const HeParams& params, const TrimmedCiphertext& ct) {
  params.check_id(ct.params_id, "trimmed ciphertext");
  const u64 q = params.base(1).mod(0).value;
  require(ct.c1_hi.size() == params.n() && ct.c0_hi.size() <= params.n() && ct.d0 >= 0 &&
              ct.d1 >= 0 && ct.d0 < params.base(1).mod(0).bits && ct.d1 < params.base(1).mod(0).bits,
          ErrorCode::kInvalidArgument, "malformed trimmed ciphertext");
  std::vector<std::uint8_t> out;
  out.reserve(trimmed_bytes(params, ct.d0, ct.d1, ct.c0_hi.size()));
  ByteWriter w(out);
  write_header(w, ObjectType::kTrimmedCiphertext, params.params_id());
  w.u8(static_cast<std::uint8_t>(ct.d0));
  w.u8(static_cast<std::uint8_t>(ct.d1));
  w.u32(static_cast<std::uint32_t>(ct.c0_hi.size()));
  w.packed(std::span<const u64>(ct.c1_hi.data(), ct.c1_hi.size()), hi_bits(q, ct.d1));
  w.packed(std::span<const u64>(ct.c0_hi.data(), ct.c0_hi.size()), hi_bits(q, ct.d0));
  return out;
}

TrimmedCiphertext deserialize_trimmed(const HeParams& params, std::span<const std::uint8_t> in,
                                      std::size_t expected_kept, std::size_t max_bytes) {
  ByteReader r = read_header(params, in, ObjectType::kTrimmedCiphertext, max_bytes);
  const u64 q = params.base(1).mod(0).value;
  const int qbits = params.base(1).mod(0).bits;
  TrimmedCiphertext ct;
  ct.params_id = params.params_id();
  ct.d0 = r.u8();
  ct.d1 = r.u8();
  if (ct.d0 >= qbits || ct.d1 >= qbits) throw Error(ErrorCode::kMalformedInput, "bad dropped-bit count");
  const std::uint32_t kept = r.u32();
  if (kept != expected_kept || kept > params.n())
    throw Error(ErrorCode::kMalformedInput, "kept-coefficient count mismatch");
  if (r.remaining() + kHeaderBytes + 6 != trimmed_bytes(params, ct.d0, ct.d1, kept))
    throw Error(ErrorCode::kMalformedInput, "trimmed ciphertext length mismatch");
  ct.c1_hi.assign(params.n(), 0);
  ct.c0_hi.assign(kept, 0);
  r.packed(std::span<u64>(ct.c1_hi.data(), ct.c1_hi.size()), hi_bits(q, ct.d1));
  r.packed(std::span<u64>(ct.c0_hi.data(), ct.c0_hi.size()), hi_bits(q, ct.d0));
  r.expect_end();
  auto check_range = [q](const AlignedU64& v, int d) {
    for (u64 x : v)
      if ((x << d) >= q || ((x << d) >> d) != x)
        throw Error(ErrorCode::kMalformedInput, "trimmed coefficient out of range");
  };
  check_range(ct.c1_hi, ct.d1);
  check_range(ct.c0_hi, ct.d0);
  return ct;
}

}  // namespace peregrine::he
