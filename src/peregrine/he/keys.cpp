#include "peregrine/he/keys.hpp"

#include "peregrine/he/sampling.hpp"

namespace peregrine::he {

using math::RnsPoly;

namespace detail {

std::vector<std::int8_t> sample_ternary(Prg& prg, std::size_t n) {
  std::vector<std::int8_t> out(n);
  std::size_t i = 0;
  std::uint8_t buf[256];
  while (i < n) {
    prg.fill(buf, sizeof buf);
    for (std::uint8_t b : buf) {
      if (b >= 255) continue;  // 255 = 3·85: accept 0..254 for an unbiased mod 3
      out[i++] = static_cast<std::int8_t>(b % 3) - 1;
      if (i == n) break;
    }
  }
  return out;
}

std::vector<std::int8_t> sample_cbd21(Prg& prg, std::size_t n) {
  std::vector<std::int8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t r = prg.next_u64();
    const int a = __builtin_popcountll(r & ((1ULL << 21) - 1));
    const int b = __builtin_popcountll((r >> 21) & ((1ULL << 21) - 1));
    out[i] = static_cast<std::int8_t>(a - b);
  }
  return out;
}

RnsPoly lift_small(const std::vector<std::int8_t>& v, const math::RnsBase& base, std::size_t k) {
  RnsPoly p(base.n(), k, false);
  for (std::size_t i = 0; i < k; ++i) {
    const u64 q = base.mod(i).value;
    u64* c = p.comp(i);
    for (std::size_t j = 0; j < base.n(); ++j)
      c[j] = v[j] < 0 ? q - static_cast<u64>(-v[j]) : static_cast<u64>(v[j]);
  }
  return p;
}

RnsPoly prefix(const RnsPoly& p, std::size_t k) {
  RnsPoly r(p.n, k, p.ntt_form);
  std::copy(p.data.begin(), p.data.begin() + static_cast<std::ptrdiff_t>(k * p.n), r.data.begin());
  return r;
}

RnsPoly sample_uniform(Prg& prg, const math::RnsBase& base, std::size_t k) {
  RnsPoly p(base.n(), k, true);
  std::uint64_t buf[512];
  for (std::size_t i = 0; i < k; ++i) {
    const u64 q = base.mod(i).value;
    const u64 mask = (1ULL << base.mod(i).bits) - 1;
    u64* c = p.comp(i);
    std::size_t j = 0;
    while (j < base.n()) {
      prg.fill(buf, sizeof buf);
      for (std::uint64_t r : buf) {
        r &= mask;
        if (r >= q) continue;
        c[j++] = r;
        if (j == base.n()) break;
      }
    }
  }
  return p;
}

}  // namespace detail

SecretKey KeyGenerator::secret_key(Prg& prg) const {
  const auto& kb = params_->key_base();
  SecretKey sk;
  sk.params_id = params_->params_id();
  sk.s = detail::lift_small(detail::sample_ternary(prg, params_->n()), kb, kb.size());
  math::to_ntt(sk.s, kb);
  return sk;
}


PublicKey KeyGenerator::public_key(const SecretKey& sk, Prg& prg) const {
  params_->check_id(sk.params_id, "secret key");
  const auto& base = params_->base();
  const std::size_t k = base.size();
  PublicKey pk;
  pk.params_id = params_->params_id();
  pk.seed = prg.next_seed();
  Prg a_prg = Prg::from_seed(pk.seed);
  pk.p1 = detail::sample_uniform(a_prg, base, k);
  RnsPoly e = detail::lift_small(detail::sample_cbd21(prg, params_->n()), base, k);
  math::to_ntt(e, base);
  pk.p0 = pk.p1;
  math::mul_inplace(pk.p0, detail::prefix(sk.s, k), base);
  math::negate_inplace(pk.p0, base);
  math::add_inplace(pk.p0, e, base);
  return pk;
}

std::vector<RnsPoly> expand_switch_key_a(const HeParams& params, const Seed& seed) {
  Prg a_prg = Prg::from_seed(seed);
  std::vector<RnsPoly> a;
  for (std::size_t i = 0; i < params.levels(); ++i)
    a.push_back(detail::sample_uniform(a_prg, params.key_base(), params.key_base().size()));
  return a;
}

KeySwitchKey KeyGenerator::make_switch_key(const SecretKey& sk, const RnsPoly& s_from,
                                           const Seed& seed, Prg& prg) const {
  require(params_->has_special_prime(), ErrorCode::kUnsupported,
          "key switching needs a special prime in the parameters");
  const auto& kb = params_->key_base();
  const std::size_t kk = kb.size(), K = params_->levels();
  const u64 P = params_->spec().special_prime;
  KeySwitchKey ksk;
  ksk.seed = seed;
  ksk.a = expand_switch_key_a(*params_, seed);
  for (std::size_t i = 0; i < K; ++i) {
    RnsPoly b = ksk.a[i];
    math::mul_inplace(b, sk.s, kb);
    math::negate_inplace(b, kb);
    RnsPoly e = detail::lift_small(detail::sample_cbd21(prg, params_->n()), kb, kk);
    math::to_ntt(e, kb);
    math::add_inplace(b, e, kb);
    // + [P]_{q_i} · s' in component i only.
    const math::Modulus& qi = kb.mod(i);
    const u64 pm = math::barrett_reduce_64(P, qi);
    u64* bi = b.comp(i);
    const u64* si = s_from.comp(i);
    for (std::size_t j = 0; j < params_->n(); ++j)
      bi[j] = math::add_mod(bi[j], math::mul_mod(si[j], pm, qi), qi.value);
    ksk.b.push_back(std::move(b));
  }
  return ksk;
}

GaloisKeys KeyGenerator::galois_keys(const SecretKey& sk, const std::vector<std::uint64_t>& elements,
                                     Prg& prg) const {
  params_->check_id(sk.params_id, "secret key");
  require(params_->has_special_prime(), ErrorCode::kUnsupported,
          "Galois keys need a special prime in the parameters");
  GaloisKeys gk;
  gk.params_id = params_->params_id();
  const std::size_t two_n = 2 * params_->n();
  for (std::uint64_t g : elements) {
    require((g & 1) && g < two_n && g != 1, ErrorCode::kInvalidArgument,
            "Galois element must be odd, in (1, 2N)");
    if (gk.keys.count(g)) continue;
    RnsPoly s_g = math::automorphism(sk.s, g, params_->key_base());
    gk.keys.emplace(g, make_switch_key(sk, s_g, prg.next_seed(), prg));
  }
  return gk;
}

std::uint64_t galois_element_for_step(int step, std::size_t n) {
  const std::size_t two_n = 2 * n, half = n / 2;
  if (step == 0) return two_n - 1;
  require(static_cast<std::size_t>(step < 0 ? -step : step) < half, ErrorCode::kInvalidArgument,
          "rotation step must satisfy |step| < N/2");
  const std::size_t pos = step > 0 ? static_cast<std::size_t>(step) : half - static_cast<std::size_t>(-step);
  std::uint64_t g = 1;
  for (std::size_t i = 0; i < pos; ++i) g = (g * 3) & (two_n - 1);
  return g;
}

std::vector<std::uint64_t> KeyGenerator::rotation_elements(const std::vector<int>& steps) const {
  std::vector<std::uint64_t> out;
  for (int s : steps) out.push_back(galois_element_for_step(s, params_->n()));
  return out;
}

}  // namespace peregrine::he
