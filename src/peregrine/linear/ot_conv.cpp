#include "peregrine/linear/ot_conv.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "peregrine/core/error.hpp"
#include "peregrine/mpc/arith.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::linear {

namespace {

// The integer Winograd matrices (TECHNIQUES.md §4.2): Bᵀ [α][α], G' = D_G·G [α][3], Aᵀ [m][α].
struct WinogradMatrices {
  std::size_t m, alpha;
  int e;          // D = 2^e · odd
  u64 odd;        // the odd part of D
  std::vector<std::int64_t> Bt, Gp, At;
};

const WinogradMatrices& matrices(WinogradTile t) {
  static const WinogradMatrices f2{2, 4, 2, 1,
                                   {1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, 1, 0, -1},
                                   {2, 0, 0, 1, 1, 1, 1, -1, 1, 0, 0, 2},
                                   {1, 1, 1, 0, 0, 1, -1, -1}};
  static const WinogradMatrices f4{4, 6, 6, 9,
                                   {4, 0, -5, 0, 1, 0, 0, -4, -4, 1, 1, 0, 0, 4, -4, -1, 1, 0,
                                    0, -2, -1, 2, 1, 0, 0, 2, -1, -2, 1, 0, 0, 4, 0, -5, 0, 1},
                                   {6, 0, 0, -4, -4, -4, -4, 4, -4, 1, 2, 4, 1, -2, 4, 0, 0, 24},
                                   {1, 1, 1, 1, 1, 0, 0, 1, -1, 2, -2, 0, 0, 1, 1, 4, 4, 0, 0, 1, -1, 8, -8, 1}};
  return t == WinogradTile::kF2 ? f2 : f4;
}

// gcd of row r of G' (its public bit weight factor).
std::int64_t row_factor(const WinogradMatrices& w, std::size_t r) {
  std::int64_t g = 0;
  for (std::size_t i = 0; i < 3; ++i) g = std::gcd(g, std::abs(w.Gp[r * 3 + i]));
  return g;
}

// Coefficients of U'[ξ][ν] = Σ_ij c_ij·g_ij: G'[ξ][i]·G'[ν][j] / (f_ξ·f_ν).
std::array<std::int64_t, 9> coefficients(const WinogradMatrices& w, std::size_t xi, std::size_t nu) {
  const std::int64_t f = row_factor(w, xi) * row_factor(w, nu);
  std::array<std::int64_t, 9> c{};
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j) c[i * 3 + j] = w.Gp[xi * 3 + i] * w.Gp[nu * 3 + j] / f;
  return c;
}

// The signed width of Σ c_i·g_i over g_i ∈ [lo, hi].
int combination_bits(std::span<const std::int64_t> c, std::int64_t lo, std::int64_t hi) {
  std::int64_t mn = 0, mx = 0;
  for (const std::int64_t k : c) {
    mn += k > 0 ? k * lo : k * hi;
    mx += k > 0 ? k * hi : k * lo;
  }
  int b = 1;
  while (mn < -(std::int64_t{1} << (b - 1)) || mx > (std::int64_t{1} << (b - 1)) - 1) ++b;
  return b;
}

u64 inverse_odd(u64 a) {  // a^{-1} mod 2^64 by Newton's iteration (a odd)
  u64 x = a;
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}

}  // namespace

const char* winograd_tile_name(WinogradTile t) noexcept {
  switch (t) {
    case WinogradTile::kF2: return "f2";
    case WinogradTile::kF4: return "f4";
    case WinogradTile::kDirect: break;
  }
  return "direct";
}

