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
    return truncation_layer(n, ctx, mpc::TruncMode::kApprox, n.shift().nonneg ? mpc::MsbHint::kZero : mpc::MsbHint::kUnknown);
  }

};

}  // namespace

const Strategy& strategy_trunc_approx() {
  static const TruncApprox s;
  return s;
}

}  // namespace peregrine::engine::detail
