#include "peregrine/he/params.hpp"

#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include <openssl/sha.h>

#include <cstring>

#include "peregrine/core/bytes.hpp"
#include "peregrine/math/primes.hpp"

namespace peregrine::he {

int max_log_q_128(std::size_t n) noexcept {
  switch (n) {
    case 2048: return 54;
    case 4096: return 109;
    case 8192: return 218;
    case 16384: return 438;
    case 32768: return 881;
    default: return 0;
  }
}

void HeParams::check_id(u64 id, const char* what) const {
  if (id != params_id_)
    throw Error(ErrorCode::kParamsMismatch,
                std::string(what) + " was made under different HE parameters");
}

std::shared_ptr<const HeParams> HeParams::create(const ParamsSpec& s) {
  using math::is_prime;
  const std::size_t n = s.n;
  const bool insecure = s.security == Security::kInsecureForTestsOnly;
  require(s.security == Security::kHeStandard128 || insecure, ErrorCode::kInvalidArgument,
          "unknown security setting");
  require(s.secret == SecretDistribution::kTernary, ErrorCode::kInvalidArgument,
          "unknown secret distribution");
  require(s.error == ErrorDistribution::kCenteredBinomial21, ErrorCode::kInvalidArgument,
          "unknown error distribution");
  require(n >= 8 && n <= 32768 && (n & (n - 1)) == 0, ErrorCode::kInvalidArgument,
          "N must be a power of two in [8, 32768]");
  if (!insecure && n < 2048)
    throw Error(ErrorCode::kInsecureParameters, "N < 2048 has no 128-bit parameter set");
  require(!s.coeff_primes.empty() && s.coeff_primes.size() <= 64, ErrorCode::kInvalidArgument,
          "need 1..64 coefficient primes");
  std::vector<u64> all = s.coeff_primes;
  if (s.special_prime) all.push_back(s.special_prime);
  int total = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const u64 p = all[i];
    require(p < (1ULL << math::kMaxPrimeBits) && is_prime(p), ErrorCode::kInvalidArgument,
            "every modulus must be a prime below 2^61");
    require(p % (2 * n) == 1, ErrorCode::kInvalidArgument, "every prime must be ≡ 1 (mod 2N)");
    for (std::size_t j = 0; j < i; ++j)
      require(all[j] != p, ErrorCode::kInvalidArgument, "primes must be distinct");
    total += 64 - __builtin_clzll(p);
  }
  if (!insecure && total > max_log_q_128(n))
    throw Error(ErrorCode::kInsecureParameters,
                "log2(q) = " + std::to_string(total) + " exceeds the 128-bit bound " +
                    std::to_string(max_log_q_128(n)) + " for N = " + std::to_string(n));
  const u64 t = s.plain_modulus;
  require(t >= 2, ErrorCode::kInvalidArgument, "plaintext modulus must be ≥ 2");
  const bool pow2 = (t & (t - 1)) == 0;
  require(pow2 || (t < (1ULL << math::kMaxPrimeBits) && is_prime(t) && t % (2 * n) == 1),
          ErrorCode::kInvalidArgument, "t must be a power of two or a prime ≡ 1 (mod 2N)");
  require(t < s.coeff_primes[0], ErrorCode::kInvalidArgument,
          "t must be below the first (last-kept) coefficient prime");

  auto hp = std::shared_ptr<HeParams>(new HeParams());
  hp->spec_ = s;
  hp->t_bits_ = 64 - __builtin_clzll(t - 1);
  hp->total_bits_ = total;
  // Bases share NTT tables: key base first, the level bases are its prefixes.
  math::RnsBase full(n, all);
  std::vector<std::shared_ptr<const math::NttTables>> tabs;
  for (std::size_t i = 0; i < all.size(); ++i) tabs.push_back(full.ntt_shared(i));
  hp->key_base_ = std::make_unique<math::RnsBase>(tabs);
  for (std::size_t l = 1; l <= s.coeff_primes.size(); ++l) {
    hp->level_bases_.push_back(std::make_unique<math::RnsBase>(
        std::vector<std::shared_ptr<const math::NttTables>>(tabs.begin(), tabs.begin() + static_cast<std::ptrdiff_t>(l))));
    math::BigUInt delta = hp->level_bases_.back()->q();
    const u64 r = delta.divmod_u64(t);
    hp->q_mod_t_.push_back(r);
    std::vector<u64> dm;
    for (std::size_t i = 0; i < l; ++i) dm.push_back(delta.mod_u64(s.coeff_primes[i]));
    hp->delta_mod_.push_back(std::move(dm));
  }
  if (!pow2) hp->plain_ntt_ = std::make_unique<math::NttTables>(n, math::Modulus(t));

