#include "peregrine/mpc/pool.hpp"

#include "peregrine/core/error.hpp"

namespace peregrine::mpc {

namespace {

/// One level of the comparison tree over groups of `cnt` values ([groups][cnt] in cur, and the
/// matching index shares when idx != nullptr): pairs (2i, 2i+1) → b + DReLU(a − b)·(a − b), an odd
/// last value passes through. Returns the new count ⌈cnt / 2⌉.
std::size_t tree_level(MpcSession& s, std::size_t groups, std::size_t cnt, ArithShares& cur,
                       ArithShares* idx) {
  const Ring& r = cur.ring;
  const std::size_t pairs = cnt / 2, next = (cnt + 1) / 2, np = groups * pairs;
  ArithShares diff{r, std::vector<u64>(np)};
  for (std::size_t g = 0; g < groups; ++g)
    for (std::size_t i = 0; i < pairs; ++i)
      diff.v[g * pairs + i] = r.reduce(cur.v[g * cnt + 2 * i] - cur.v[g * cnt + 2 * i + 1]);
  const BoolShares ge = drelu(s, diff);  // 1{a ≥ b}: ties keep a, the earlier element
  // One multiplexer over the value differences (and the index differences, same bits).
  ArithShares sel = diff;
  BoolShares bits = ge;
  if (idx != nullptr) {
    bits = BoolShares(2 * np);
    sel.v.resize(2 * np);
    for (std::size_t g = 0; g < groups; ++g)
      for (std::size_t i = 0; i < pairs; ++i) {
        const std::size_t k = g * pairs + i;
        sel.v[np + k] = r.reduce(idx->v[g * cnt + 2 * i] - idx->v[g * cnt + 2 * i + 1]);
        bits.set(k, ge.get(k));
        bits.set(np + k, ge.get(k));
      }
  }
  const ArithShares picked = mux(s, bits, sel);
  auto reduce_into = [&](ArithShares& a, std::size_t base) {
    ArithShares out{r, std::vector<u64>(groups * next)};
    for (std::size_t g = 0; g < groups; ++g) {
      for (std::size_t i = 0; i < pairs; ++i)
        out.v[g * next + i] = r.reduce(a.v[g * cnt + 2 * i + 1] + picked.v[base + g * pairs + i]);
      if (cnt % 2 == 1) out.v[g * next + pairs] = a.v[g * cnt + cnt - 1];
    }
    a = std::move(out);
  };
  reduce_into(cur, 0);
  if (idx != nullptr) reduce_into(*idx, np);
  return next;
}

void check_groups(const ArithShares& x, std::size_t k) {
  require(k >= 1 && x.v.size() % k == 0, ErrorCode::kInvalidArgument,
          "max_groups: need k >= 1 and a multiple of k values");
  require(x.ring.bits >= 2, ErrorCode::kInvalidArgument, "max_groups: ring must have at least 2 bits");
  require_in_ring(x, "max_groups: share not below 2^ell");
}

}  // namespace

ArithShares max_groups(MpcSession& s, const ArithShares& x, std::size_t k) {
  check_groups(x, k);
  const std::size_t groups = x.v.size() / k;
  ArithShares cur = x;
  for (std::size_t cnt = k; cnt > 1;) cnt = tree_level(s, groups, cnt, cur, nullptr);
  return cur;
}

ArgmaxShares argmax_groups(MpcSession& s, const ArithShares& x, std::size_t k) {
  check_groups(x, k);
  require(k < (u64{1} << (x.ring.bits - 1)), ErrorCode::kInvalidArgument, "argmax_groups: k must be < 2^(ell-1)");
  const std::size_t groups = x.v.size() / k;
  ArgmaxShares out{x, ArithShares{x.ring, std::vector<u64>(x.v.size(), 0)}};
  if (s.is_server())  // the public indices, held as the server's share
    for (std::size_t g = 0; g < groups; ++g)
      for (std::size_t i = 0; i < k; ++i) out.index.v[g * k + i] = i;
  for (std::size_t cnt = k; cnt > 1;) cnt = tree_level(s, groups, cnt, out.value, &out.index);
  return out;
}

ArithShares maxpool2d(MpcSession& s, const ArithShares& x, std::size_t C, std::size_t H, std::size_t W,
                      std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw) {
  require(kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1 && kh <= H && kw <= W, ErrorCode::kInvalidArgument,
          "maxpool2d: window and strides must be >= 1 and the window must fit");
  require(C >= 1 && x.v.size() == C * H * W, ErrorCode::kInvalidArgument,
          "maxpool2d: x must hold C * H * W values");
  const std::size_t Ho = (H - kh) / sh + 1, Wo = (W - kw) / sw + 1, k = kh * kw;
  ArithShares win{x.ring, std::vector<u64>(C * Ho * Wo * k)};
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = 0; i < Ho; ++i)
      for (std::size_t j = 0; j < Wo; ++j)
        for (std::size_t a = 0; a < kh; ++a)
          for (std::size_t b = 0; b < kw; ++b)
            win.v[((c * Ho + i) * Wo + j) * k + a * kw + b] = x.v[(c * H + i * sh + a) * W + j * sw + b];
  return max_groups(s, win, k);
}

}  // namespace peregrine::mpc
