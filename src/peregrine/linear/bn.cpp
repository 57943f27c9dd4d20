#include "peregrine/linear/bn.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "peregrine/core/error.hpp"

namespace peregrine::linear {

namespace {

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

constexpr std::size_t kMaxIndex = 0xffffffffu;  // plan indices are 32-bit

}  // namespace

void BnMeta::validate() const {
  require(C > 0 && H > 0 && W > 0, ErrorCode::kInvalidArgument, "bn: C, H and W must be positive");
  // Factor by factor, so no product can overflow: C·H·W must fit the plan's 32-bit indices.
  require(C <= kMaxIndex && H <= kMaxIndex && W <= kMaxIndex, ErrorCode::kInvalidArgument,
          "bn: dimension out of the supported range");
  require(C * H <= kMaxIndex && C * H * W <= kMaxIndex, ErrorCode::kInvalidArgument,
          "bn: tensor size exceeds 2^32 - 1 elements");
  require(weight_bits >= 1 && weight_bits <= 32, ErrorCode::kInvalidArgument, "bn: weight_bits must be in [1, 32]");
}

CheetahBnStrategy::CheetahBnStrategy(he::HeParamsPtr params, const BnMeta& meta)
    : params_(std::move(params)), meta_(meta) {
  require(params_ != nullptr, ErrorCode::kInvalidArgument, "bn: null parameters");
  meta_.validate();
  // Whole rows per block: ws = min(W, N), hs = min(H, ⌊N/ws⌋). OpenCheetah's square block
  // (hs = ws = ⌊√N⌋) is the same on planes up to 64×64 and wastes coefficients on wider or
  // flattened ones ([C, 1, H·W]: 64 of 4096 coefficients per ciphertext).
  const std::size_t N = params_->n();
  ws_ = std::min(N, meta_.W);
  hs_ = std::min(meta_.H, N / ws_);
  n_bh_ = ceil_div(meta_.H, hs_);
  n_bw_ = ceil_div(meta_.W, ws_);
  build_plan();
  std::size_t kept = 0;
  for (const auto& v : plan_.valid) kept += v.size();
  response_ = choose_response_params(*params_, plan_.noise_bound, std::max<std::size_t>(1, kept / plan_.n_out()));
}

void CheetahBnStrategy::build_plan() {
  const BnMeta& m = meta_;
  const double wmax = std::ldexp(1.0, m.weight_bits - 1);
  plan_ = CoeffLayerPlan{};
  plan_.n_in = m.C * n_bh_ * n_bw_;
  plan_.n_kernels = m.C;
  plan_.out_size = m.C * m.H * m.W;
  // Every output ciphertext is one input ciphertext times the constant γ_c: one product, 1 tap.
  const std::size_t one_tap[] = {1};
  plan_.noise_bound = product_noise_bound(one_tap, wmax);
  plan_.products.reserve(plan_.n_in);
  for (std::size_t c = 0; c < m.C; ++c)
    for (std::size_t bi = 0; bi < n_bh_; ++bi)
      for (std::size_t bj = 0; bj < n_bw_; ++bj) {
        const std::size_t in = (c * n_bh_ + bi) * n_bw_ + bj;
        const std::size_t rows = std::min(hs_, m.H - bi * hs_), cols = std::min(ws_, m.W - bj * ws_);
        std::vector<std::uint32_t> valid(rows * cols), out(rows * cols);
        for (std::size_t i = 0; i < rows; ++i)
          for (std::size_t j = 0; j < cols; ++j) {
            valid[i * cols + j] = static_cast<std::uint32_t>(i * ws_ + j);  // ascending: j < cols ≤ ws
            out[i * cols + j] = static_cast<std::uint32_t>((c * m.H + bi * hs_ + i) * m.W + bj * ws_ + j);
          }
        plan_.products.push_back({Product{static_cast<std::uint32_t>(in), static_cast<std::uint32_t>(c)}});
        plan_.valid.push_back(std::move(valid));
        plan_.out_index.push_back(std::move(out));
      }
}

const BnMeta& CheetahBnStrategy::meta() const noexcept { return meta_; }
const CoeffLayerPlan& CheetahBnStrategy::plan() const noexcept { return plan_; }
const ResponseParams& CheetahBnStrategy::response() const noexcept { return response_; }
const he::HeParamsPtr& CheetahBnStrategy::params() const noexcept { return params_; }
LayerCost CheetahBnStrategy::cost() const { return layer_cost(*params_, plan_, response_); }

std::vector<std::vector<u64>> CheetahBnStrategy::encode_input(std::span<const u64> share) const {
  const BnMeta& m = meta_;
  require(share.size() == m.C * m.H * m.W, ErrorCode::kInvalidArgument, "bn: input share must hold C*H*W values");
  const u64 tmask = params_->t() - 1;
  std::vector<std::vector<u64>> polys(plan_.n_in, std::vector<u64>(params_->n(), 0));
  for (std::size_t c = 0; c < m.C; ++c)
    for (std::size_t bi = 0; bi < n_bh_; ++bi)
      for (std::size_t bj = 0; bj < n_bw_; ++bj) {
        auto& p = polys[(c * n_bh_ + bi) * n_bw_ + bj];
        const std::size_t rows = std::min(hs_, m.H - bi * hs_), cols = std::min(ws_, m.W - bj * ws_);
        for (std::size_t i = 0; i < rows; ++i)
          for (std::size_t j = 0; j < cols; ++j) p[i * ws_ + j] = share[(c * m.H + bi * hs_ + i) * m.W + bj * ws_ + j] & tmask;
      }
  return polys;
}

std::vector<std::vector<std::int64_t>> CheetahBnStrategy::encode_kernels(std::span<const std::int64_t> scale) const {
  require(scale.size() == meta_.C, ErrorCode::kInvalidArgument, "bn: scale must hold C values");
  const std::int64_t wlim = std::int64_t{1} << (meta_.weight_bits - 1);
  std::vector<std::vector<std::int64_t>> polys(meta_.C, std::vector<std::int64_t>(params_->n(), 0));
  for (std::size_t c = 0; c < meta_.C; ++c) {
    require(scale[c] >= -wlim && scale[c] <= wlim, ErrorCode::kInvalidArgument, "bn: scale outside the declared weight_bits");
    polys[c][0] = scale[c];
  }
  return polys;
}

PreparedBn prepare_bn(const CheetahBnStrategy& s, std::span<const std::int64_t> scale,
                      std::span<const std::int64_t> shift) {
  const auto& P = s.params();
  require(shift.empty() || shift.size() == s.meta().C, ErrorCode::kInvalidArgument, "bn: shift must hold C values");
  PreparedBn out;
  const auto polys = s.encode_kernels(scale);
  out.kernels = prepare_kernels(P, polys.size(), [&](std::size_t k, std::span<std::int64_t> p) {
    std::copy(polys[k].begin(), polys[k].end(), p.begin());
  });
  out.shift = reduce_mod_t(*P, shift);
  return out;
}

std::vector<u64> bn_client(net::Channel& ch, const HeClient& he, const CheetahBnStrategy& s,
                           std::span<const u64> share, Prg& prg) {
  const auto polys = s.encode_input(share);
  return run_client(ch, he, s.plan(), s.response(), polys, prg);
}

std::vector<u64> bn_server(net::Channel& ch, const HeServer& he, const CheetahBnStrategy& s,
                           std::span<const u64> share, const PreparedBn& w, Prg& prg) {
  const BnMeta& m = s.meta();
  require(w.shift.empty() || w.shift.size() == m.C, ErrorCode::kInvalidArgument, "bn: shift must hold C values");
  const auto polys = s.encode_input(share);
  std::vector<u64> y = run_server(ch, he, s.plan(), s.response(), polys, w.kernels, prg);
  add_bias(*s.params(), y, w.shift, 1, m.H * m.W);
  return y;
}

}  // namespace peregrine::linear