OtConvStrategy::OtConvStrategy(const Conv2dMeta& meta, std::uint64_t act_bound, WinogradTile tile, int in_bits,
                               int out_bits, WeightDomain domain)
    : meta_(meta), tile_(tile), domain_(domain), B_(meta.output_bits(act_bound)), out_bits_(out_bits) {
  require(out_bits >= 1 && out_bits <= 64 && in_bits >= 1 && in_bits <= 64, ErrorCode::kInvalidArgument,
          "ot conv: ring widths must be in [1, 64]");
  const Conv2dMeta& m = meta_;
  const bool wino = tile != WinogradTile::kDirect;
  require(!wino || (m.kh == 3 && m.kw == 3 && m.stride_h == 1 && m.stride_w == 1 && m.groups == 1),
          ErrorCode::kUnsupported, "ot conv: Winograd F(m, 3x3) needs a 3x3 kernel, stride 1 and groups 1");
  const bool wdomain = domain == WeightDomain::kWinograd;
  require(!wdomain || wino, ErrorCode::kUnsupported, "ot conv: Winograd-domain weights need the F2 or F4 tile");
  if (wdomain) {  // B from the transforms' row norms; no division
    const WinogradMatrices& w = matrices(tile);
    std::vector<double> l1b(w.alpha, 0);
    for (std::size_t xi = 0; xi < w.alpha; ++xi)
      for (std::size_t i = 0; i < w.alpha; ++i) l1b[xi] += std::abs(static_cast<double>(w.Bt[xi * w.alpha + i]));
    double row = 0;
    for (std::size_t r = 0; r < w.m; ++r) {
      double sum = 0;
      for (std::size_t xi = 0; xi < w.alpha; ++xi) sum += std::abs(static_cast<double>(w.At[r * w.alpha + xi])) * l1b[xi];
      row = std::max(row, sum);
    }
    const double bound = row * row * static_cast<double>(m.C) * std::ldexp(1.0, m.weight_bits - 1) *
                         static_cast<double>(act_bound);
    B_ = static_cast<int>(std::ceil(std::log2(bound + 1))) + 1;
  }
  e_ = wino && !wdomain ? matrices(tile).e : 0;
  odd_ = wino && !wdomain ? matrices(tile).odd : 1;
  ell_ = std::min(B_, out_bits) + e_;
  require(ell_ <= 64 && ell_ <= in_bits, ErrorCode::kUnsupported,
          "ot conv: the GEMM ring (accumulator width + division bits) exceeds the input ring");
  const std::int64_t lo = -(std::int64_t{1} << (m.weight_bits - 1)), hi = -lo - 1;
  if (!wino) {
    const std::size_t K = m.C / m.groups * m.kh * m.kw;
    for (std::size_t g = 0; g < m.groups; ++g) gemms_.push_back({m.M / m.groups, K, m.out_h() * m.out_w(), m.weight_bits, 1});
    return;
  }
  const WinogradMatrices& w = matrices(tile);
  th_ = (m.out_h() + w.m - 1) / w.m;
  tw_ = (m.out_w() + w.m - 1) / w.m;
  for (std::size_t xi = 0; xi < w.alpha; ++xi)
    for (std::size_t nu = 0; nu < w.alpha; ++nu) {
      if (wdomain) {
        gemms_.push_back({m.M, m.C, th_ * tw_, m.weight_bits, 1});
        continue;
      }
      const auto c = coefficients(w, xi, nu);
      gemms_.push_back({m.M, m.C, th_ * tw_, combination_bits(c, lo, hi), row_factor(w, xi) * row_factor(w, nu)});
    }
}

std::uint64_t OtConvStrategy::cots() const noexcept {
  std::uint64_t n = 0;
  for (const OtGemm& g : gemms_) n += static_cast<std::uint64_t>(g.M * g.K) * static_cast<std::uint64_t>(std::min(g.wbits, ell_));
  return n;
}

std::uint64_t OtConvStrategy::payload_bits() const noexcept {
  std::uint64_t bits = 0;
  for (const OtGemm& g : gemms_)
    for (int j = 0; j < std::min(g.wbits, ell_); ++j)
      bits += static_cast<std::uint64_t>(g.M * g.K) * g.P * static_cast<std::uint64_t>(ell_ - j);
  return bits;
}

