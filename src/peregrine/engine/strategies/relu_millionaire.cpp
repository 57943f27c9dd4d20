// relu-millionaire: exact ReLU = DReLU (millionaire on ℓ − 1 bits) × x by the multiplexer
// (CrypTFlow2 §4; mpc/nonlinear.hpp relu()).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/nonlinear.hpp"

namespace peregrine::engine::detail {
namespace {

class ReluMillionaire final : public Strategy {
 public:
  std::string_view name() const override { return "relu-millionaire"; }
  std::string_view summary() const override {
    return "exact ReLU: DReLU by the millionaire on l-1 bits, then the multiplexer (CrypTFlow2 §4)";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override { return n.op == nn::FxOp::kRelu; }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    return fn_layer(ot_cost(mpc::relu_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), ctx.profile.ot)),
                    [](PartyContext& c, std::span<const mpc::ArithShares* const> in) { return mpc::relu(c.session(), *in[0]); });
  }
};

}  // namespace

const Strategy& strategy_relu_millionaire() {
  static const ReluMillionaire s;
  return s;
}

}  // namespace peregrine::engine::detail
