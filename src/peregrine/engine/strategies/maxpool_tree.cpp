// maxpool-tree: max-pool by a tree of comparisons (millionaire + multiplexer per comparison;
// mpc/pool.hpp maxpool2d()). Padding: the server puts −2^{ℓ−2} (below every planned value) at the
// padded positions of the zero-padded shares.
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/pool.hpp"

namespace peregrine::engine::detail {
namespace {

mpc::ArithShares maxpool(PartyContext& c, const nn::FxPoolAttrs& n, const mpc::ArithShares& in, int ring_bits) {
  mpc::ArithShares x = in;
  std::size_t H = at(n.H), W = at(n.W);
  const bool padded = n.pads[0] || n.pads[1] || n.pads[2] || n.pads[3];
  if (padded) {
    linear::Dims d = {at(n.C), H, W};
    x = linear::zero_pad(x, d, {0, at(n.pads[0]), at(n.pads[1])}, {0, at(n.pads[2]), at(n.pads[3])});
    const std::size_t Hp = H + at(n.pads[0] + n.pads[2]), Wp = W + at(n.pads[1] + n.pads[3]);
    if (c.is_server()) {
      const auto low = static_cast<std::uint64_t>(-(std::int64_t{1} << (ring_bits - 2))) & x.ring.mask;
      for (std::size_t ch = 0; ch < at(n.C); ++ch)
        for (std::size_t h = 0; h < Hp; ++h)
          for (std::size_t w = 0; w < Wp; ++w) {
            const bool inside = h >= at(n.pads[0]) && h < at(n.pads[0]) + H && w >= at(n.pads[1]) && w < at(n.pads[1]) + W;
            if (!inside) x.v[(ch * Hp + h) * Wp + w] = low;
          }
    }
    H = Hp;
    W = Wp;
  }
  return mpc::maxpool2d(c.session(), x, at(n.C), H, W, at(n.kh), at(n.kw), at(n.sh), at(n.sw));
}

class MaxpoolTree final : public Strategy {
 public:
  std::string_view name() const override { return "maxpool-tree"; }
  std::string_view summary() const override {
    return "max-pool by a comparison tree: millionaire + multiplexer per comparison (CrypTFlow2 §4)";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override { return n.op == nn::FxOp::kMaxPool; }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const int ell = ctx.ring(n.inputs.at(0));
    return fn_layer(ot_cost(mpc::maxpool_cost(output_count(n, ctx), at(n.pool().kh * n.pool().kw), ell, ctx.profile.ot)),
                    [p = n.pool(), ell](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return maxpool(c, p, *in[0], ell);
                    });
  }
};

}  // namespace

const Strategy& strategy_maxpool_tree() {
  static const MaxpoolTree s;
  return s;
}

}  // namespace peregrine::engine::detail
