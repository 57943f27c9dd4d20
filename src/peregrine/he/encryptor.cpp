#include "peregrine/he/encryptor.hpp"

#include "peregrine/he/sampling.hpp"

namespace peregrine::he {

using math::RnsPoly;
using math::u128;

void check_plaintext(const HeParams& params, const Plaintext& pt) {
  params.check_id(pt.params_id, "plaintext");
  require(pt.coeffs.size() == params.n(), ErrorCode::kInvalidArgument, "plaintext size is not N");
}

void check_ciphertext(const HeParams& params, const Ciphertext& ct) {
  params.check_id(ct.params_id, "ciphertext");
  const std::size_t L = ct.level();
  require(L >= 1 && L <= params.levels() && ct.c1.k == L && ct.c0.n == params.n() &&
              ct.c1.n == params.n() && ct.c0.ntt_form == ct.c1.ntt_form &&
              ct.c0.data.size() == L * params.n() && ct.c1.data.size() == L * params.n(),
          ErrorCode::kInvalidArgument, "malformed ciphertext");
}

RnsPoly scale_plaintext(const HeParams& params, const Plaintext& pt, std::size_t level) {
  check_plaintext(params, pt);
  const auto& base = params.base(level);
  const auto& delta = params.delta_mod(level);
  const u64 t = params.t(), r = params.q_mod_t(level), half_t = t / 2;
  RnsPoly out(params.n(), level, false);
  // fix_j = floor((r·m_j + floor(t/2)) / t) < r ≤ t.
  std::vector<u64> fix(params.n());
  for (std::size_t j = 0; j < params.n(); ++j) {
    require(pt.coeffs[j] < t, ErrorCode::kInvalidArgument, "plaintext coefficient ≥ t");
    fix[j] = static_cast<u64>((static_cast<u128>(r) * pt.coeffs[j] + half_t) / t);
  }
  for (std::size_t i = 0; i < level; ++i) {
    const auto& m = base.mod(i);
    const u64 d = delta[i], ds = math::shoup_precompute(d, m.value);
    u64* o = out.comp(i);
    for (std::size_t j = 0; j < params.n(); ++j) {
      const u64 mj = math::barrett_reduce_64(pt.coeffs[j], m);
      o[j] = math::add_mod(math::mul_mod_shoup(mj, d, ds, m.value),
                           math::barrett_reduce_64(fix[j], m), m.value);
    }
  }
  return out;
}

Encryptor::Encryptor(HeParamsPtr params, const SecretKey& sk) : params_(std::move(params)), sk_(&sk) {
  params_->check_id(sk.params_id, "secret key");
}

Encryptor::Encryptor(HeParamsPtr params, const PublicKey& pk) : params_(std::move(params)), pk_(&pk) {
  params_->check_id(pk.params_id, "public key");
}

Ciphertext Encryptor::encrypt_symmetric(const Plaintext& pt, Prg& prg) const {
  require(sk_ != nullptr, ErrorCode::kInvalidArgument, "symmetric encryption needs the secret key");
  const std::size_t L = params_->levels();
  const auto& base = params_->base();
  Ciphertext ct;
  ct.params_id = params_->params_id();
  RnsPoly c0 = scale_plaintext(*params_, pt, L);
  RnsPoly e = detail::lift_small(detail::sample_cbd21(prg, params_->n()), base, L);
  math::add_inplace(c0, e, base);
  math::to_ntt(c0, base);
  Seed seed = prg.next_seed();
  Prg a_prg = Prg::from_seed(seed);
  ct.c1 = detail::sample_uniform(a_prg, base, L);
  RnsPoly as = ct.c1;
  math::mul_inplace(as, detail::prefix(sk_->s, L), base);
  math::sub_inplace(c0, as, base);
  ct.c0 = std::move(c0);
  ct.c1_seed = seed;
  return ct;
}

Ciphertext Encryptor::encrypt_zero_public(Prg& prg, std::size_t level) const {
  require(pk_ != nullptr, ErrorCode::kInvalidArgument, "public-key encryption needs the public key");
  const std::size_t L = level == 0 ? params_->levels() : level;
  require(L <= params_->levels(), ErrorCode::kInvalidArgument, "level out of range");
  const auto& base = params_->base(L);
  RnsPoly u = detail::lift_small(detail::sample_ternary(prg, params_->n()), base, L);
  math::to_ntt(u, base);
  Ciphertext ct;
  ct.params_id = params_->params_id();
  ct.c0 = detail::prefix(pk_->p0, L);
  ct.c1 = detail::prefix(pk_->p1, L);
  math::mul_inplace(ct.c0, u, base);
  math::mul_inplace(ct.c1, u, base);
  for (RnsPoly* c : {&ct.c0, &ct.c1}) {
    RnsPoly e = detail::lift_small(detail::sample_cbd21(prg, params_->n()), base, L);
    math::to_ntt(e, base);
    math::add_inplace(*c, e, base);
  }
  return ct;
}

Ciphertext Encryptor::encrypt_public(const Plaintext& pt, Prg& prg, std::size_t level) const {
  Ciphertext ct = encrypt_zero_public(prg, level);
  RnsPoly m = scale_plaintext(*params_, pt, ct.level());
  math::to_ntt(m, params_->base(ct.level()));
  math::add_inplace(ct.c0, m, params_->base(ct.level()));
  return ct;
}

// ---------------------------------------------------------------------------------------------

Decryptor::Decryptor(HeParamsPtr params, const SecretKey& sk) : params_(std::move(params)), sk_(sk) {
  params_->check_id(sk.params_id, "secret key");
}

namespace {
// floor((x·t + floor(Q/2)) / Q) mod t for x in [0, Q) given as a BigUInt (exact).
u64 round_scale_big(math::BigUInt x, const math::BigUInt& q, const math::BigUInt& half_q, u64 t) {
  x.mul_u64(t);
  x.add(half_q);
  // The quotient is ≤ t < 2^61: binary long division over 62 bits.
  math::BigUInt d = q;
  d.shl(61);
  u64 quo = 0;
  for (int b = 61; b >= 0; --b) {
    if (x >= d) {
      x.sub(d);
      quo |= 1ULL << b;
    }
    d.shr(1);
  }
  return quo % t;
}
}  // namespace

RnsPoly Decryptor::phase(const Ciphertext& ct) const {
  check_ciphertext(*params_, ct);
  const std::size_t L = ct.level();
  const auto& base = params_->base(L);
  RnsPoly c0 = ct.c0, c1 = ct.c1;
  math::to_ntt(c0, base);
  math::to_ntt(c1, base);
  RnsPoly s = detail::prefix(sk_.s, L);
  math::mul_inplace(c1, s, base);
  math::add_inplace(c0, c1, base);
  math::from_ntt(c0, base);
  return c0;
}

Plaintext Decryptor::decrypt(const Ciphertext& ct) const { return decode_phase(phase(ct), ct.level()); }

Plaintext Decryptor::decode_phase(const RnsPoly& x, std::size_t L) const {
  const std::size_t n = params_->n();
  const u64 t = params_->t();
  Plaintext pt;
  pt.params_id = params_->params_id();
  pt.coeffs.assign(n, 0);
  if (L == 1) {
    const u64 q = params_->base(1).mod(0).value;
    for (std::size_t j = 0; j < n; ++j)
      pt.coeffs[j] = static_cast<u64>((static_cast<u128>(x.comp(0)[j]) * t + q / 2) / q) % t;
  } else {
    // t·x/Q ≡ Σ_i y_i·t/q_i (mod t) with y_i = [x_i·(Q/q_i)^{-1}]_{q_i} (CRT). Each term splits
    // into an exact integer part and a 64-bit fixed-point fraction; the sum of fractions is
    // below the truth by < L units of 2^-64, so rounding is decided exactly unless the fraction
    // lies within L units of 1/2, where the exact big-integer path decides (probability ~2^-60).
    const auto& base = params_->base(L);
    math::BigUInt half = base.q();
    half.shr(1);
    for (std::size_t j = 0; j < n; ++j) {
      u128 int_sum = 0, frac_sum = 0;
      for (std::size_t i = 0; i < L; ++i) {
        const u64 qi = base.mod(i).value;
        const u64 y = math::mul_mod(x.comp(i)[j], base.q_hat_inv(i), base.mod(i));
        const u128 yt = static_cast<u128>(y) * t;
        const u64 a = static_cast<u64>(yt / qi), b = static_cast<u64>(yt % qi);
        int_sum += a;
        frac_sum += static_cast<u64>((static_cast<u128>(b) << 64) / qi);
      }
      int_sum += frac_sum >> 64;
      const u64 frac = static_cast<u64>(frac_sum);
      const u64 mid = 1ULL << 63;
      if (frac < mid && mid - frac <= L) {
        pt.coeffs[j] = round_scale_big(math::crt_compose(x, j, base), base.q(), half, t);
      } else {
        pt.coeffs[j] = static_cast<u64>((int_sum + (frac >= mid ? 1 : 0)) % t);
      }
    }
  }
  return pt;
}

std::vector<u64> Decryptor::decrypt_trimmed(const TrimmedCiphertext& ct,
                                            std::span<const std::uint32_t> indices) const {
  params_->check_id(ct.params_id, "trimmed ciphertext");
  const std::size_t n = params_->n();
  require(ct.c1_hi.size() == n && ct.c0_hi.size() == indices.size(), ErrorCode::kInvalidArgument,
          "trimmed ciphertext does not match the index set");
  require(ct.d0 >= 0 && ct.d0 < 61 && ct.d1 >= 0 && ct.d1 < 61, ErrorCode::kInvalidArgument,
          "bad dropped-bit counts");
  const auto& base = params_->base(1);
  const u64 q = base.mod(0).value, t = params_->t();
  RnsPoly c1(n, 1, false);
  for (std::size_t j = 0; j < n; ++j) {
    const u64 v = ct.c1_hi[j] << ct.d1;
    require(v < q && (v >> ct.d1) == ct.c1_hi[j], ErrorCode::kInvalidArgument, "c1 value out of range");
    c1.comp(0)[j] = v;
  }
  math::to_ntt(c1, base);
  RnsPoly s = detail::prefix(sk_.s, 1);
  math::mul_inplace(c1, s, base);
  math::from_ntt(c1, base);
  std::vector<u64> out(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    require(indices[i] < n, ErrorCode::kInvalidArgument, "index outside [0, N)");
    const u64 c0 = ct.c0_hi[i] << ct.d0;
    require(c0 < q && (c0 >> ct.d0) == ct.c0_hi[i], ErrorCode::kInvalidArgument, "c0 value out of range");
    const u64 x = math::add_mod(c0, c1.comp(0)[indices[i]], q);
    out[i] = static_cast<u64>((static_cast<u128>(x) * t + q / 2) / q) % t;
  }
  return out;
}

int Decryptor::noise_budget_bits(const Ciphertext& ct) const {
  RnsPoly x = phase(ct);
  const std::size_t L = ct.level();
  const auto& base = params_->base(L);
  math::mul_scalar_inplace(x, params_->t(), base);
  math::BigUInt half = base.q();
  half.shr(1);
  int max_bits = 0;
  for (std::size_t j = 0; j < params_->n(); ++j) {
    math::BigUInt v = math::crt_compose(x, j, base);
    if (v >= half) {
      math::BigUInt w = base.q();
      w.sub(v);
      v = w;
    }
    max_bits = std::max(max_bits, v.bit_length());
  }
  const int budget = base.q().bit_length() - max_bits - 1;
  return budget > 0 ? budget : 0;
}

std::vector<double> Decryptor::noise(const Ciphertext& ct) const {
  RnsPoly x = phase(ct);
  const std::size_t L = ct.level();
  const Plaintext m = decode_phase(x, L);
  const auto& base = params_->base(L);
  math::sub_inplace(x, scale_plaintext(*params_, m, L), base);
  math::BigUInt half = base.q();
  half.shr(1);
  std::vector<double> out(params_->n());
  for (std::size_t j = 0; j < params_->n(); ++j) {
    math::BigUInt v = math::crt_compose(x, j, base);
    if (v >= half) {
      math::BigUInt w = base.q();
      w.sub(v);
      out[j] = -w.to_double();
    } else {
      out[j] = v.to_double();
    }
  }
  return out;
}

}  // namespace peregrine::he
