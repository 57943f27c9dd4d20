// clip-highbits: a Clip whose every reader truncates it by s, with both bounds multiples of 2^s
// (ReLU6 before its deferred truncation), runs clip() on the high ℓ − s bits of the shares
// (mpc/nonlinear.hpp clip_highbits(); the clip analogue of relu-highbits, reconstruction). The
// truncation after it lands at most 1 LSB below the reference. Fidelity approx only.
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/nonlinear.hpp"

namespace peregrine::engine::detail {
namespace {

/// The shift clip-highbits may use on n: every reader truncates by s, the bounds are multiples
/// of 2^s and the high part keeps at least 2 bits; 0 otherwise.
int clip_shift(const nn::FxNode& n, const PlanContext& ctx) {
  const int s = truncating_shift(n.output, ctx);
  if (s < 1 || s > ctx.ring(n.inputs.at(0)) - 2) return 0;
  const std::int64_t unit = std::int64_t{1} << s;
  return n.clip().lo % unit == 0 && n.clip().hi % unit == 0 ? s : 0;
}

class ClipHighbits final : public Strategy {
 public:
  std::string_view name() const override { return "clip-highbits"; }
  std::string_view summary() const override {
    return "Clip (ReLU6) before a truncation by s: clip-millionaire on the high l-s bits "
           "(error <= 1 LSB after the truncation; --fidelity approx)";
  }
  std::uint64_t tolerance(const nn::FxNode& n, const PlanContext& ctx) const override {
    return std::uint64_t{2} << clip_shift(n, ctx);
  }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    return n.op == nn::FxOp::kClip && ctx.fidelity == Fidelity::kApprox && clip_shift(n, ctx) > 0;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const int s = clip_shift(n, ctx);
    const std::int64_t lo = n.clip().lo, hi = n.clip().hi;
    return fn_layer(ot_cost(mpc::clip_highbits_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), s, ctx.profile.ot)),
                    [lo, hi, s](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return mpc::clip_highbits(c.session(), *in[0], lo, hi, s);
                    });
  }
};

}  // namespace

const Strategy& strategy_clip_highbits() {
  static const ClipHighbits s;
  return s;
}

}  // namespace peregrine::engine::detail
