#include "peregrine/linear/fc.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include "peregrine/core/error.hpp"
#include "peregrine/he/serialize.hpp"

namespace peregrine::linear {

namespace {

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

constexpr std::size_t kMaxIndex = 0xffffffffu;  // plan indices are 32-bit

/// Public noise bound of one output ciphertext of a row block with `rows` rows
/// (product_noise_bound over its column blocks, taps = rows·cols(cb)).
double row_block_noise(std::size_t rows, std::size_t K, std::size_t n_w, double wmax) {
  std::vector<std::size_t> taps;
  for (std::size_t c0 = 0; c0 < K; c0 += n_w) taps.push_back(rows * std::min(n_w, K - c0));
  return product_noise_bound(taps, wmax);
}

}  // namespace

void FcMeta::validate() const {
  require(batch > 0 && in_features > 0 && out_features > 0, ErrorCode::kInvalidArgument,
          "fc: batch, in_features and out_features must be positive");
  // Each factor below 2^32 first, so the 64-bit products cannot overflow; then every flat index
  // (input [B, K], output [B, M], weights [M, K]) must fit the plan's 32-bit indices.
  require(batch <= kMaxIndex && in_features <= kMaxIndex && out_features <= kMaxIndex, ErrorCode::kInvalidArgument,
          "fc: dimension out of the supported range");
  require(batch * in_features <= kMaxIndex && batch * out_features <= kMaxIndex &&
              out_features * in_features <= kMaxIndex,
          ErrorCode::kInvalidArgument, "fc: tensor sizes exceed 2^32 - 1 elements");
  require(weight_bits >= 1 && weight_bits <= 32, ErrorCode::kInvalidArgument, "fc: weight_bits must be in [1, 32]");
}

CheetahFcStrategy::CheetahFcStrategy(he::HeParamsPtr params, const FcMeta& meta)
    : params_(std::move(params)), meta_(meta) {
  require(params_ != nullptr, ErrorCode::kInvalidArgument, "fc: null parameters");
  meta_.validate();
  const he::HeParams& P = *params_;
  const std::size_t N = P.n(), K = meta_.in_features, M = meta_.out_features, B = meta_.batch;
  const double wmax = std::ldexp(1.0, meta_.weight_bits - 1);
  const std::size_t ct_in = he::ciphertext_bytes(P, P.levels(), true);

  // Largest floodable m_w for a column split: the noise bound grows with m_w (taps = rows·cols),
  // and depends on n_w only through the number of column blocks n_cb = ⌈K/n_w⌉. 0: none.
  std::map<std::size_t, std::size_t> cap_by_ncb;
  auto cap_for = [&](std::size_t n_w) {
    const std::size_t n_cb = ceil_div(K, n_w);
    auto it = cap_by_ncb.find(n_cb);
    if (it != cap_by_ncb.end()) return it->second;
    auto ok = [&](std::size_t m) { return try_response_params(P, row_block_noise(m, K, n_w, wmax), 1).has_value(); };
    std::size_t lo = 0, hi = std::min(M, N);  // invariant: ok(lo) (or lo = 0), !ok(> hi)
    if (ok(hi)) {
      lo = hi;
    } else {
      while (hi - lo > 1) {  // !ok(hi)
        const std::size_t mid = lo + (hi - lo) / 2;
        if (ok(mid)) lo = mid;
        else hi = mid;
      }
    }
    cap_by_ncb.emplace(n_cb, lo);
    return lo;
  };

  // Enumerate n_w; m_w = min(M, ⌊N/n_w⌋), lowered to the largest floodable value. Score: the exact
  // bytes n_in·|ct_in| + Σ_out |ct_out(|V| = rows of the block)| with the response parameters the
  // final plan will get (average kept = ⌊M/n_rb⌋), then the product count.
  std::map<std::pair<std::size_t, std::size_t>, std::optional<ResponseParams>> rp_cache;
  std::pair<std::size_t, std::size_t> best{SIZE_MAX, SIZE_MAX};
  for (std::size_t n_w = 1; n_w <= std::min(K, N); ++n_w) {
    const std::size_t m_w = std::min({M, N / n_w, cap_for(n_w)});
    if (m_w == 0) continue;
    const std::size_t n_cb = ceil_div(K, n_w), n_rb = ceil_div(M, m_w);
    auto key = std::make_pair(m_w, n_cb);
    auto it = rp_cache.find(key);
    if (it == rp_cache.end())
      it = rp_cache
               .emplace(key, try_response_params(P, row_block_noise(m_w, K, n_w, wmax), std::max<std::size_t>(1, M / n_rb)))
               .first;
    if (!it->second) continue;
    const ResponseParams& rp = *it->second;
    const std::size_t last = M - (n_rb - 1) * m_w;
    const std::size_t bytes = B * n_cb * ct_in +
                              B * ((n_rb - 1) * he::trimmed_bytes(P, rp.d0, rp.d1, m_w) + he::trimmed_bytes(P, rp.d0, rp.d1, last));
    const std::size_t prods = B * n_rb * n_cb;
    if (std::make_pair(bytes, prods) < best) {
      best = {bytes, prods};
      n_w_ = n_w;
      m_w_ = m_w;
    }
  }
  require(best.first != SIZE_MAX, ErrorCode::kUnsupported,
          "fc: no block can be flooded (in_features times the weight bound is too large for N = 4096 responses; "
          "use fewer weight bits or a smaller ring)");
  build_plan();
  response_ = choose_response_params(P, plan_.noise_bound, std::max<std::size_t>(1, (B * M) / plan_.n_out()));
}

void CheetahFcStrategy::build_plan() {
  const std::size_t K = meta_.in_features, M = meta_.out_features, B = meta_.batch;
  const std::size_t n_cb = ceil_div(K, n_w_), n_rb = ceil_div(M, m_w_);
  const double wmax = std::ldexp(1.0, meta_.weight_bits - 1);
  plan_ = CoeffLayerPlan{};
  plan_.n_in = B * n_cb;
  plan_.n_kernels = n_rb * n_cb;
  plan_.out_size = B * M;
  plan_.products.reserve(B * n_rb);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t rb = 0; rb < n_rb; ++rb) {
      const std::size_t rows = std::min(m_w_, M - rb * m_w_);
      std::vector<Product> prods(n_cb);
      for (std::size_t cb = 0; cb < n_cb; ++cb)
        prods[cb] = {static_cast<std::uint32_t>(b * n_cb + cb), static_cast<std::uint32_t>(rb * n_cb + cb)};
      std::vector<std::uint32_t> valid(rows), out(rows);
      for (std::size_t i = 0; i < rows; ++i) {
        valid[i] = static_cast<std::uint32_t>(i * n_w_ + n_w_ - 1);  // ascending in i
        out[i] = static_cast<std::uint32_t>(b * M + rb * m_w_ + i);
      }
      plan_.noise_bound = std::max(plan_.noise_bound, row_block_noise(rows, K, n_w_, wmax));
      plan_.products.push_back(std::move(prods));
      plan_.valid.push_back(std::move(valid));
      plan_.out_index.push_back(std::move(out));
    }
}

