// clip-millionaire: exact Clip(x, lo, hi) (ReLU6) as one protocol: both DReLUs (x − lo, x − hi) in
// one batched millionaire, then one multiplexer on x − lo with the B2A of 1{x ≥ hi} in the same
// COT batch (mpc/nonlinear.hpp clip(); reconstruction, issue 17).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/nonlinear.hpp"

namespace peregrine::engine::detail {
namespace {

class ClipMillionaire final : public Strategy {
 public:
  std::string_view name() const override { return "clip-millionaire"; }
  std::string_view summary() const override {
    return "exact Clip (ReLU6): both DReLUs in one millionaire pass, one multiplexer and one B2A";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override { return n.op == nn::FxOp::kClip; }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const std::int64_t lo = n.clip().lo, hi = n.clip().hi;
    return fn_layer(ot_cost(mpc::clip_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), ctx.profile.ot)),
                    [lo, hi](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return mpc::clip(c.session(), *in[0], lo, hi);
                    });
  }
};

}  // namespace

const Strategy& strategy_clip_millionaire() {
  static const ClipMillionaire s;
  return s;
}

}  // namespace peregrine::engine::detail
