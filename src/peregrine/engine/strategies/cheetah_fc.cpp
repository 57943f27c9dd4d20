// cheetah-fc: fully connected layer (Gemm) on coefficient-encoded BFV, Cheetah §4.2 (linear/fc.hpp).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/fc.hpp"

namespace peregrine::engine::detail {
namespace {

struct PreparedFc final : Prepared {
  linear::PreparedFc w;
};

class Planned final : public PlannedLayer {
 public:
  Planned(const nn::FxNode& n, linear::CheetahFcStrategy s) : node_(n), s_(std::move(s)) {}
  Cost cost() const override { return he_layer_cost(s_.cost(), s_.plan()); }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    const auto& e = weights_of(w, node_);
    auto p = std::make_unique<PreparedFc>();
    p->w = linear::prepare_fc(s_, e.w, e.b);
    return p;
  }
  std::vector<std::pair<std::string, std::uint64_t>> layout() const override {
    return {{"n_in", s_.plan().n_in}, {"n_out", s_.plan().n_out()}, {"products", s_.cost().products},
            {"block.rows", s_.block_rows()}, {"block.cols", s_.block_cols()}};
  }
  std::vector<HeNeed> he_needs() const override { return {{s_.params(), {}}}; }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in,
                       const Prepared* prep) const override {
    const mpc::ArithShares& x = *in[0];
        if (c.is_server())
      return {x.ring, linear::fc_server(c.ch, c.server_he(*s_.params()), s_, x.v, static_cast<const PreparedFc&>(*prep).w, c.prg)};
    return {x.ring, linear::fc_client(c.ch, c.client_he(*s_.params()), s_, x.v, c.prg)};
  }

 private:
  nn::FxNode node_;
  linear::CheetahFcStrategy s_;
};

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
    m.in_features = at(n.K);
    m.out_features = at(n.N);
    m.batch = at(nn::element_count(ctx.plan.values.at(n.inputs.at(0)).shape)) / std::max<std::size_t>(1, m.in_features);
    m.weight_bits = n.weight_bits;
    return std::make_unique<Planned>(n, linear::CheetahFcStrategy(ctx.he_for(ctx.ring(n.output)), m));
  }
};

}  // namespace

const Strategy& strategy_cheetah_fc() {
  static const CheetahFc s;
  return s;
}

}  // namespace peregrine::engine::detail