std::vector<u64> OtConvStrategy::transform_input(std::span<const u64> share) const {
  const Conv2dMeta& m = meta_;
  require(share.size() == m.C * m.H * m.W, ErrorCode::kInvalidArgument, "ot conv: input share must hold C*H*W values");
  const u64 mask = ell_ == 64 ? ~u64{0} : (u64{1} << ell_) - 1;
  // The padded input, read with zeros outside.
  const auto at = [&](std::size_t c, std::size_t r, std::size_t q) -> u64 {
    if (r < m.pad_top || q < m.pad_left) return 0;
    r -= m.pad_top;
    q -= m.pad_left;
    return r < m.H && q < m.W ? share[(c * m.H + r) * m.W + q] : 0;
  };
  const std::size_t Ho = m.out_h(), Wo = m.out_w();
  if (tile_ == WinogradTile::kDirect) {  // im2col per group: [Cg·kh·kw][Ho·Wo]
    const std::size_t cg = m.C / m.groups, K = cg * m.kh * m.kw, P = Ho * Wo;
    std::vector<u64> v(m.groups * K * P);
    for (std::size_t g = 0; g < m.groups; ++g)
      for (std::size_t c = 0; c < cg; ++c)
        for (std::size_t i = 0; i < m.kh; ++i)
          for (std::size_t j = 0; j < m.kw; ++j) {
            u64* row = v.data() + (g * K + (c * m.kh + i) * m.kw + j) * P;
            for (std::size_t oh = 0; oh < Ho; ++oh)
              for (std::size_t ow = 0; ow < Wo; ++ow)
                row[oh * Wo + ow] = at(g * cg + c, oh * m.stride_h + i, ow * m.stride_w + j) & mask;
          }
    return v;
  }
  // Winograd: V[ξν][c][tile] = Σ_ij Bᵀ[ξ][i]·Bᵀ[ν][j]·d[i][j], d the α×α tile at (a·m, b·m).
  const WinogradMatrices& w = matrices(tile_);
  const std::size_t A = w.alpha, P = th_ * tw_;
  std::vector<u64> v(A * A * m.C * P);
  std::vector<u64> d(A * A), t(A * A);
  for (std::size_t c = 0; c < m.C; ++c)
    for (std::size_t a = 0; a < th_; ++a)
      for (std::size_t b = 0; b < tw_; ++b) {
        for (std::size_t i = 0; i < A; ++i)
          for (std::size_t j = 0; j < A; ++j) d[i * A + j] = at(c, a * w.m + i, b * w.m + j);
        for (std::size_t xi = 0; xi < A; ++xi)  // t = Bᵀ·d
          for (std::size_t j = 0; j < A; ++j) {
            u64 s = 0;
            for (std::size_t i = 0; i < A; ++i) s += static_cast<u64>(w.Bt[xi * A + i]) * d[i * A + j];
            t[xi * A + j] = s;
          }
        for (std::size_t xi = 0; xi < A; ++xi)  // (Bᵀ·d)·B
          for (std::size_t nu = 0; nu < A; ++nu) {
            u64 s = 0;
            for (std::size_t j = 0; j < A; ++j) s += t[xi * A + j] * static_cast<u64>(w.Bt[nu * A + j]);
            v[((xi * A + nu) * m.C + c) * P + a * tw_ + b] = s & mask;
          }
      }
  return v;
}

std::vector<std::vector<std::int64_t>> OtConvStrategy::transform_weights(std::span<const std::int64_t> weights) const {
  const Conv2dMeta& m = meta_;
  std::vector<std::vector<std::int64_t>> u;
  if (domain_ == WeightDomain::kWinograd) {  // U_q [α²][M][C], one GEMM each
    const std::size_t A2 = gemms_.size(), n = m.M * m.C;
    require(weights.size() == A2 * n, ErrorCode::kInvalidArgument, "ot conv: Winograd-domain weights must hold a^2*M*C values");
    const std::int64_t lo = -(std::int64_t{1} << (m.weight_bits - 1)), hi = -lo - 1;
    for (const std::int64_t x : weights)
      require(x >= lo && x <= hi, ErrorCode::kInvalidArgument, "ot conv: Winograd-domain weight outside weight_bits");
    for (std::size_t i = 0; i < A2; ++i)
      u.emplace_back(weights.begin() + static_cast<std::ptrdiff_t>(i * n), weights.begin() + static_cast<std::ptrdiff_t>((i + 1) * n));
    return u;
  }
  m.check_weights(weights);
  const std::int64_t hi = (std::int64_t{1} << (m.weight_bits - 1)) - 1;
  for (const std::int64_t x : weights)
    require(x <= hi, ErrorCode::kInvalidArgument, "ot conv: a weight of 2^{w-1} needs one more weight bit");
  if (tile_ == WinogradTile::kDirect) {  // W_g: rows g·Mg … of the natural layout
    const std::size_t per = m.M / m.groups * (m.C / m.groups) * m.kh * m.kw;
    for (std::size_t g = 0; g < m.groups; ++g)
      u.emplace_back(weights.begin() + static_cast<std::ptrdiff_t>(g * per),
                     weights.begin() + static_cast<std::ptrdiff_t>((g + 1) * per));
    return u;
  }
  const WinogradMatrices& w = matrices(tile_);
  for (std::size_t xi = 0; xi < w.alpha; ++xi)
    for (std::size_t nu = 0; nu < w.alpha; ++nu) {
      const auto c = coefficients(w, xi, nu);
      std::vector<std::int64_t> pos(m.M * m.C);
      for (std::size_t k = 0; k < m.M * m.C; ++k) {
        std::int64_t s = 0;
        for (std::size_t t = 0; t < 9; ++t) s += c[t] * weights[k * 9 + t];
        pos[k] = s;
      }
      u.push_back(std::move(pos));
    }
  return u;
}

