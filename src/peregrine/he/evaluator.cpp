#include "peregrine/he/evaluator.hpp"

#include <algorithm>

#include "peregrine/he/encryptor.hpp"
#include "peregrine/he/keys.hpp"

namespace peregrine::he {

using math::RnsPoly;
using math::u128;

void Evaluator::check(const Ciphertext& ct) const { check_ciphertext(*params_, ct); }

void Evaluator::to_ntt(Ciphertext& ct) const {
  check(ct);
  const auto& base = params_->base(ct.level());
  math::to_ntt(ct.c0, base);
  math::to_ntt(ct.c1, base);
}

void Evaluator::from_ntt(Ciphertext& ct) const {
  check(ct);
  const auto& base = params_->base(ct.level());
  math::from_ntt(ct.c0, base);
  math::from_ntt(ct.c1, base);
  ct.c1_seed.reset();  // the seed describes c1 in NTT form only
}

namespace {
const Ciphertext& in_form(const Ciphertext& b, bool ntt, const HeParams& params, Ciphertext& tmp) {
  if (b.ntt_form() == ntt) return b;
  tmp = b;
  const auto& base = params.base(b.level());
  if (ntt) {
    math::to_ntt(tmp.c0, base);
    math::to_ntt(tmp.c1, base);
  } else {
    math::from_ntt(tmp.c0, base);
    math::from_ntt(tmp.c1, base);
  }
  return tmp;
}
}  // namespace

void Evaluator::add_or_sub(Ciphertext& a, const Ciphertext& b, bool subtract) const {
  check(a);
  check(b);
  require(a.level() == b.level(), ErrorCode::kInvalidArgument, "ciphertext levels differ");
  Ciphertext tmp;
  const Ciphertext& bb = in_form(b, a.ntt_form(), *params_, tmp);
  const auto& base = params_->base(a.level());
  auto op = subtract ? math::sub_inplace : math::add_inplace;
  op(a.c0, bb.c0, base);
  op(a.c1, bb.c1, base);
  a.c1_seed.reset();
}

void Evaluator::add_inplace(Ciphertext& a, const Ciphertext& b) const { add_or_sub(a, b, false); }
void Evaluator::sub_inplace(Ciphertext& a, const Ciphertext& b) const { add_or_sub(a, b, true); }

void Evaluator::negate_inplace(Ciphertext& a) const {
  check(a);
  const auto& base = params_->base(a.level());
  math::negate_inplace(a.c0, base);
  math::negate_inplace(a.c1, base);
  a.c1_seed.reset();
}

void Evaluator::add_or_sub_plain(Ciphertext& ct, const Plaintext& pt, bool subtract) const {
  check(ct);
  const auto& base = params_->base(ct.level());
  RnsPoly m = scale_plaintext(*params_, pt, ct.level());
  if (ct.ntt_form()) math::to_ntt(m, base);
  (subtract ? math::sub_inplace : math::add_inplace)(ct.c0, m, base);
}

void Evaluator::add_plain_inplace(Ciphertext& ct, const Plaintext& pt) const { add_or_sub_plain(ct, pt, false); }
void Evaluator::sub_plain_inplace(Ciphertext& ct, const Plaintext& pt) const { add_or_sub_plain(ct, pt, true); }

PlaintextNtt Evaluator::prepare(const Plaintext& pt, std::size_t level) const {
  check_plaintext(*params_, pt);
  const std::size_t L = level == 0 ? params_->levels() : level;
  require(L <= params_->levels(), ErrorCode::kInvalidArgument, "level out of range");
  const auto& base = params_->base(L);
  const u64 t = params_->t();
  PlaintextNtt out;
  out.params_id = params_->params_id();
  out.level = L;
  out.poly = RnsPoly(params_->n(), L, false);
  for (std::size_t j = 0; j < params_->n(); ++j) {
    const u64 m = pt.coeffs[j];
    require(m < t, ErrorCode::kInvalidArgument, "plaintext coefficient ≥ t");
    // Centred lift into (−t/2, t/2].
    const bool neg = m > t / 2;
    const u64 mag = neg ? t - m : m;
    for (std::size_t i = 0; i < L; ++i) {
      const u64 r = math::barrett_reduce_64(mag, base.mod(i));
      out.poly.comp(i)[j] = neg ? math::neg_mod(r, base.mod(i).value) : r;
    }
  }
  math::to_ntt(out.poly, base);
  return out;
}

void Evaluator::multiply_plain_inplace(Ciphertext& ct, const PlaintextNtt& pt) const {
  check(ct);
  params_->check_id(pt.params_id, "plaintext");
  require(pt.level == ct.level(), ErrorCode::kInvalidArgument, "plaintext prepared for another level");
  to_ntt(ct);
  const auto& base = params_->base(ct.level());
  math::mul_inplace(ct.c0, pt.poly, base);
  math::mul_inplace(ct.c1, pt.poly, base);
  ct.c1_seed.reset();
}

void Evaluator::multiply_plain_acc(Ciphertext& acc, const Ciphertext& ct, const PlaintextNtt& pt) const {
  check(acc);
  check(ct);
  params_->check_id(pt.params_id, "plaintext");
  require(acc.ntt_form() && ct.ntt_form(), ErrorCode::kInvalidArgument, "multiply_plain_acc needs NTT form");
  require(pt.level == ct.level() && acc.level() == ct.level(), ErrorCode::kInvalidArgument,
          "levels differ");
  const auto& base = params_->base(ct.level());
  math::mul_acc(acc.c0, ct.c0, pt.poly, base);
  math::mul_acc(acc.c1, ct.c1, pt.poly, base);
  acc.c1_seed.reset();
}

Ciphertext Evaluator::dot_plain(std::span<const Ciphertext* const> cts,
                                 std::span<const PlaintextNtt* const> pts) const {
  require(!cts.empty() && cts.size() == pts.size(), ErrorCode::kInvalidArgument,
          "dot_plain: need matching, non-empty term lists");
  const std::size_t level = cts[0]->level();
  std::vector<const math::RnsPoly*> c0(cts.size()), c1(cts.size()), p(cts.size());
  for (std::size_t t = 0; t < cts.size(); ++t) {
    check(*cts[t]);
    params_->check_id(pts[t]->params_id, "plaintext");
    require(cts[t]->ntt_form() && cts[t]->level() == level && pts[t]->level == level,
            ErrorCode::kInvalidArgument, "dot_plain: terms must be NTT form at one level");
    c0[t] = &cts[t]->c0;
    c1[t] = &cts[t]->c1;
    p[t] = &pts[t]->poly;
  }
  Ciphertext out;
  out.params_id = params_->params_id();
  out.c0 = math::RnsPoly(params_->n(), level, true);
  out.c1 = math::RnsPoly(params_->n(), level, true);
  const auto& base = params_->base(level);
  math::dot_product(out.c0, c0, p, base);
  math::dot_product(out.c1, c1, p, base);
  return out;
}

void Evaluator::multiply_monomial_inplace(Ciphertext& ct, std::size_t e) const {
  from_ntt(ct);
  const auto& base = params_->base(ct.level());
  ct.c0 = math::multiply_monomial(ct.c0, e, base);
  ct.c1 = math::multiply_monomial(ct.c1, e, base);
}

Evaluator::Decomposition Evaluator::decompose(const RnsPoly& c) const {
  const auto& kb = params_->key_base();
  const std::size_t L = c.k, K = params_->levels(), n = params_->n();
  require(!c.ntt_form && L >= 1 && L <= K && c.n == n, ErrorCode::kInvalidArgument,
          "key switching needs a coefficient-form polynomial of this ring");
  Decomposition d;
  d.level = L;
  d.digits.assign(L * (L + 1), AlignedU64(n));
  for (std::size_t i = 0; i < L; ++i) {
    const u64* ci = c.comp(i);
    for (std::size_t jj = 0; jj <= L; ++jj) {
      const std::size_t j = jj < L ? jj : K;  // slot L holds the special prime
      const math::Modulus& mj = kb.mod(j);
      u64* out = d.digits[i * (L + 1) + jj].data();
      for (std::size_t x = 0; x < n; ++x) out[x] = math::barrett_reduce_64(ci[x], mj);
      math::ntt_forward(out, kb.ntt(j));
    }
  }
  return d;
}

std::pair<RnsPoly, RnsPoly> Evaluator::key_switch(const Decomposition& dec, const std::size_t* perm,
                                                  const KeySwitchKey& ksk) const {
  const auto& kb = params_->key_base();
  const std::size_t L = dec.level, K = params_->levels(), n = params_->n();
  const std::size_t sp = K;  // index of the special prime in the key base
  require(ksk.a.size() == K && ksk.b.size() == K, ErrorCode::kInvalidArgument, "malformed switch key");
  // Accumulators over the L data primes plus P, NTT form; slot L holds the P component.
  RnsPoly acc0(n, L + 1, true), acc1(n, L + 1, true);
  auto target = [&](std::size_t j) { return j < L ? j : sp; };
  for (std::size_t i = 0; i < L; ++i) {
    for (std::size_t jj = 0; jj <= L; ++jj) {
      const std::size_t j = target(jj);
      const math::Modulus& mj = kb.mod(j);
      const u64* digit = dec.digits[i * (L + 1) + jj].data();
      const u64* b = ksk.b[i].comp(j);
      const u64* a = ksk.a[i].comp(j);
      u64* o0 = acc0.comp(jj);
      u64* o1 = acc1.comp(jj);
      for (std::size_t x = 0; x < n; ++x) {
        const u64 v = digit[perm[x]];  // the digits of σ(c): σ permutes NTT evaluations
        o0[x] = math::add_mod(o0[x], math::mul_mod(v, b[x], mj), mj.value);
        o1[x] = math::add_mod(o1[x], math::mul_mod(v, a[x], mj), mj.value);
      }
    }
  }
  // Mod-down by P with rounding: d_j = (x_j − [x_P + ⌊P/2⌋]_P + ⌊P/2⌋) · P^{-1} mod q_j.
  const math::Modulus& mp = kb.mod(sp);
  const u64 P = mp.value, halfP = P / 2;
  std::pair<RnsPoly, RnsPoly> out{RnsPoly(n, L, false), RnsPoly(n, L, false)};
  for (int which = 0; which < 2; ++which) {
    RnsPoly& acc = which == 0 ? acc0 : acc1;
    RnsPoly& dst = which == 0 ? out.first : out.second;
    u64* xp = acc.comp(L);
    math::ntt_inverse(xp, kb.ntt(sp));
    for (std::size_t x = 0; x < n; ++x) xp[x] = math::add_mod(xp[x], halfP, P);
    for (std::size_t j = 0; j < L; ++j) {
      const math::Modulus& mj = kb.mod(j);
      u64* xj = acc.comp(j);
      math::ntt_inverse(xj, kb.ntt(j));
      const u64 pinv = math::inv_mod(P, mj), pinv_s = math::shoup_precompute(pinv, mj.value);
      const u64 halfP_j = math::barrett_reduce_64(halfP, mj);
      u64* d = dst.comp(j);
      for (std::size_t x = 0; x < n; ++x) {
        const u64 r = math::barrett_reduce_64(xp[x], mj);
        const u64 v = math::sub_mod(math::add_mod(xj[x], halfP_j, mj.value), r, mj.value);
        d[x] = math::mul_mod_shoup(v, pinv, pinv_s, mj.value);
      }
    }
  }
  return out;
}

Ciphertext Evaluator::apply_galois(const Ciphertext& ct, std::uint64_t g, const GaloisKeys& keys) const {
  return std::move(apply_galois_hoisted(ct, std::span<const std::uint64_t>(&g, 1), keys).front());
}

std::vector<Ciphertext> Evaluator::apply_galois_hoisted(const Ciphertext& ct,
                                                        std::span<const std::uint64_t> elements,
                                                        const GaloisKeys& keys) const {
  check(ct);
  params_->check_id(keys.params_id, "Galois keys");
  std::vector<const KeySwitchKey*> ksk;
  for (const std::uint64_t g : elements) {
    auto it = keys.keys.find(g);
    require(it != keys.keys.end(), ErrorCode::kInvalidArgument, "no Galois key for this element");
    ksk.push_back(&it->second);
  }
  std::vector<Ciphertext> out;
  if (elements.empty()) return out;
  Ciphertext c = ct;
  from_ntt(c);
  const auto& base = params_->base(c.level());
  const Decomposition dec = decompose(c.c1);  // shared by every element: the hoisted part
  out.reserve(elements.size());
  for (std::size_t e = 0; e < elements.size(); ++e) {
    const std::vector<std::size_t> perm = math::automorphism_ntt_permutation(params_->n(), elements[e]);
    auto [d0, d1] = key_switch(dec, perm.data(), *ksk[e]);
    RnsPoly c0 = math::automorphism(c.c0, elements[e], base);
    math::add_inplace(c0, d0, base);
    Ciphertext r;
    r.params_id = ct.params_id;
    r.c0 = std::move(c0);
    r.c1 = std::move(d1);
    out.push_back(std::move(r));
  }
  return out;
}

Ciphertext Evaluator::rotate_rows(const Ciphertext& ct, int step, const GaloisKeys& keys) const {
  require(step != 0, ErrorCode::kInvalidArgument, "rotate_rows(0): use swap_rows or no-op");
  return apply_galois(ct, galois_element_for_step(step, params_->n()), keys);
}

Ciphertext Evaluator::swap_rows(const Ciphertext& ct, const GaloisKeys& keys) const {
  return apply_galois(ct, 2 * params_->n() - 1, keys);
}

void Evaluator::mod_switch_to_next_inplace(Ciphertext& ct) const {
  check(ct);
  const std::size_t L = ct.level(), n = params_->n();
  require(L >= 2, ErrorCode::kInvalidArgument, "cannot mod-switch below one prime");
  from_ntt(ct);
  const auto& base = params_->base(L);
  const math::Modulus& ml = base.mod(L - 1);
  const u64 ql = ml.value, half = ql / 2;
  for (RnsPoly* c : {&ct.c0, &ct.c1}) {
    RnsPoly out(n, L - 1, false);
    // round(c / q_l) = (c − [c + ⌊q_l/2⌋]_{q_l} + ⌊q_l/2⌋) / q_l, computed per remaining prime.
    const u64* xl = c->comp(L - 1);
    std::vector<u64> r(n);
    for (std::size_t x = 0; x < n; ++x) r[x] = math::add_mod(xl[x], half, ql);
    for (std::size_t j = 0; j + 1 < L; ++j) {
      const math::Modulus& mj = base.mod(j);
      const u64 inv = math::inv_mod(ql, mj), inv_s = math::shoup_precompute(inv, mj.value);
      const u64 half_j = math::barrett_reduce_64(half, mj);
      const u64* xj = c->comp(j);
      u64* d = out.comp(j);
      for (std::size_t x = 0; x < n; ++x) {
        const u64 v = math::sub_mod(math::add_mod(xj[x], half_j, mj.value),
                                    math::barrett_reduce_64(r[x], mj), mj.value);
        d[x] = math::mul_mod_shoup(v, inv, inv_s, mj.value);
      }
    }
    *c = std::move(out);
  }
}

void Evaluator::mod_switch_to_inplace(Ciphertext& ct, std::size_t level) const {
  check(ct);
  require(level >= 1 && level <= ct.level(), ErrorCode::kInvalidArgument, "bad target level");
  while (ct.level() > level) mod_switch_to_next_inplace(ct);
}

void Evaluator::rerandomize_and_flood_inplace(Ciphertext& ct, const PublicKey& pk, int flood_bits,
                                              Prg& prg) const {
  check(ct);
  require(flood_bits >= 0 && flood_bits <= kMaxFloodBits, ErrorCode::kInvalidArgument,
          "flood_bits out of [0, 250]");
  Encryptor enc(params_, pk);
  Ciphertext z = enc.encrypt_zero_public(prg, ct.level());
  add_inplace(ct, z);
  const std::size_t L = ct.level(), n = params_->n();
  const auto& base = params_->base(L);
  RnsPoly f(n, L, false);
  // v = r − 2^b with r uniform on b+1 bits: v uniform on [−2^b, 2^b). r is drawn as (at least two)
  // 64-bit limbs, least significant first, bits from b+1 up cleared, and reduced mod each prime by
  // Horner's rule from the top limb.
  const int rb = flood_bits + 1;
  const std::size_t limbs = std::max<std::size_t>(2, static_cast<std::size_t>((rb + 63) / 64));
  auto limb_mask = [rb](std::size_t j) -> u64 {
    const int lo = static_cast<int>(64 * j);
    if (lo >= rb) return 0;
    return rb - lo >= 64 ? ~u64{0} : ((u64{1} << (rb - lo)) - 1);
  };
  std::vector<u64> off_mod(L);
  for (std::size_t i = 0; i < L; ++i) {
    u64 v = 1;  // 2^b mod q_i
    for (int k = 0; k < flood_bits; ++k) v = math::add_mod(v, v, base.mod(i).value);
    off_mod[i] = v;
  }
  std::vector<u64> w(limbs);
  for (std::size_t x = 0; x < n; ++x) {
    prg.fill(w.data(), limbs * sizeof(u64));
    for (std::size_t j = 0; j < limbs; ++j) w[j] &= limb_mask(j);
    for (std::size_t i = 0; i < L; ++i) {
      const math::Modulus& q = base.mod(i);
      u64 acc = 0;
      for (std::size_t j = limbs; j-- > 0;) acc = math::barrett_reduce_128((static_cast<u128>(acc) << 64) | w[j], q);
      f.comp(i)[x] = math::sub_mod(acc, off_mod[i], q.value);
    }
  }
  if (ct.ntt_form()) math::to_ntt(f, base);
  math::add_inplace(ct.c0, f, base);
}

TrimmedCiphertext Evaluator::trim(const Ciphertext& ct_in, int d0, int d1,
                                  std::span<const std::uint32_t> indices) const {
  check(ct_in);
  require(ct_in.level() == 1, ErrorCode::kInvalidArgument, "trim needs a level-1 ciphertext");
  const u64 q = params_->base(1).mod(0).value;
  const int qbits = params_->base(1).mod(0).bits;
  require(d0 >= 0 && d0 < qbits && d1 >= 0 && d1 < qbits, ErrorCode::kInvalidArgument,
          "dropped bits must be in [0, log2 q')");
  Ciphertext ct = ct_in;
  from_ntt(ct);
  // round(v / 2^d); the one value that would reach ⌈q'/2^d⌉ wraps to 0 (error still ≤ 2^{d−1}
  // mod q'), so every transmitted value is < ⌈q'/2^d⌉ and fits in bitlen(⌈q'/2^d⌉ − 1) bits.
  auto drop = [q](u64 v, int d) -> u64 {
    if (d == 0) return v;
    const u64 hi = (v + (1ULL << (d - 1))) >> d;
    return (hi << d) >= q ? 0 : hi;
  };
  TrimmedCiphertext out;
  out.params_id = ct.params_id;
  out.d0 = d0;
  out.d1 = d1;
  out.c1_hi.resize(params_->n());
  for (std::size_t x = 0; x < params_->n(); ++x) out.c1_hi[x] = drop(ct.c1.comp(0)[x], d1);
  out.c0_hi.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    require(indices[i] < params_->n(), ErrorCode::kInvalidArgument, "index outside [0, N)");
    out.c0_hi[i] = drop(ct.c0.comp(0)[indices[i]], d0);
  }
  return out;
}

}  // namespace peregrine::he