const FcMeta& CheetahFcStrategy::meta() const noexcept { return meta_; }
std::size_t CheetahFcStrategy::block_rows() const noexcept { return m_w_; }
std::size_t CheetahFcStrategy::block_cols() const noexcept { return n_w_; }
const CoeffLayerPlan& CheetahFcStrategy::plan() const noexcept { return plan_; }
const ResponseParams& CheetahFcStrategy::response() const noexcept { return response_; }
const he::HeParamsPtr& CheetahFcStrategy::params() const noexcept { return params_; }
LayerCost CheetahFcStrategy::cost() const { return layer_cost(*params_, plan_, response_); }

std::vector<std::vector<u64>> CheetahFcStrategy::encode_input(std::span<const u64> share) const {
  const std::size_t K = meta_.in_features, B = meta_.batch;
  require(share.size() == B * K, ErrorCode::kInvalidArgument, "fc: input share must hold batch*in_features values");
  const std::size_t n_cb = ceil_div(K, n_w_);
  const u64 tmask = params_->t() - 1;
  std::vector<std::vector<u64>> polys(B * n_cb, std::vector<u64>(params_->n(), 0));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t cb = 0; cb < n_cb; ++cb) {
      auto& p = polys[b * n_cb + cb];
      const std::size_t cols = std::min(n_w_, K - cb * n_w_);
      for (std::size_t j = 0; j < cols; ++j) p[j] = share[b * K + cb * n_w_ + j] & tmask;
    }
  return polys;
}