  // params_id: first 8 bytes of SHA-256 over a canonical encoding of the spec.
  std::vector<std::uint8_t> enc;
  ByteWriter w(enc);
  const char tag[] = "peregrine.bfv.params.v1";
  w.bytes(tag, sizeof tag);
  w.u64(n);
  w.u32(static_cast<std::uint32_t>(s.coeff_primes.size()));
  for (u64 p : s.coeff_primes) w.u64(p);
  w.u64(s.special_prime);
  w.u64(t);
  w.u8(static_cast<std::uint8_t>(s.secret));
  w.u8(static_cast<std::uint8_t>(s.error));
  w.u8(static_cast<std::uint8_t>(s.security));
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(enc.data(), enc.size(), digest);
  std::memcpy(&hp->params_id_, digest, sizeof hp->params_id_);
  return hp;
}

std::shared_ptr<const HeParams> HeParams::cheetah(int ell, int low_prime_bits) {
  require(ell >= 13 && ell <= 44, ErrorCode::kInvalidArgument, "cheetah(ℓ) needs 13 ≤ ℓ ≤ 44");
  require(low_prime_bits >= ell + 2 && low_prime_bits <= 49, ErrorCode::kInvalidArgument,
          "cheetah(ℓ, bits) needs ℓ + 2 ≤ bits ≤ 49 for its second prime");
  // Made once per (ℓ, bits) (prime search, NTT tables) and shared: planners ask for many layers.
  static std::mutex mu;
  static std::map<std::pair<int, int>, std::shared_ptr<const HeParams>> made;
  const std::lock_guard<std::mutex> lock(mu);
  auto& p = made[{ell, low_prime_bits}];
  if (!p) {
    const u64 congruence = 1ULL << ell;  // ≥ 2N = 8192, so the primes are NTT-friendly too
    ParamsSpec s;
    s.n = 4096;
    s.coeff_primes = {math::generate_primes(60, 1, congruence)[0],
                      math::generate_primes(low_prime_bits, 1, congruence)[0]};
    s.plain_modulus = 1ULL << ell;
    p = create(s);
  }
  return p;
}

namespace {
/// The `count` largest primes below 2^bits that are ≡ 1 (mod m), for any m (not only powers of two).
std::vector<u64> primes_congruent_one(int bits, std::size_t count, u64 m) {
  std::vector<u64> out;
  u64 p = (((u64{1} << bits) - 2) / m) * m + 1;
  while (out.size() < count && p > (u64{1} << (bits - 1))) {
    if (math::is_prime(p)) out.push_back(p);
    p -= m;
  }
  require(out.size() == count, ErrorCode::kInvalidArgument, "not enough primes for the batch parameters");
  return out;
}
}  // namespace

std::shared_ptr<const HeParams> HeParams::batch(int t_bits, std::size_t n, std::size_t data_primes) {
  require(t_bits >= 17 && t_bits <= 36, ErrorCode::kInvalidArgument, "batch(t_bits) needs 17 ≤ t_bits ≤ 36");
  require(n == 8192 || n == 16384, ErrorCode::kInvalidArgument, "batch parameters: N must be 8192 or 16384");
  require(data_primes >= 1 && 60 * static_cast<int>(data_primes + 1) <= max_log_q_128(n), ErrorCode::kInvalidArgument,
          "batch parameters: that many 60-bit primes exceed the 128-bit table");
  static std::mutex mu;
  static std::map<std::tuple<int, std::size_t, std::size_t>, std::shared_ptr<const HeParams>> made;
  const std::lock_guard<std::mutex> lock(mu);
  auto& p = made[{t_bits, n, data_primes}];
  if (!p) {
    ParamsSpec s;
    s.n = n;
    s.plain_modulus = primes_congruent_one(t_bits, 1, 2 * n)[0];
    s.coeff_primes = primes_congruent_one(60, data_primes, 2 * n * s.plain_modulus);
    s.special_prime = math::generate_primes(60, 1, 2 * n, s.coeff_primes)[0];
    p = create(s);
  }
  return p;
}

}  // namespace peregrine::he
