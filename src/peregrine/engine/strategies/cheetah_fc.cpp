// cheetah-fc: fully connected layer (Gemm) on coefficient-encoded BFV, Cheetah §4.2 (linear/fc.hpp).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/fc.hpp"

namespace peregrine::engine::detail {
namespace {

const HeLayerOps<linear::CheetahFcStrategy, linear::PreparedFc> kOps = {
    &linear::prepare_fc, &linear::fc_client, &linear::fc_server,
    [](const linear::CheetahFcStrategy& s, std::vector<std::pair<std::string, std::uint64_t>>& l) {
      l.insert(l.end(), {{"block.rows", s.block_rows()}, {"block.cols", s.block_cols()}});
    }};

class CheetahFc final : public Strategy {
 public:
  std::string_view name() const override { return "cheetah-fc"; }
  std::string_view summary() const override {
    return "HE fully connected, Cheetah coefficient encoding (Cheetah §4.2; TECHNIQUES.md §0)";
  }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    return n.op == nn::FxOp::kGemm && ctx.he_for(ctx.ring(n.output)) != nullptr;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    linear::FcMeta m;
    m.in_features = at(n.gemm().K);
    m.out_features = at(n.gemm().N);
    m.batch = at(nn::element_count(ctx.plan.values.at(n.inputs.at(0)).shape)) / std::max<std::size_t>(1, m.in_features);
    m.weight_bits = n.gemm().weight_bits;
    return std::make_unique<HePlanned<linear::CheetahFcStrategy, linear::PreparedFc>>(
        n, smallest_q(ctx.ring(n.output), [&](he::HeParamsPtr p) { return linear::CheetahFcStrategy(std::move(p), m); }),
        kOps);
  }
};

}  // namespace

const Strategy& strategy_cheetah_fc() {
  static const CheetahFc s;
  return s;
}

}  // namespace peregrine::engine::detail
