#include "peregrine/math/rns.hpp"

#include <algorithm>

namespace peregrine::math {

RnsBase::RnsBase(std::size_t n, const std::vector<u64>& primes) : n_(n), primes_(primes) {
  require(!primes.empty(), ErrorCode::kInvalidArgument, "empty RNS base");
  for (std::size_t i = 0; i < primes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j)
      require(primes[i] != primes[j], ErrorCode::kInvalidArgument, "RNS primes must be distinct");
    mods_.emplace_back(primes[i]);
    ntt_.push_back(std::make_shared<const NttTables>(n, mods_.back()));  // checks p ≡ 1 mod 2N
  }
  init_crt();
}

RnsBase::RnsBase(std::vector<std::shared_ptr<const NttTables>> tables) : ntt_(std::move(tables)) {
  require(!ntt_.empty(), ErrorCode::kInvalidArgument, "empty RNS base");
  n_ = ntt_[0]->n;
  for (std::size_t i = 0; i < ntt_.size(); ++i) {
    require(ntt_[i]->n == n_, ErrorCode::kInvalidArgument, "NTT tables of different degrees");
    for (std::size_t j = 0; j < i; ++j)
      require(ntt_[i]->mod.value != ntt_[j]->mod.value, ErrorCode::kInvalidArgument,
              "RNS primes must be distinct");
    primes_.push_back(ntt_[i]->mod.value);
    mods_.push_back(ntt_[i]->mod);
  }
  init_crt();
}

void RnsBase::init_crt() {
  const auto& primes = primes_;
  q_ = BigUInt::product(primes);
  for (std::size_t i = 0; i < primes.size(); ++i) {
    BigUInt h(1);
    for (std::size_t j = 0; j < primes.size(); ++j)
      if (j != i) h.mul_u64(primes[j]);
    q_hat_inv_.push_back(inv_mod(h.mod_u64(primes[i]), mods_[i]));
    q_hat_.push_back(std::move(h));
  }
}

namespace {
void check(const RnsPoly& a, const RnsBase& base) {
  require(a.n == base.n() && a.k >= 1 && a.k <= base.size() && a.data.size() == a.n * a.k,
          ErrorCode::kInvalidArgument, "polynomial does not match the RNS base");
}
void check2(const RnsPoly& a, const RnsPoly& b, const RnsBase& base) {
  check(a, base);
  require(a.n == b.n && a.k == b.k && b.data.size() == a.data.size(), ErrorCode::kInvalidArgument,
          "polynomial shapes differ");
  require(a.ntt_form == b.ntt_form, ErrorCode::kInvalidArgument, "polynomial forms differ");
}
}  // namespace

void to_ntt(RnsPoly& a, const RnsBase& base) {
  check(a, base);
  if (a.ntt_form) return;
  for (std::size_t i = 0; i < a.k; ++i) ntt_forward(a.comp(i), base.ntt(i));
  a.ntt_form = true;
}

void from_ntt(RnsPoly& a, const RnsBase& base) {
  check(a, base);
  if (!a.ntt_form) return;
  for (std::size_t i = 0; i < a.k; ++i) ntt_inverse(a.comp(i), base.ntt(i));
  a.ntt_form = false;
}

void add_inplace(RnsPoly& a, const RnsPoly& b, const RnsBase& base) {
  check2(a, b, base);
  for (std::size_t i = 0; i < a.k; ++i) {
    const u64 p = base.mod(i).value;
    u64* x = a.comp(i);
    const u64* y = b.comp(i);
    for (std::size_t j = 0; j < a.n; ++j) x[j] = add_mod(x[j], y[j], p);
  }
}

void sub_inplace(RnsPoly& a, const RnsPoly& b, const RnsBase& base) {
  check2(a, b, base);
  for (std::size_t i = 0; i < a.k; ++i) {
    const u64 p = base.mod(i).value;
    u64* x = a.comp(i);
    const u64* y = b.comp(i);
    for (std::size_t j = 0; j < a.n; ++j) x[j] = sub_mod(x[j], y[j], p);
  }
}

void negate_inplace(RnsPoly& a, const RnsBase& base) {
  check(a, base);
  for (std::size_t i = 0; i < a.k; ++i) {
    const u64 p = base.mod(i).value;
    u64* x = a.comp(i);
    for (std::size_t j = 0; j < a.n; ++j) x[j] = neg_mod(x[j], p);
  }
}

void mul_inplace(RnsPoly& a, const RnsPoly& b, const RnsBase& base) {
  check2(a, b, base);
  require(a.ntt_form, ErrorCode::kInvalidArgument, "mul_inplace needs NTT form");
  for (std::size_t i = 0; i < a.k; ++i) {
    const Modulus& m = base.mod(i);
    u64* x = a.comp(i);
    const u64* y = b.comp(i);
    for (std::size_t j = 0; j < a.n; ++j) x[j] = mul_mod(x[j], y[j], m);
  }
}

void mul_acc(RnsPoly& acc, const RnsPoly& a, const RnsPoly& b, const RnsBase& base) {
  check2(acc, a, base);
  check2(a, b, base);
  require(a.ntt_form, ErrorCode::kInvalidArgument, "mul_acc needs NTT form");
  for (std::size_t i = 0; i < a.k; ++i) {
    const Modulus& m = base.mod(i);
    u64* z = acc.comp(i);
    const u64* x = a.comp(i);
    const u64* y = b.comp(i);
    for (std::size_t j = 0; j < a.n; ++j) z[j] = add_mod(z[j], mul_mod(x[j], y[j], m), m.value);
  }
}

