// cheetah-conv, cheetah-conv-opencheetah, falcon-pw: 2-D convolution (any groups, stride, padding)
// on coefficient-encoded BFV, Cheetah §4.1 (linear/conv.hpp). They differ only in the tile:
// Peregrine's byte-minimising enumeration, OpenCheetah's rule (TECHNIQUES.md §0.6), or — for
// pointwise (1×1, ungrouped) layers — the latency-aware score of Falcon's tiling (bytes + compute,
// TECHNIQUES.md §2.5; the Falcon issue: "pointwise layers get the same tiling search").
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/conv.hpp"

namespace peregrine::engine::detail {
namespace {

const HeLayerOps<linear::CheetahConvStrategy, linear::PreparedConv> kOps = {
    &linear::prepare_conv, &linear::conv2d_client, &linear::conv2d_server,
    [](const linear::CheetahConvStrategy& s, std::vector<std::pair<std::string, std::uint64_t>>& l) {
      const auto& t = s.tiling();
      l.insert(l.end(), {{"tile.Hw", t.Hw}, {"tile.Ww", t.Ww}, {"tile.Cw", t.Cw}, {"tile.Mw", t.Mw}});
    },
    &linear::conv_layer_server_streamed<linear::CheetahConvStrategy>};

class CheetahConv final : public Strategy {
 public:
  CheetahConv(const char* name, const char* summary, linear::TilePolicy p, bool pointwise_only = false)
      : name_(name), summary_(summary), policy_(p), pointwise_only_(pointwise_only) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return summary_; }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    if (n.op != nn::FxOp::kConv || ctx.he_for(ctx.ring(n.output)) == nullptr) return false;
    const nn::FxConvAttrs& a = n.conv();
    return !pointwise_only_ || (a.kh == 1 && a.kw == 1 && a.groups == 1);
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const int ell = ctx.ring(n.output);
    const linear::Conv2dMeta m = conv_meta(n);
    auto make = [&](he::HeParamsPtr p) { return linear::CheetahConvStrategy(std::move(p), m, policy_); };
    // OpenCheetah's rule is a baseline reproduction: its 109-bit q too.
    return std::make_unique<HePlanned<linear::CheetahConvStrategy, linear::PreparedConv>>(
        n, policy_ == linear::TilePolicy::kOpenCheetah ? make(ctx.he_for(ell)) : smallest_q(ell, make), kOps);
  }

 private:
  const char* name_;
  const char* summary_;
  linear::TilePolicy policy_;
  bool pointwise_only_;
};

}  // namespace

const Strategy& strategy_cheetah_conv() {
  static const CheetahConv s("cheetah-conv", "HE conv, Cheetah coefficient encoding, byte-minimising tile (Cheetah §4.1; TECHNIQUES.md §0.4, §0.6)",
                             linear::TilePolicy::kMinBytes);
  return s;
}

const Strategy& strategy_cheetah_conv_opencheetah() {
  static const CheetahConv s("cheetah-conv-opencheetah", "HE conv, Cheetah coefficient encoding, OpenCheetah's tile rule (TECHNIQUES.md §0.6)",
                             linear::TilePolicy::kOpenCheetah);
  return s;
}

const Strategy& strategy_falcon_pw() {
  static const CheetahConv s("falcon-pw",
                             "HE pointwise (1x1) conv, Cheetah coefficient encoding, tile by bytes + compute "
                             "(Falcon's tiling objective; TECHNIQUES.md §2.5)",
                             linear::TilePolicy::kLatency, true);
  return s;
}

}  // namespace peregrine::engine::detail