std::vector<u64> OtConvStrategy::transform_output(std::span<const u64> z, bool party0) const {
  const Conv2dMeta& m = meta_;
  const std::size_t Ho = m.out_h(), Wo = m.out_w();
  std::size_t total = 0;
  for (const OtGemm& g : gemms_) total += g.M * g.P;
  require(z.size() == total, ErrorCode::kInvalidArgument, "ot conv: GEMM products of the wrong size");
  const int out = ell_ - e_;
  const u64 omask = out == 64 ? ~u64{0} : (u64{1} << out) - 1;
  if (tile_ == WinogradTile::kDirect) {  // [g][Mg][Ho·Wo] is [M][Ho][Wo]
    std::vector<u64> y(z.begin(), z.end());
    for (auto& x : y) x &= omask;
    return y;
  }
  const WinogradMatrices& w = matrices(tile_);
  const std::size_t A = w.alpha, P = th_ * tw_, mm = w.m;
  const u64 lmask = ell_ == 64 ? ~u64{0} : (u64{1} << ell_) - 1, low = (u64{1} << e_) - 1;
  const u64 inv = inverse_odd(odd_);
  std::vector<u64> y(m.M * Ho * Wo);
  std::vector<u64> t(mm * A);
  for (std::size_t k = 0; k < m.M; ++k)
    for (std::size_t p = 0; p < P; ++p) {
      const auto M_at = [&](std::size_t xi, std::size_t nu) { return z[((xi * A + nu) * m.M + k) * P + p]; };
      for (std::size_t r = 0; r < mm; ++r)  // t = Aᵀ·M
        for (std::size_t nu = 0; nu < A; ++nu) {
          u64 s = 0;
          for (std::size_t xi = 0; xi < A; ++xi) s += static_cast<u64>(w.At[r * A + xi]) * M_at(xi, nu);
          t[r * A + nu] = s;
        }
      const std::size_t a = p / tw_, b = p % tw_;
      for (std::size_t r = 0; r < mm; ++r)
        for (std::size_t q = 0; q < mm; ++q) {
          if (a * mm + r >= Ho || b * mm + q >= Wo) continue;
          u64 s = 0;  // (Aᵀ·M)·A = D·Y mod 2^ℓ
          for (std::size_t nu = 0; nu < A; ++nu) s += t[r * A + nu] * static_cast<u64>(w.At[q * A + nu]);
          s &= lmask;
          // Exact division by 2^e: the low bits of the two shares sum to 0 or 2^e.
          u64 v = (s >> e_) + (party0 && (s & low) != 0 ? 1 : 0);
          v = (v * inv) & omask;
          y[(k * Ho + a * mm + r) * Wo + b * mm + q] = v;
        }
    }
  return y;
}

PreparedOtConv prepare_ot_conv(const OtConvStrategy& s, std::span<const std::int64_t> weights,
                               std::span<const std::int64_t> bias) {
  require(bias.empty() || bias.size() == s.meta().M, ErrorCode::kInvalidArgument, "conv: bias must hold M values");
  return {s.transform_weights(weights), std::vector<std::int64_t>(bias.begin(), bias.end())};
}

