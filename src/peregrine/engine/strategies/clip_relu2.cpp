// clip-relu2: exact Clip(x, lo, hi) as lo + ReLU(x − lo) − ReLU(x − hi), two relu() calls one after
// the other (the form before clip-millionaire; kept so that its saving can be measured alone:
// `--strategies` with clip-relu2 and without clip-millionaire).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/share.hpp"
#include "peregrine/mpc/nonlinear.hpp"

namespace peregrine::engine::detail {
namespace {

class ClipRelu2 final : public Strategy {
 public:
  std::string_view name() const override { return "clip-relu2"; }
  std::string_view summary() const override {
    return "exact Clip as lo + ReLU(x - lo) - ReLU(x - hi): two ReLUs in sequence (baseline)";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override { return n.op == nn::FxOp::kClip; }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const std::int64_t lo = n.clip().lo, hi = n.clip().hi;
    mpc::ProtocolCost one = mpc::relu_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), ctx.profile.ot);
    one.bytes_c2s *= 2;
    one.bytes_s2c *= 2;
    one.rounds *= 2;
    one.seconds *= 2;
    return fn_layer(ot_cost(one), [lo, hi](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
      const mpc::ArithShares& x = *in[0];
      const std::uint64_t m = x.ring.mask;
      const mpc::ArithShares a = mpc::relu(c.session(), mpc::add_public(x, static_cast<std::uint64_t>(-lo) & m, c.party));
      const mpc::ArithShares b = mpc::relu(c.session(), mpc::add_public(x, static_cast<std::uint64_t>(-hi) & m, c.party));
      return mpc::add_public(mpc::sub(a, b), static_cast<std::uint64_t>(lo) & m, c.party);
    });
  }
};

}  // namespace

const Strategy& strategy_clip_relu2() {
  static const ClipRelu2 s;
  return s;
}

}  // namespace peregrine::engine::detail
