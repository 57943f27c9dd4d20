// trunc-approx: Cheetah's approximate truncation (Cheetah §5; mpc/truncation.hpp TruncMode::kApprox):
// the low carry is dropped, so the result is ⌊x/2^s⌋ − c, c ∈ {0, 1}, on every element — never a
// larger error (no probabilistic part). With the sign known (after a ReLU) it costs one COT of s
// bits per element. Exact on shares whose low s bits are zero (after relu-highbits).
// Fidelity approx only.
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::engine::detail {
namespace {

class TruncApprox final : public Strategy {
 public:
  std::string_view name() const override { return "trunc-approx"; }
  std::string_view summary() const override {
    return "approximate truncation, low carry dropped: error -1 or 0 LSB (Cheetah §5; --fidelity approx)";
  }
  std::uint64_t tolerance(const nn::FxNode&, const PlanContext&) const override { return 1; }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    return n.op == nn::FxOp::kTrunc && ctx.fidelity == Fidelity::kApprox;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const mpc::MsbHint hint = n.nonneg ? mpc::MsbHint::kZero : mpc::MsbHint::kUnknown;
    const int shift = n.shift, in_bits = ctx.ring(n.inputs.at(0)), out_bits = ctx.ring(n.output);
    if (out_bits < in_bits)  // approximate truncate-and-reduce: local, no message
      return fn_layer(ot_cost(mpc::truncate_reduce_cost(output_count(n, ctx), in_bits, mpc::TruncMode::kApprox, ctx.profile.ot)),
                      [shift, out_bits](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                        return mpc::truncate_reduce(c.session(), *in[0], shift, out_bits, mpc::TruncMode::kApprox);
                      });
    return fn_layer(ot_cost(mpc::truncate_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), mpc::TruncMode::kApprox, hint,
                                               ctx.profile.ot)),
                    [shift, hint](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return mpc::truncate(c.session(), *in[0], shift, mpc::TruncMode::kApprox, hint);
                    });
  }
};

}  // namespace

const Strategy& strategy_trunc_approx() {
  static const TruncApprox s;
  return s;
}

}  // namespace peregrine::engine::detail