namespace {

// The layer's GEMMs (all of one shape: the groups of a direct conv, the positions of a Winograd
// one) as one batch, one COT exchange per weight bit; output rows chunked so that one COT batch
// holds at most kChunk values.
constexpr std::size_t kChunk = std::size_t{1} << 22;

std::vector<u64> run_gemms(mpc::MpcSession& s, const OtConvStrategy& st, const mpc::ArithShares& x,
                           const PreparedOtConv* w) {
  require(x.ring.bits >= st.ring_bits(), ErrorCode::kInvalidArgument,
          "ot conv: input shares must be over at least the GEMM ring");
  const mpc::Ring ring(st.ring_bits());
  const std::vector<u64> v = st.transform_input(x.v);
  const auto& gemms = st.gemms();
  const std::size_t G = gemms.size(), M = gemms[0].M, K = gemms[0].K, P = gemms[0].P;
  std::vector<mpc::ArithShares> vs;
  for (std::size_t i = 0; i < G; ++i)
    vs.push_back({ring, std::vector<u64>(v.begin() + static_cast<std::ptrdiff_t>(i * K * P),
                                         v.begin() + static_cast<std::ptrdiff_t>((i + 1) * K * P))});
  std::vector<u64> z(G * M * P);
  const std::size_t rows = std::max<std::size_t>(1, kChunk / std::max<std::size_t>(1, G * K * P));
  std::vector<mpc::ServerWeightGemm> batch(G);
  for (std::size_t r0 = 0; r0 < M; r0 += rows) {
    const std::size_t r1 = std::min(M, r0 + rows);
    for (std::size_t i = 0; i < G; ++i) {
      batch[i].v = &vs[i];
      batch[i].wbits = gemms[i].wbits;
      if (w) batch[i].w = std::span<const std::int64_t>(w->gemm_weights.at(i)).subspan(r0 * K, (r1 - r0) * K);
    }
    const auto zs = mpc::matmul_server_weights_batch(s, batch, r1 - r0, K);
    for (std::size_t i = 0; i < G; ++i)
      for (std::size_t e = 0; e < (r1 - r0) * P; ++e)
        z[(i * M + r0) * P + e] = ring.reduce(zs[i].v[e] * static_cast<u64>(gemms[i].scale));
  }
  return z;
}

// The conv output Y mod 2^{ℓ−e} → Z_{2^out_bits}: reduce, or a signed extension when wider.
mpc::ArithShares to_output_ring(mpc::MpcSession& s, const OtConvStrategy& st, std::vector<u64> y) {
  const int have = st.ring_bits() - st.division_bits();
  mpc::ArithShares r{mpc::Ring(have), std::move(y)};
  if (st.out_bits() <= have) {
    const mpc::Ring out(st.out_bits());
    for (auto& e : r.v) e = out.reduce(e);
    r.ring = out;
    return r;
  }
  return mpc::extend(s, r, st.out_bits(), true);
}

}  // namespace

mpc::ArithShares ot_conv_client(mpc::MpcSession& s, const OtConvStrategy& st, const mpc::ArithShares& x) {
  std::vector<u64> z = run_gemms(s, st, x, nullptr);
  return to_output_ring(s, st, st.transform_output(z, false));
}

mpc::ArithShares ot_conv_server(mpc::MpcSession& s, const OtConvStrategy& st, const mpc::ArithShares& x,
                                const PreparedOtConv& w) {
  require(w.gemm_weights.size() == st.gemms().size(), ErrorCode::kInvalidArgument,
          "ot conv: prepared weights of another plan");
  std::vector<u64> z = run_gemms(s, st, x, &w);
  mpc::ArithShares y = to_output_ring(s, st, st.transform_output(z, true));
  const std::size_t plane = st.meta().out_h() * st.meta().out_w();
  for (std::size_t m = 0; m < w.bias.size(); ++m)
    for (std::size_t k = 0; k < plane; ++k) y.v[m * plane + k] = y.ring.reduce(y.v[m * plane + k] + static_cast<u64>(w.bias[m]));
  return y;
}

}  // namespace peregrine::linear