std::vector<std::vector<std::int64_t>> CheetahFcStrategy::encode_kernels(std::span<const std::int64_t> weights) const {
  const std::size_t K = meta_.in_features, M = meta_.out_features;
  require(weights.size() == M * K, ErrorCode::kInvalidArgument, "fc: weights must hold out_features*in_features values");
  const std::int64_t wlim = std::int64_t{1} << (meta_.weight_bits - 1);
  for (std::int64_t w : weights)
    require(w >= -wlim && w <= wlim, ErrorCode::kInvalidArgument, "fc: weight outside the declared weight_bits");
  const std::size_t n_cb = ceil_div(K, n_w_), n_rb = ceil_div(M, m_w_);
  std::vector<std::vector<std::int64_t>> polys(n_rb * n_cb, std::vector<std::int64_t>(params_->n(), 0));
  for (std::size_t rb = 0; rb < n_rb; ++rb)
    for (std::size_t cb = 0; cb < n_cb; ++cb) {
      auto& p = polys[rb * n_cb + cb];
      const std::size_t rows = std::min(m_w_, M - rb * m_w_), cols = std::min(n_w_, K - cb * n_w_);
      for (std::size_t i = 0; i < rows; ++i) {
        const std::int64_t* w = weights.data() + (rb * m_w_ + i) * K + cb * n_w_;
        for (std::size_t j = 0; j < cols; ++j) p[i * n_w_ + n_w_ - 1 - j] = w[j];
      }
    }
  return polys;
}

PreparedFc prepare_fc(const CheetahFcStrategy& s, std::span<const std::int64_t> weights,
                      std::span<const std::int64_t> bias) {
  const auto& P = s.params();
  require(bias.empty() || bias.size() == s.meta().out_features, ErrorCode::kInvalidArgument,
          "fc: bias must hold out_features values");
  PreparedFc out;
  const auto polys = s.encode_kernels(weights);
  out.kernels = prepare_kernels(P, polys.size(), [&](std::size_t k, std::span<std::int64_t> p) {
    std::copy(polys[k].begin(), polys[k].end(), p.begin());
  });
  out.bias = reduce_mod_t(*P, bias);
  return out;
}

std::vector<u64> fc_client(net::Channel& ch, const HeClient& he, const CheetahFcStrategy& s,
                           std::span<const u64> share, Prg& prg) {
  const auto polys = s.encode_input(share);
  return run_client(ch, he, s.plan(), s.response(), polys, prg);
}

std::vector<u64> fc_server(net::Channel& ch, const HeServer& he, const CheetahFcStrategy& s,
                           std::span<const u64> share, const PreparedFc& w, Prg& prg) {
  const std::size_t M = s.meta().out_features;
  require(w.bias.empty() || w.bias.size() == M, ErrorCode::kInvalidArgument, "fc: bias must hold out_features values");
  const auto polys = s.encode_input(share);
  std::vector<u64> y = run_server(ch, he, s.plan(), s.response(), polys, w.kernels, prg);
  add_bias(*s.params(), y, w.bias, s.meta().batch, 1);
  return y;
}

}  // namespace peregrine::linear