void dot_product(RnsPoly& out, std::span<const RnsPoly* const> a, std::span<const RnsPoly* const> b,
                 const RnsBase& base) {
  require(a.size() == b.size(), ErrorCode::kInvalidArgument, "dot_product: term counts differ");
  check(out, base);
  for (std::size_t t = 0; t < a.size(); ++t) {
    check2(out, *a[t], base);
    check2(out, *b[t], base);
    require(a[t]->ntt_form && b[t]->ntt_form, ErrorCode::kInvalidArgument, "dot_product needs NTT form");
  }
  out.ntt_form = true;
  std::vector<u128> acc(out.n);
  for (std::size_t i = 0; i < out.k; ++i) {
    const Modulus& m = base.mod(i);
    const int room = 128 - 2 * m.bits;  // terms that fit before a reduction
    const std::size_t batch = room >= 30 ? (std::size_t{1} << 30) : (std::size_t{1} << room);
    u64* z = out.comp(i);
    std::fill(acc.begin(), acc.end(), 0);
    for (std::size_t t = 0; t < a.size(); ++t) {
      const u64* x = a[t]->comp(i);
      const u64* y = b[t]->comp(i);
      for (std::size_t j = 0; j < out.n; ++j) acc[j] += static_cast<u128>(x[j]) * y[j];
      if ((t + 1) % batch == 0)
        for (std::size_t j = 0; j < out.n; ++j) acc[j] = barrett_reduce_128(acc[j], m);
    }
    for (std::size_t j = 0; j < out.n; ++j) z[j] = barrett_reduce_128(acc[j], m);
  }
}

void mul_scalar_inplace(RnsPoly& a, u64 c, const RnsBase& base) {
  check(a, base);
  for (std::size_t i = 0; i < a.k; ++i) {
    const u64 p = base.mod(i).value;
    const u64 w = barrett_reduce_64(c, base.mod(i)), ws = shoup_precompute(w, p);
    u64* x = a.comp(i);
    for (std::size_t j = 0; j < a.n; ++j) x[j] = mul_mod_shoup(x[j], w, ws, p);
  }
}

RnsPoly multiply_monomial(const RnsPoly& a, std::size_t e, const RnsBase& base) {
  check(a, base);
  require(!a.ntt_form, ErrorCode::kInvalidArgument, "multiply_monomial needs coefficient form");
  require(e < 2 * a.n, ErrorCode::kInvalidArgument, "monomial exponent must be in [0, 2N)");
  RnsPoly r(a.n, a.k, false);
  const std::size_t n = a.n;
  for (std::size_t i = 0; i < a.k; ++i) {
    const u64 p = base.mod(i).value;
    const u64* x = a.comp(i);
    u64* y = r.comp(i);
    for (std::size_t j = 0; j < n; ++j) {
      std::size_t d = j + e;  // < 3N
      bool neg = false;
      while (d >= n) {
        d -= n;
        neg = !neg;
      }
      y[d] = neg ? neg_mod(x[j], p) : x[j];
    }
  }
  return r;
}

std::vector<std::size_t> automorphism_ntt_permutation(std::size_t n, std::size_t g) {
  const std::size_t two_n = 2 * n;
  require(n >= 2 && (n & (n - 1)) == 0 && (g & 1) == 1 && g < two_n, ErrorCode::kInvalidArgument,
          "automorphism: N must be a power of two and g odd in [1, 2N)");
  int log_n = 0;
  while ((std::size_t{1} << log_n) < n) ++log_n;
  // Evaluation j is at ψ^(2·rev(j)+1); b(ψ^e) = a(ψ^(e·g)).
  std::vector<std::size_t> perm(n);
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t e = 2 * bit_reverse(j, log_n) + 1;
    const std::size_t eg = (e * g) & (two_n - 1);
    perm[j] = bit_reverse((eg - 1) / 2, log_n);
  }
  return perm;
}

RnsPoly automorphism(const RnsPoly& a, std::size_t g, const RnsBase& base) {
  check(a, base);
  const std::size_t n = a.n, two_n = 2 * n;
  require((g & 1) == 1 && g < two_n, ErrorCode::kInvalidArgument,
          "Galois element must be odd and in [1, 2N)");
  RnsPoly r(n, a.k, a.ntt_form);
  if (a.ntt_form) {
    const std::vector<std::size_t> perm = automorphism_ntt_permutation(n, g);
    for (std::size_t i = 0; i < a.k; ++i) {
      const u64* x = a.comp(i);
      u64* y = r.comp(i);
      for (std::size_t j = 0; j < n; ++j) y[j] = x[perm[j]];
    }
  } else {
    for (std::size_t i = 0; i < a.k; ++i) {
      const u64 p = base.mod(i).value;
      const u64* x = a.comp(i);
      u64* y = r.comp(i);
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t e = (j * g) & (two_n - 1);
        if (e < n)
          y[e] = x[j];
        else
          y[e - n] = neg_mod(x[j], p);
      }
    }
  }
  return r;
}

BigUInt crt_compose(const RnsPoly& a, std::size_t j, const RnsBase& base) {
  check(a, base);
  require(!a.ntt_form && j < a.n, ErrorCode::kInvalidArgument, "crt_compose: bad form or index");
  require(a.k == base.size(), ErrorCode::kInvalidArgument, "crt_compose needs every prime");
  BigUInt acc;
  for (std::size_t i = 0; i < a.k; ++i) {
    const u64 y = mul_mod(a.comp(i)[j], base.q_hat_inv(i), base.mod(i));
    BigUInt term = base.q_hat(i);
    term.mul_u64(y);
    acc.add(term);
  }
  while (acc >= base.q()) acc.sub(base.q());
  return acc;
}

void set_signed(RnsPoly& a, std::size_t j, std::int64_t v, const RnsBase& base) {
  for (std::size_t i = 0; i < a.k; ++i) a.comp(i)[j] = from_signed(v, base.mod(i));
}

}  // namespace peregrine::math
