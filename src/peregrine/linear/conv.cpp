#include "peregrine/linear/conv.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "peregrine/core/error.hpp"
#include "peregrine/he/serialize.hpp"

namespace peregrine::linear {

namespace {

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

bool mul_overflows(std::size_t a, std::size_t b) {
  return a != 0 && b > std::numeric_limits<std::size_t>::max() / a;
}

}  // namespace

void Conv2dMeta::validate() const {
  require(C > 0 && H > 0 && W > 0 && M > 0 && kh > 0 && kw > 0 && stride_h > 0 && stride_w > 0 && groups > 0,
          ErrorCode::kInvalidArgument, "conv: sizes, kernel, strides and groups must be positive");
  require(C <= (1u << 20) && M <= (1u << 20) && H <= (1u << 16) && W <= (1u << 16) && kh <= 1024 && kw <= 1024 &&
              pad_top <= 1024 && pad_bottom <= 1024 && pad_left <= 1024 && pad_right <= 1024,
          ErrorCode::kInvalidArgument, "conv: dimension out of the supported range");
  require(!mul_overflows(C * H, W) && !mul_overflows(M * kh, kw * C), ErrorCode::kInvalidArgument,
          "conv: tensor sizes overflow");
  require(kh <= padded_h() && kw <= padded_w(), ErrorCode::kInvalidArgument, "conv: kernel larger than the padded input");
  require(C % groups == 0 && M % groups == 0, ErrorCode::kInvalidArgument, "conv: groups must divide C and M");
  require(weight_bits >= 1 && weight_bits <= 32, ErrorCode::kInvalidArgument, "conv: weight_bits must be in [1, 32]");
}

int Conv2dMeta::output_bits(std::uint64_t act_bound) const {
  validate();
  const double bound = static_cast<double>(act_bound) * std::ldexp(1.0, weight_bits - 1) *
                       static_cast<double>(C / groups * kh * kw);
  return static_cast<int>(std::ceil(std::log2(bound + 1))) + 1;
}

std::size_t CheetahConvStrategy::work_h() const noexcept { return tiling_.subsampled ? meta_.out_h() : meta_.padded_h(); }
std::size_t CheetahConvStrategy::work_w() const noexcept { return tiling_.subsampled ? meta_.out_w() : meta_.padded_w(); }

CheetahConvStrategy::CheetahConvStrategy(he::HeParamsPtr params, const Conv2dMeta& meta, TilePolicy policy)
    : params_(std::move(params)), meta_(meta) {
  meta_.validate();
  const std::size_t N = params_->n();
  const Conv2dMeta& m = meta_;
  tiling_.subsampled = m.kh == 1 && m.kw == 1 && (m.stride_h > 1 || m.stride_w > 1);
  const std::size_t wh = work_h(), ww = work_w();
  const std::size_t kh = m.kh, kw = m.kw;
  const std::size_t sh = tiling_.subsampled ? 1 : m.stride_h, sw = tiling_.subsampled ? 1 : m.stride_w;
  const double wmax = std::ldexp(1.0, m.weight_bits - 1);
  const std::size_t cg = m.C / m.groups;  // channels feeding one filter

  // Fills tiling_ for (Hw, Ww, Cw, Mw); false when the strides leave no valid row/column.
  auto set_tile = [&](std::size_t Hw, std::size_t Ww, std::size_t Cw, std::size_t Mw) {
    const std::size_t sth = ((Hw - kh + 1) / sh) * sh, stw = ((Ww - kw + 1) / sw) * sw;
    if (sth == 0 || stw == 0) return false;
    tiling_.Hw = Hw;
    tiling_.Ww = Ww;
    tiling_.Cw = Cw;
    tiling_.Mw = Mw;
    tiling_.step_h = sth;
    tiling_.step_w = stw;
    tiling_.n_h = ceil_div(wh - kh + 1, sth);
    tiling_.n_w = ceil_div(ww - kw + 1, stw);
    return true;
  };

  bool found = false;
  if (policy == TilePolicy::kOpenCheetah) {
    std::size_t Hw, Ww, Cw;
    if (wh * ww <= N) {
      Hw = wh;
      Ww = ww;
      Cw = std::min({m.C, N / (wh * ww), N / (kh * kw)});
    } else {
      Cw = 1;
      Hw = std::min<std::size_t>(static_cast<std::size_t>(std::sqrt(static_cast<double>(N) * wh / ww)), wh);
      Ww = std::min(N / std::max<std::size_t>(Hw, 1), ww);
      if ((Hw > Ww ? Hw - Ww : Ww - Hw) < 2) Hw = Ww = std::min(Hw, Ww);
    }
    found = Hw >= kh && Ww >= kw && Cw >= 1 && set_tile(Hw, Ww, Cw, 1);
  }
  if (!found) {
    // Enumerate every tile; score by the §0.7 bytes (response params per Mw), then products
    // (kMinBytes), or by tile_latency_score (kLatency).
    const std::size_t ct_in = he::ciphertext_bytes(*params_, params_->levels(), true);
    // Response parameters per Mw (the noise bound grows with the filters per kernel polynomial);
    // a Mw whose noise cannot be flooded is skipped.
    std::map<std::size_t, std::optional<ResponseParams>> rp_by_mw;
    auto rp_for = [&](std::size_t Mw, std::size_t kept) -> const std::optional<ResponseParams>& {
      auto it = rp_by_mw.find(Mw);
      if (it == rp_by_mw.end()) {
        // Upper bound over tiles: every channel group of a filter block, Mw·(C/groups)·kh·kw taps.
        const std::size_t taps[] = {Mw * cg * kh * kw};
        const double nb = product_noise_bound(taps, wmax) + static_cast<double>(m.C);
        it = rp_by_mw.emplace(Mw, try_response_params(*params_, nb, kept)).first;
      }
      return it->second;
    };
    std::pair<double, std::size_t> best{std::numeric_limits<double>::infinity(), SIZE_MAX};
    ConvTiling best_t;
    for (std::size_t Hw = kh; Hw <= wh; ++Hw)
      for (std::size_t Ww = kw; Ww <= ww && Hw * Ww <= N; ++Ww) {
        const std::size_t S = Hw * Ww;
        for (std::size_t Cw = 1; Cw <= std::min(m.C, N / S); ++Cw) {
          std::size_t Mw = std::min(m.M, N / (Cw * S));
          if (!set_tile(Hw, Ww, Cw, Mw)) break;
          while (Mw > 1 && !rp_for(Mw, 1).has_value()) --Mw;  // largest Mw that can be flooded
          if (!rp_for(Mw, 1).has_value()) continue;
          set_tile(Hw, Ww, Cw, Mw);
          const std::size_t tiles = tiling_.n_h * tiling_.n_w;
          const std::size_t n_in = ceil_div(m.C, Cw) * tiles, n_out = ceil_div(m.M, Mw) * tiles;
          const std::size_t kept = Mw * (tiling_.step_h / sh) * (tiling_.step_w / sw);
          const ResponseParams& rp = *rp_for(Mw, kept);
          const std::size_t bytes = n_in * ct_in + n_out * he::trimmed_bytes(*params_, rp.d0, rp.d1, kept);
          const std::size_t prods = ceil_div(m.M, Mw) * ceil_div(m.C, Cw) * tiles;
          const double score = policy == TilePolicy::kLatency
                                   ? tile_latency_score(static_cast<double>(bytes), static_cast<double>(n_in + n_out),
                                                        static_cast<double>(prods))
                                   : static_cast<double>(bytes);
          if (std::make_pair(score, prods) < best) {
            best = {score, prods};
            best_t = tiling_;
          }
        }
      }
    require(best.second != SIZE_MAX, ErrorCode::kUnsupported, "conv: no tile fits the ring degree N");
    tiling_ = best_t;
  }
  build_plan();
  std::size_t kept = 0;
  for (const auto& v : plan_.valid) kept += v.size();
  response_ = choose_response_params(*params_, plan_.noise_bound, std::max<std::size_t>(1, kept / plan_.n_out()));
}

void CheetahConvStrategy::build_plan() {
  const Conv2dMeta& m = meta_;
  const ConvTiling& t = tiling_;
  const std::size_t wh = work_h(), ww = work_w();
  const std::size_t sh = t.subsampled ? 1 : m.stride_h, sw = t.subsampled ? 1 : m.stride_w;
  const std::size_t S = t.Hw * t.Ww, Ho = m.out_h(), Wo = m.out_w();
  const std::size_t n_gamma = ceil_div(m.C, t.Cw), n_mu = ceil_div(m.M, t.Mw), tiles = t.n_h * t.n_w;
  const std::size_t O = S * (t.Mw * t.Cw - 1) + (m.kh - 1) * t.Ww + (m.kw - 1);
  const std::size_t cg = m.C / m.groups, mg = m.M / m.groups;
  const double wmax = std::ldexp(1.0, m.weight_bits - 1);

  plan_ = CoeffLayerPlan{};
  plan_.n_in = n_gamma * tiles;
  plan_.out_size = m.M * Ho * Wo;
  // Compact list of the structurally non-zero kernel polynomials (μ, γ) and their tap counts.
  std::vector<std::int64_t> kidx(n_mu * n_gamma, -1);
  std::vector<std::size_t> taps;
  kernel_blocks_.clear();
  for (std::size_t mu = 0; mu < n_mu; ++mu)
    for (std::size_t g = 0; g < n_gamma; ++g) {
      std::size_t pairs = 0;
      for (std::size_t mp = 0; mp < t.Mw && mu * t.Mw + mp < m.M; ++mp)
        for (std::size_t c = 0; c < t.Cw && g * t.Cw + c < m.C; ++c)
          pairs += ((mu * t.Mw + mp) / mg == (g * t.Cw + c) / cg);
      if (pairs == 0) continue;
      kidx[mu * n_gamma + g] = static_cast<std::int64_t>(kernel_blocks_.size());
      kernel_blocks_.emplace_back(mu, g);
      taps.push_back(pairs * m.kh * m.kw);
    }
  plan_.n_kernels = kernel_blocks_.size();

  for (std::size_t mu = 0; mu < n_mu; ++mu)
    for (std::size_t u = 0; u < t.n_h; ++u)
      for (std::size_t v = 0; v < t.n_w; ++v) {
        std::vector<Product> prods;
        std::vector<std::size_t> prod_taps;
        for (std::size_t g = 0; g < n_gamma; ++g) {
          const std::int64_t k = kidx[mu * n_gamma + g];
          if (k < 0) continue;
          prods.push_back({static_cast<std::uint32_t>(g * tiles + u * t.n_w + v), static_cast<std::uint32_t>(k)});
          prod_taps.push_back(taps[static_cast<std::size_t>(k)]);
        }
        std::vector<std::pair<std::uint32_t, std::uint32_t>> pos;  // (coefficient, output index)
        for (std::size_t mp = 0; mp < t.Mw && mu * t.Mw + mp < m.M; ++mp)
          for (std::size_t i = 0; i < t.step_h; i += sh) {
            const std::size_t gi = u * t.step_h + i;
            if (gi + m.kh > wh) break;
            for (std::size_t j = 0; j < t.step_w; j += sw) {
              const std::size_t gj = v * t.step_w + j;
              if (gj + m.kw > ww) break;
              pos.emplace_back(static_cast<std::uint32_t>(O - mp * t.Cw * S + i * t.Ww + j),
                               static_cast<std::uint32_t>(((mu * t.Mw + mp) * Ho + gi / sh) * Wo + gj / sw));
            }
          }
        if (pos.empty()) continue;
        std::sort(pos.begin(), pos.end());
        std::vector<std::uint32_t> valid(pos.size()), out(pos.size());
        for (std::size_t k = 0; k < pos.size(); ++k) {
          valid[k] = pos[k].first;
          out[k] = pos[k].second;
        }
        plan_.noise_bound = std::max(plan_.noise_bound, product_noise_bound(prod_taps, wmax));
        plan_.products.push_back(std::move(prods));
        plan_.valid.push_back(std::move(valid));
        plan_.out_index.push_back(std::move(out));
      }
}

std::vector<std::vector<u64>> CheetahConvStrategy::encode_input(std::span<const u64> share) const {
  const Conv2dMeta& m = meta_;
  const ConvTiling& t = tiling_;
  require(share.size() == m.C * m.H * m.W, ErrorCode::kInvalidArgument, "conv: input share must hold C*H*W values");
  const std::size_t N = params_->n(), wh = work_h(), ww = work_w(), S = t.Hw * t.Ww;
  const std::size_t n_gamma = ceil_div(m.C, t.Cw), tiles = t.n_h * t.n_w;
  const u64 tmask = params_->t() - 1;
  // Working-input value T(c, i, j): zero padding, then sub-sampling for 1×1 stride > 1.
  auto at = [&](std::size_t c, std::size_t i, std::size_t j) -> u64 {
    if (t.subsampled) {
      i *= m.stride_h;
      j *= m.stride_w;
    }
    if (i < m.pad_top || j < m.pad_left) return 0;
    i -= m.pad_top;
    j -= m.pad_left;
    if (i >= m.H || j >= m.W) return 0;
    return share[(c * m.H + i) * m.W + j] & tmask;
  };
  std::vector<std::vector<u64>> polys(n_gamma * tiles, std::vector<u64>(N, 0));
  for (std::size_t g = 0; g < n_gamma; ++g)
    for (std::size_t u = 0; u < t.n_h; ++u)
      for (std::size_t v = 0; v < t.n_w; ++v) {
        auto& p = polys[g * tiles + u * t.n_w + v];
        for (std::size_t c = 0; c < t.Cw && g * t.Cw + c < m.C; ++c)
          for (std::size_t i = 0; i < t.Hw && u * t.step_h + i < wh; ++i)
            for (std::size_t j = 0; j < t.Ww && v * t.step_w + j < ww; ++j)
              p[c * S + i * t.Ww + j] = at(g * t.Cw + c, u * t.step_h + i, v * t.step_w + j);
      }
  return polys;
}

void Conv2dMeta::check_weights(std::span<const std::int64_t> weights) const {
  require(weights.size() == M * (C / groups) * kh * kw, ErrorCode::kInvalidArgument,
          "conv: weights must hold M*(C/groups)*kh*kw values");
  const std::int64_t wlim = std::int64_t{1} << (weight_bits - 1);
  for (std::int64_t w : weights)
    require(w >= -wlim && w <= wlim, ErrorCode::kInvalidArgument, "conv: weight outside the declared weight_bits");
}

void CheetahConvStrategy::check_weights(std::span<const std::int64_t> weights) const { meta_.check_weights(weights); }

void CheetahConvStrategy::encode_kernel_into(std::span<const std::int64_t> weights, std::size_t k,
                                             std::span<std::int64_t> p) const {
  const Conv2dMeta& m = meta_;
  const ConvTiling& t = tiling_;
  const std::size_t cg = m.C / m.groups, mg = m.M / m.groups, kk = m.kh * m.kw, S = t.Hw * t.Ww;
  const std::size_t O = S * (t.Mw * t.Cw - 1) + (m.kh - 1) * t.Ww + (m.kw - 1);
  std::fill(p.begin(), p.end(), 0);
  const auto [mu, g] = kernel_blocks_[k];
  for (std::size_t mp = 0; mp < t.Mw && mu * t.Mw + mp < m.M; ++mp) {
    const std::size_t f = mu * t.Mw + mp, grp = f / mg;
    for (std::size_t c = 0; c < t.Cw && g * t.Cw + c < m.C; ++c) {
      const std::size_t cc = g * t.Cw + c;
      if (cc / cg != grp) continue;
      const std::int64_t* w = weights.data() + (f * cg + (cc - grp * cg)) * kk;
      for (std::size_t l = 0; l < m.kh; ++l)
        for (std::size_t lp = 0; lp < m.kw; ++lp) p[O - mp * t.Cw * S - c * S - l * t.Ww - lp] = w[l * m.kw + lp];
    }
  }
}

std::vector<std::vector<std::int64_t>> CheetahConvStrategy::encode_kernels(std::span<const std::int64_t> weights) const {
  check_weights(weights);
  std::vector<std::vector<std::int64_t>> polys(kernel_blocks_.size(), std::vector<std::int64_t>(params_->n()));
  for (std::size_t k = 0; k < polys.size(); ++k) encode_kernel_into(weights, k, polys[k]);
  return polys;
}

PreparedConv prepare_conv(const CheetahConvStrategy& s, std::span<const std::int64_t> weights,
                          std::span<const std::int64_t> bias) {
  return prepare_conv_layer(s, weights, bias);
}

std::vector<u64> conv2d_client(net::Channel& ch, const HeClient& he, const CheetahConvStrategy& s,
                               std::span<const u64> share, Prg& prg) {
  return conv_layer_client(ch, he, s, share, prg);
}

std::vector<u64> conv2d_server(net::Channel& ch, const HeServer& he, const CheetahConvStrategy& s,
                               std::span<const u64> share, const PreparedConv& w, Prg& prg) {
  return conv_layer_server(ch, he, s, share, w, prg);
}

}  // namespace peregrine::linear
