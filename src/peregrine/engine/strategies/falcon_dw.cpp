// falcon-dw: depthwise convolution (groups = C = M) with Falcon-style dense packing — several
// channels per polynomial, one product per output ciphertext, the layout family (AP-free, scheme B,
// zero-aware greedy) and spatial tile chosen by the communication-aware search of
// linear/depthwise.hpp (TECHNIQUES.md §2; reconstruction of Falcon, ICCAD 2023). The planner
// compares it with cheetah-conv's dense block-diagonal run of the same layer by cost.
// falcon-bn: an unfolded batch norm (kAffine, y = γ_c·x + β_c) is a depthwise 1×1 convolution of
// the flattened [C, 1, H·W] tensor, so the same packing puts several channels in one polynomial
// where cheetah-bn spends a ciphertext per channel (DenseNet's 7×7 planes: 49 of 4096
// coefficients used).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/depthwise.hpp"

namespace peregrine::engine::detail {
namespace {

const HeLayerOps<linear::DepthwiseConvStrategy, linear::PreparedConv> kOps = {
    &linear::prepare_depthwise, &linear::depthwise_client, &linear::depthwise_server,
    [](const linear::DepthwiseConvStrategy& s, std::vector<std::pair<std::string, std::uint64_t>>& l) {
      const auto& t = s.tiling();
      l.insert(l.end(), {{"tile.Hw", t.Hw},
                         {"tile.Ww", t.Ww},
                         {"g", t.layout.g()},
                         {std::string("family.") + linear::dw_family_name(t.layout.family), 1}});
    },
    &linear::conv_layer_server_streamed<linear::DepthwiseConvStrategy>};

class FalconDw final : public Strategy {
 public:
  std::string_view name() const override { return "falcon-dw"; }
  std::string_view summary() const override {
    return "HE depthwise conv, Falcon-style packing: g channels per polynomial, AP-free / scheme-B / greedy layout, "
           "communication-aware tile (TECHNIQUES.md §2)";
  }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    if (n.op != nn::FxOp::kConv || ctx.he_for(ctx.ring(n.output)) == nullptr) return false;
    const auto& a = n.conv();
    return a.groups == a.C && a.M == a.C && a.C > 1;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const linear::Conv2dMeta m = conv_meta(n);
    return std::make_unique<HePlanned<linear::DepthwiseConvStrategy, linear::PreparedConv>>(
        n, smallest_q(ctx.ring(n.output), [&](he::HeParamsPtr p) { return linear::DepthwiseConvStrategy(std::move(p), m); }),
        kOps);
  }
};

class FalconBn final : public Strategy {
 public:
  std::string_view name() const override { return "falcon-bn"; }
  std::string_view summary() const override {
    return "HE per-channel affine (unfolded batch norm) as a depthwise 1x1 conv with Falcon-style packing "
           "(several channels per polynomial; TECHNIQUES.md §2)";
  }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    return n.op == nn::FxOp::kAffine && ctx.he_for(ctx.ring(n.output)) != nullptr && n.affine().C > 1;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const nn::FxAffineAttrs& a = n.affine();
    linear::Conv2dMeta m;  // [C, 1, inner], one 1×1 filter per channel
    m.C = m.M = m.groups = at(a.C);
    m.H = 1;
    m.W = at(a.inner);
    m.kh = m.kw = 1;
    m.weight_bits = a.weight_bits;
    return std::make_unique<HePlanned<linear::DepthwiseConvStrategy, linear::PreparedConv>>(
        n, smallest_q(ctx.ring(n.output), [&](he::HeParamsPtr p) { return linear::DepthwiseConvStrategy(std::move(p), m); }),
        kOps);
  }
};

}  // namespace

const Strategy& strategy_falcon_bn() {
  static const FalconBn s;
  return s;
}

const Strategy& strategy_falcon_dw() {
  static const FalconDw s;
  return s;
}

}  // namespace peregrine::engine::detail
