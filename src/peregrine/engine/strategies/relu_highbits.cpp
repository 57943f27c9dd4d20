// relu-highbits: a ReLU whose every reader truncates it by s (directly, or after slices, pads,
// reshapes, concats and max-pools, which keep its multiples of 2^s) runs DReLU and the multiplexer on the
// high ℓ − s bits only (Cheetah's public code, after Maeng & Suh; mpc/nonlinear.hpp
// relu_highbits()). Its output is 2^s·ReLU(⌊x/2^s⌋ − c), c ∈ {0, 1}: within 2^{s+1} of ReLU(x), a
// multiple of 2^s, so the truncation after it is exact on it and lands at most 1 LSB below the
// reference (no probabilistic error). Fidelity approx only.
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/nonlinear.hpp"

namespace peregrine::engine::detail {
namespace {

class ReluHighbits final : public Strategy {
 public:
  std::string_view name() const override { return "relu-highbits"; }
  std::string_view summary() const override {
    return "ReLU before a truncation by s: DReLU and multiplexer on the high l-s bits (Cheetah code; "
           "error <= 1 LSB after the truncation; --fidelity approx)";
  }
  std::uint64_t tolerance(const nn::FxNode& n, const PlanContext& ctx) const override {
    return std::uint64_t{2} << truncating_shift(n.output, ctx);
  }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    if (n.op != nn::FxOp::kRelu || ctx.fidelity != Fidelity::kApprox) return false;
    const int s = truncating_shift(n.output, ctx);
    return s >= 1 && s <= ctx.ring(n.inputs.at(0)) - 2;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const int s = truncating_shift(n.output, ctx);
    return fn_layer(ot_cost(mpc::relu_highbits_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), s, ctx.profile.ot)),
                    [s](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return mpc::relu_highbits(c.session(), *in[0], s);
                    });
  }
};

}  // namespace

const Strategy& strategy_relu_highbits() {
  static const ReluHighbits s;
  return s;
}

}  // namespace peregrine::engine::detail
