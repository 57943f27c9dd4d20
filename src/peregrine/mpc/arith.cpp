#include "peregrine/mpc/arith.hpp"

#include <algorithm>

#include "peregrine/core/error.hpp"

namespace peregrine::mpc {

namespace {

/// Gilboa product, correlation side: this party holds u (n values); the peer (gilboa_choose) holds
/// v. Adds this party's share of u·v mod 2^ℓ into acc. One COT_{ℓ−j} per bit j of v.
void gilboa_send(MpcSession& s, std::span<const u64> u, const Ring& r, std::span<u64> acc) {
  const std::size_t n = u.size();
  std::vector<u64> x(n);
  for (int j = 0; j < r.bits; ++j) {
    const int l = r.bits - j;
    s.ot_sender().send_cot_additive(u, x, l);  // the OT masks u to l bits
    for (std::size_t i = 0; i < n; ++i) acc[i] = r.reduce(acc[i] - (x[i] << j));
  }
}

/// Gilboa product, choice side: this party holds v; adds its share of u·v into acc.
void gilboa_choose(MpcSession& s, std::span<const u64> v, const Ring& r, std::span<u64> acc) {
  const std::size_t n = v.size();
  std::vector<std::uint8_t> bit(n);
  std::vector<u64> got(n);
  for (int j = 0; j < r.bits; ++j) {
    const int l = r.bits - j;
    for (std::size_t i = 0; i < n; ++i) bit[i] = static_cast<std::uint8_t>((v[i] >> j) & 1);
    s.ot_receiver().recv_cot_additive(bit, got, l);
    for (std::size_t i = 0; i < n; ++i) acc[i] = r.reduce(acc[i] + (got[i] << j));
  }
}

}  // namespace

ArithShares mul(MpcSession& s, const ArithShares& x, const ArithShares& y) {
  require(x.ring == y.ring && x.v.size() == y.v.size(), ErrorCode::kInvalidArgument,
          "mul: ring or size mismatch");
  require_in_ring(x, "mul: share not below 2^ell");
  require_in_ring(y, "mul: share not below 2^ell");
  const Ring& r = x.ring;
  ArithShares z{r, std::vector<u64>(x.v.size())};
  for (std::size_t i = 0; i < z.v.size(); ++i) z.v[i] = r.reduce(x.v[i] * y.v[i]);
  // Cross terms: (my x)·(peer's y) with me as correlation sender, (peer's x)·(my y) as chooser.
  s.both_ways([&](ot::OtSender&) { gilboa_send(s, x.v, r, z.v); },
              [&](ot::OtReceiver&) { gilboa_choose(s, y.v, r, z.v); });
  return z;
}

ArithShares square(MpcSession& s, const ArithShares& x) {
  require_in_ring(x, "square: share not below 2^ell");
  const Ring& r = x.ring;
  ArithShares z{r, std::vector<u64>(x.v.size())};
  for (std::size_t i = 0; i < z.v.size(); ++i) z.v[i] = r.reduce(x.v[i] * x.v[i]);
  if (s.is_server()) {  // 2·x_0·x_1: the server's correlation is 2·x_0
    std::vector<u64> twice(x.v.size());
    for (std::size_t i = 0; i < twice.size(); ++i) twice[i] = r.reduce(2 * x.v[i]);
    gilboa_send(s, twice, r, z.v);
  } else {
    gilboa_choose(s, x.v, r, z.v);
  }
  return z;
}

ArithShares square_plus_x(MpcSession& s, const ArithShares& x, int f) {
  require(f >= 1 && f < x.ring.bits, ErrorCode::kInvalidArgument, "square_plus_x: need 1 <= f < ell");
  ArithShares z = add(square(s, x), mul_public(x, u64{1} << f));
  return truncate(s, z, f, TruncMode::kExact);
}

std::vector<ArithShares> matmul_server_weights_batch(MpcSession& s, std::span<const ServerWeightGemm> gemms,
                                                     std::size_t M, std::size_t K) {
  require(!gemms.empty(), ErrorCode::kInvalidArgument, "matmul_server_weights: no GEMM");
  const Ring& r = gemms[0].v->ring;
  require(K >= 1 && gemms[0].v->v.size() % K == 0, ErrorCode::kInvalidArgument,
          "matmul_server_weights: V must hold K * P values");
  const std::size_t P = gemms[0].v->v.size() / K;
  for (const ServerWeightGemm& g : gemms) {
    require(g.wbits >= 1 && g.wbits <= 32, ErrorCode::kInvalidArgument, "matmul_server_weights: wbits must be in [1, 32]");
    require(g.v->ring == r && g.v->v.size() == K * P, ErrorCode::kInvalidArgument,
            "matmul_server_weights: every V must be K * P values over one ring");
    require_in_ring(*g.v, "matmul_server_weights: share not below 2^ell");
    const std::int64_t lo = -(std::int64_t{1} << (g.wbits - 1)), hi = (std::int64_t{1} << (g.wbits - 1)) - 1;
    if (s.is_server()) {
      require(g.w.size() == M * K, ErrorCode::kInvalidArgument, "matmul_server_weights: W must hold M * K values");
      for (std::int64_t x : g.w)
        require(x >= lo && x <= hi, ErrorCode::kInvalidArgument, "matmul_server_weights: weight outside wbits");
    } else {
      require(g.w.empty(), ErrorCode::kInvalidArgument, "matmul_server_weights: the client passes no weights");
    }
  }
  std::vector<ArithShares> z(gemms.size(), ArithShares{r, std::vector<u64>(M * P, 0)});
  if (M == 0 || P == 0) return z;
  if (s.is_server())  // W·V_0 locally
    for (std::size_t g = 0; g < gemms.size(); ++g)
      for (std::size_t m = 0; m < M; ++m)
        for (std::size_t k = 0; k < K; ++k) {
          const u64 wk = static_cast<u64>(gemms[g].w[m * K + k]);
          const u64* vk = gemms[g].v->v.data() + k * P;
          u64* zm = z[g].v.data() + m * P;
          for (std::size_t p = 0; p < P; ++p) zm[p] += wk * vk[p];
        }
  // W·V_1: per weight bit j one batch of vector COTs over every GEMM that has bit j, one per (g, m, k);
  // bit j of a wbits-bit two's complement weighs 2^j, the top bit −2^{wbits−1}. Bits j ≥ ℓ vanish
  // mod 2^ℓ.
  const std::size_t n = M * K;
  int max_bits = 0;
  for (const ServerWeightGemm& g : gemms) max_bits = std::max(max_bits, std::min(g.wbits, r.bits));
  std::vector<std::size_t> live;  // the GEMMs with bit j
  std::vector<u64> buf, delta;
  std::vector<std::uint8_t> bit;
  for (int j = 0; j < max_bits; ++j) {
    const int l = r.bits - j;
    live.clear();
    for (std::size_t g = 0; g < gemms.size(); ++g)
      if (j < std::min(gemms[g].wbits, r.bits)) live.push_back(g);
    buf.assign(live.size() * n * P, 0);
    if (s.is_server()) {
      bit.resize(live.size() * n);
      for (std::size_t a = 0; a < live.size(); ++a)
        for (std::size_t i = 0; i < n; ++i)
          bit[a * n + i] = static_cast<std::uint8_t>((static_cast<u64>(gemms[live[a]].w[i]) >> j) & 1);
      s.ot_receiver().recv_cot_additive(bit, buf, l, P);
    } else {
      // V_1[k, :] repeated for every row m; the top bit's weight is −2^{wbits−1}.
      delta.resize(live.size() * n * P);
      for (std::size_t a = 0; a < live.size(); ++a) {
        const ServerWeightGemm& g = gemms[live[a]];
        const bool sign = j == g.wbits - 1;
        u64* d = delta.data() + a * n * P;
        for (std::size_t m = 0; m < M; ++m) std::copy(g.v->v.begin(), g.v->v.end(), d + m * K * P);
        if (sign)
          for (std::size_t i = 0; i < n * P; ++i) d[i] = 0 - d[i];
      }
      s.ot_sender().send_cot_additive(delta, buf, l, P);
    }
    for (std::size_t a = 0; a < live.size(); ++a) {
      u64* zg = z[live[a]].v.data();
      const u64* b = buf.data() + a * n * P;
      for (std::size_t m = 0; m < M; ++m)
        for (std::size_t k = 0; k < K; ++k)
          for (std::size_t p = 0; p < P; ++p) {
            const u64 e = b[(m * K + k) * P + p] << j;
            zg[m * P + p] = s.is_server() ? zg[m * P + p] + e : zg[m * P + p] - e;
          }
    }
  }
  for (auto& zg : z)
    for (auto& e : zg.v) e = r.reduce(e);
  return z;
}

ArithShares matmul_server_weights(MpcSession& s, std::span<const std::int64_t> w, std::size_t M,
                                  std::size_t K, const ArithShares& v, int wbits) {
  const ServerWeightGemm g{w, &v, wbits};
  return std::move(matmul_server_weights_batch(s, std::span<const ServerWeightGemm>(&g, 1), M, K)[0]);
}

}  // namespace peregrine::mpc
