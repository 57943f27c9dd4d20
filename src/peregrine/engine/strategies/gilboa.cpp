// square-gilboa, mul-gilboa: x² and x·y on shares by Gilboa cross terms on additive COT
// (mpc/arith.hpp square(), mul()).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/arith.hpp"

namespace peregrine::engine::detail {
namespace {

class Gilboa final : public Strategy {
 public:
  explicit Gilboa(bool square) : square_(square) {}
  std::string_view name() const override { return square_ ? "square-gilboa" : "mul-gilboa"; }
  std::string_view summary() const override {
    return square_ ? "x^2 on shares: one Gilboa cross term on additive COT" : "x*y on shares: two Gilboa cross terms on additive COT";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override {
    return n.op == (square_ ? nn::FxOp::kSquare : nn::FxOp::kMul);
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const Cost c = ot_cost(mpc::gilboa_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), square_ ? 1 : 2));
    if (square_)
      return fn_layer(c, [](PartyContext& p, std::span<const mpc::ArithShares* const> in) { return mpc::square(p.session(), *in[0]); });
    return fn_layer(c, [](PartyContext& p, std::span<const mpc::ArithShares* const> in) {
      return mpc::mul(p.session(), *in[0], *in[1]);
    });
  }

 private:
  bool square_;
};

}  // namespace

const Strategy& strategy_square_gilboa() {
  static const Gilboa s(true);
  return s;
}

const Strategy& strategy_mul_gilboa() {
  static const Gilboa s(false);
  return s;
}

}  // namespace peregrine::engine::detail
