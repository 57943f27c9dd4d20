// cheetah-conv, cheetah-conv-opencheetah: 2-D convolution (any groups, stride, padding) on
// coefficient-encoded BFV, Cheetah §4.1 (linear/conv.hpp). The two differ only in the tile:
// Peregrine's byte-minimising enumeration, or OpenCheetah's rule (TECHNIQUES.md §0.6).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/conv.hpp"

namespace peregrine::engine::detail {
namespace {

linear::Conv2dMeta conv_meta(const nn::FxNode& n) {
  linear::Conv2dMeta m;
  m.C = at(n.C); m.H = at(n.H); m.W = at(n.W);
  m.M = at(n.M); m.kh = at(n.kh); m.kw = at(n.kw);
  m.stride_h = at(n.sh); m.stride_w = at(n.sw);
  m.pad_top = at(n.pads[0]); m.pad_left = at(n.pads[1]); m.pad_bottom = at(n.pads[2]); m.pad_right = at(n.pads[3]);
  m.groups = at(n.groups);
  m.weight_bits = n.weight_bits;
  return m;
}

struct PreparedConv final : Prepared {
  linear::PreparedConv w;
};

class Planned final : public PlannedLayer {
 public:
  Planned(const nn::FxNode& n, linear::CheetahConvStrategy s) : node_(n), s_(std::move(s)) {}
  Cost cost() const override { return he_layer_cost(s_.cost(), s_.plan()); }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    const auto& e = weights_of(w, node_);
    auto p = std::make_unique<PreparedConv>();
    p->w = linear::prepare_conv(s_, e.w, e.b);
    return p;
  }
  std::vector<std::pair<std::string, std::uint64_t>> layout() const override {
    const auto& t = s_.tiling();
    return {{"n_in", s_.plan().n_in}, {"n_out", s_.plan().n_out()}, {"products", s_.cost().products},
            {"tile.Hw", t.Hw}, {"tile.Ww", t.Ww}, {"tile.Cw", t.Cw}, {"tile.Mw", t.Mw}};
  }
  std::vector<HeNeed> he_needs() const override { return {{s_.params(), {}}}; }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in,
                       const Prepared* prep) const override {
    const mpc::ArithShares& x = *in[0];
        if (c.is_server())
      return {x.ring, linear::conv2d_server(c.ch, c.server_he(*s_.params()), s_, x.v, static_cast<const PreparedConv&>(*prep).w, c.prg)};
    return {x.ring, linear::conv2d_client(c.ch, c.client_he(*s_.params()), s_, x.v, c.prg)};
  }

 private:
  nn::FxNode node_;
  linear::CheetahConvStrategy s_;
};

class CheetahConv final : public Strategy {
 public:
  CheetahConv(const char* name, const char* summary, linear::TilePolicy p) : name_(name), summary_(summary), policy_(p) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return summary_; }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    return n.op == nn::FxOp::kConv && ctx.he_for(ctx.ring(n.output)) != nullptr;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    return std::make_unique<Planned>(n, linear::CheetahConvStrategy(ctx.he_for(ctx.ring(n.output)), conv_meta(n), policy_));
  }

 private:
  const char* name_;
  const char* summary_;
  linear::TilePolicy policy_;
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

}  // namespace peregrine::engine::detail
