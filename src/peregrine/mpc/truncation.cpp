#include "peregrine/mpc/truncation.hpp"

#include <algorithm>
#include <bit>

#include "peregrine/core/error.hpp"

namespace peregrine::mpc {

namespace {

/// x + c for a public c (the server's share moves), same ring.
ArithShares plus_public(MpcSession& s, const ArithShares& x, u64 c) { return add_public(x, c, s.party()); }

/// The hint about MSB(x + 2^{ℓ−1}) given the hint about MSB(x): the offset flips the top bit.
MsbHint flipped(MsbHint h) {
  switch (h) {
    case MsbHint::kZero: return MsbHint::kOne;
    case MsbHint::kOne: return MsbHint::kZero;
    default: return MsbHint::kUnknown;
  }
}

/// Arithmetic shares over `out` of wrap(x) = 1{x_0 + x_1 ≥ 2^ℓ}: from the hint when there is one,
/// else from a millionaire on ℓ bits and a B2A.
ArithShares wrap_arith(MpcSession& s, const ArithShares& x, MsbHint hint, const Ring& out) {
  if (hint != MsbHint::kUnknown) return wrap_msb_known(s, x, hint, out);
  return b2a(s, wrap_bits(s, x, x.ring.bits), out);
}

}  // namespace

BoolShares wrap_bits(MpcSession& s, const ArithShares& x, int k) {
  require(k >= 1 && k <= x.ring.bits, ErrorCode::kInvalidArgument, "wrap_bits: k must be in [1, ell]");
  require_in_ring(x, "wrap_bits: share not below 2^ell");
  const u64 km = Ring(k).mask;
  std::vector<u64> in(x.v.size());
  for (std::size_t i = 0; i < in.size(); ++i)
    in[i] = s.is_server() ? (x.v[i] & km) : (km - (x.v[i] & km));
  return millionaire_gt(s, in, k);
}

ArithShares wrap_msb_known(MpcSession& s, const ArithShares& x, MsbHint msb, const Ring& out) {
  require(msb != MsbHint::kUnknown, ErrorCode::kInvalidArgument, "wrap_msb_known: the MSB hint is required");
  require_in_ring(x, "wrap_msb_known: share not below 2^ell");
  const std::size_t n = x.v.size();
  ArithShares w{out, std::vector<u64>(n)};
  if (n == 0) return w;
  // p = msb_0·msb_1 from one additive COT: the server (sender) gets r, the client r + msb_1·msb_0.
  std::vector<u64> mine(n), p(n);
  for (std::size_t i = 0; i < n; ++i) mine[i] = static_cast<u64>(x.ring.msb(x.v[i]));
  if (s.is_server()) {
    std::vector<u64> r(n);
    s.ot_sender().send_cot_additive(mine, r, out.bits);
    for (std::size_t i = 0; i < n; ++i) p[i] = out.reduce(0 - r[i]);
  } else {
    std::vector<std::uint8_t> choice(n);
    for (std::size_t i = 0; i < n; ++i) choice[i] = static_cast<std::uint8_t>(mine[i]);
    s.ot_receiver().recv_cot_additive(choice, p, out.bits);
  }
  // MSB(x) = 0: wrap = msb_0 ∨ msb_1 = msb_0 + msb_1 − p;  MSB(x) = 1: wrap = p.
  for (std::size_t i = 0; i < n; ++i)
    w.v[i] = msb == MsbHint::kZero ? out.reduce(mine[i] - p[i]) : p[i];
  return w;
}

ArithShares truncate(MpcSession& s, const ArithShares& x, int f, TruncMode mode, MsbHint msb) {
  const Ring& r = x.ring;
  const int ell = r.bits;
  require(ell >= 2 && f >= 1 && f < ell, ErrorCode::kInvalidArgument, "truncate: need 1 <= f < ell");
  require_in_ring(x, "truncate: share not below 2^ell");
  const std::size_t n = x.v.size();
  const u64 half = u64{1} << (ell - 1);
  const ArithShares xp = plus_public(s, x, half);  // x' = x + 2^{ℓ−1}: the signed range made unsigned
  // 2^{ℓ−f}·wrap(x') mod 2^ℓ needs wrap mod 2^f only.
  const ArithShares w = wrap_arith(s, xp, flipped(msb), Ring(f));
  ArithShares c{r, std::vector<u64>(n, 0)};
  if (mode == TruncMode::kExact) c = b2a(s, wrap_bits(s, xp, f), r);  // carry of the low f bits
  ArithShares y{r, std::vector<u64>(n)};
  const u64 off = s.is_server() ? (half >> f) : 0;
  for (std::size_t i = 0; i < n; ++i)
    y.v[i] = r.reduce((xp.v[i] >> f) + c.v[i] - (w.v[i] << (ell - f)) - off);
  return y;
}

ArithShares truncate_reduce(MpcSession& s, const ArithShares& x, int f, int out_bits, TruncMode mode) {
  const Ring& r = x.ring;
  const int ell = r.bits;
  require(ell >= 2 && f >= 1 && out_bits >= 1 && out_bits <= ell - f, ErrorCode::kInvalidArgument,
          "truncate_reduce: need 1 <= f and 1 <= out_bits <= ell - f");
  require_in_ring(x, "truncate_reduce: share not below 2^ell");
  const std::size_t n = x.v.size();
  const u64 half = u64{1} << (ell - 1);
  const ArithShares xp = plus_public(s, x, half);
  const Ring out(out_bits);
  ArithShares c{out, std::vector<u64>(n, 0)};
  if (mode == TruncMode::kExact) c = b2a(s, wrap_bits(s, xp, f), out);  // carry of the low f bits
  ArithShares y{out, std::vector<u64>(n)};
  const u64 off = s.is_server() ? (half >> f) : 0;
  for (std::size_t i = 0; i < n; ++i) y.v[i] = out.reduce((xp.v[i] >> f) + c.v[i] - off);
  return y;
}

std::vector<ArithShares> extract_digits(MpcSession& s, const ArithShares& x, int B, int b, int out_bits, int first) {
  const int ell = x.ring.bits;
  require(B >= 1 && b >= 1 && b <= ell && B <= ell / b && out_bits >= 0 && out_bits <= 64 && first >= 0 && first < b,
          ErrorCode::kInvalidArgument,
          "extract_digits: need B >= 1, b >= 1, b*B <= ell, out_bits <= 64 and 0 <= first < b");
  require_in_ring(x, "extract_digits: share not below 2^ell");
  const Ring out(out_bits == 0 ? B : out_bits);
  const std::size_t n = x.v.size();
  const u64 half = u64{1} << (B - 1);
  u64 bias = 0;
  for (int k = 0; k < b; ++k) bias += half << (k * B);  // < 2^{bB} ≤ 2^ℓ
  const ArithShares xp = plus_public(s, x, x.ring.reduce(bias));
  // T_k = (V'_p >> kB) + c_k (each party its part; the server also takes the −2^{B−1} of d_k).
  const int last = out.bits > B ? b : b - 1;  // T_b is needed only when 2^B·T_{k+1} survives mod 2^out
  // carry_k = 1{(V'_0 mod 2^{kB}) + (V'_1 mod 2^{kB}) ≥ 2^{kB}} = 1{(V'_0 mod 2^{kB}) > (~V'_1 mod
  // 2^{kB})}: prefix comparisons of the same two numbers, all from one millionaire_prefix_gt.
  // Digits first … b − 1 read T_first … T_last, so only the carries c_lo … c_last go through a B2A.
  const int lo = std::max(first, 1);
  ArithShares carries{out, {}};
  if (last >= lo) {
    const u64 lmask = Ring(last * B).mask;
    std::vector<u64> in(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = (s.is_server() ? xp.v[i] : ~xp.v[i]) & lmask;
    const BoolShares all = millionaire_prefix_gt(s, in, last, B);
    BoolShares used(static_cast<std::size_t>(last - lo + 1) * n);
    const std::size_t skip = static_cast<std::size_t>(lo - 1) * n;
    for (std::size_t i = 0; i < used.n; ++i) used.set(i, all.get(skip + i));
    carries = b2a(s, used, out);
  }
  std::vector<std::vector<u64>> T(static_cast<std::size_t>(last) + 1);
  for (int k = first; k <= last; ++k) {
    const int shift = k * B;
    auto& t = T[static_cast<std::size_t>(k)];
    t.resize(n);
    for (std::size_t i = 0; i < n; ++i) t[i] = shift >= 64 ? 0 : xp.v[i] >> shift;
    if (k == 0) continue;
    const u64* c = carries.v.data() + static_cast<std::size_t>(k - lo) * n;
    for (std::size_t i = 0; i < n; ++i) t[i] += c[i];
  }
  const u64 off = s.is_server() ? half : 0;
  std::vector<ArithShares> digits;
  for (int k = first; k < b; ++k) {
    ArithShares d{out, std::vector<u64>(n)};
    const auto& t = T[static_cast<std::size_t>(k)];
    for (std::size_t i = 0; i < n; ++i) {
      const u64 next = k < last ? T[static_cast<std::size_t>(k) + 1][i] : 0;
      d.v[i] = out.reduce(t[i] - (B >= 64 ? 0 : next << B) - off);
    }
    digits.push_back(std::move(d));
  }
  return digits;
}

ArithShares extend(MpcSession& s, const ArithShares& x, int to_bits, bool is_signed, MsbHint msb) {
  const int ell = x.ring.bits;
  require(to_bits > ell && to_bits <= 64, ErrorCode::kInvalidArgument, "extend: need ell < to_bits <= 64");
  require_in_ring(x, "extend: share not below 2^ell");
  const Ring out(to_bits);
  const u64 half = u64{1} << (ell - 1);
  const ArithShares xp = is_signed ? plus_public(s, x, half) : x;
  const ArithShares w = wrap_arith(s, xp, is_signed ? flipped(msb) : msb, Ring(to_bits - ell));
  ArithShares y{out, std::vector<u64>(x.v.size())};
  const u64 off = (is_signed && s.is_server()) ? half : 0;
  for (std::size_t i = 0; i < y.v.size(); ++i) y.v[i] = out.reduce(xp.v[i] - (w.v[i] << ell) - off);
  return y;
}

std::vector<u64> truncate_mod_t(MpcSession& s, std::span<const u64> y, u64 t, int k, int ell_y, int m) {
  require(t >= 3 && (t & 1) == 1 && t < (u64{1} << 62), ErrorCode::kInvalidArgument, "truncate_mod_t: t must be odd in [3, 2^62)");
  require(k >= 1 && k < ell_y && ell_y < 62 && (u64{1} << ell_y) <= t, ErrorCode::kInvalidArgument,
          "truncate_mod_t: needs 1 ≤ k < ell_y and 2^ell_y ≤ t");
  for (u64 v : y) require(v < t, ErrorCode::kInvalidArgument, "truncate_mod_t: share not below t");
  const int lt = std::bit_width(t);  // t < 2^lt: the comparison's width
  const std::size_t n = y.size();
  const u64 h = u64{1} << (ell_y - 1);
  std::vector<u64> mine(n), cmp(n);
  for (std::size_t i = 0; i < n; ++i) {
    mine[i] = s.is_server() ? (y[i] + h) % t : y[i];         // a (server) or b (client)
    cmp[i] = s.is_server() ? t - mine[i] : mine[i];          // t − a ∈ [1, t] against b ∈ [0, t)
  }
  BoolShares w = millionaire_gt(s, cmp, lt, m);  // 1{t − a > b} = 1 − wrap
  if (s.is_server())
    for (std::size_t i = 0; i < n; ++i) w.set(i, w.get(i) ^ 1);
  const std::vector<u64> wt = b2a_mod_t(s, w, t, t >> k);
  std::vector<u64> out(n);
  const u64 hk = h >> k;
  for (std::size_t i = 0; i < n; ++i) {
    u64 v = (mine[i] >> k) + t - wt[i];
    if (s.is_server()) v += t - hk;
    out[i] = v % t;
  }
  return out;
}

}  // namespace peregrine::mpc
