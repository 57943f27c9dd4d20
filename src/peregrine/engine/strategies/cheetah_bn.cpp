// cheetah-bn: per-channel affine map (an unfoldable batch norm) on coefficient-encoded BFV,
// Cheetah §4.3 (linear/bn.hpp).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/bn.hpp"

namespace peregrine::engine::detail {
namespace {

const HeLayerOps<linear::CheetahBnStrategy, linear::PreparedBn> kOps = {&linear::prepare_bn, &linear::bn_client,
                                                                        &linear::bn_server, nullptr};

class CheetahBn final : public Strategy {
 public:
  std::string_view name() const override { return "cheetah-bn"; }
  std::string_view summary() const override {
    return "HE per-channel affine (unfolded batch norm), Cheetah coefficient encoding (Cheetah §4.3)";
  }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    return n.op == nn::FxOp::kAffine && ctx.he_for(ctx.ring(n.output)) != nullptr;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    linear::BnMeta m;
    const auto& a = n.affine();
    m.C = at(a.C);
    m.H = 1;
    m.W = at(a.inner);
    m.weight_bits = a.weight_bits;
    return std::make_unique<HePlanned<linear::CheetahBnStrategy, linear::PreparedBn>>(
        n, smallest_q(ctx.ring(n.output), [&](he::HeParamsPtr p) { return linear::CheetahBnStrategy(std::move(p), m); }),
        kOps);
  }
};

}  // namespace

const Strategy& strategy_cheetah_bn() {
  static const CheetahBn s;
  return s;
}

}  // namespace peregrine::engine::detail
