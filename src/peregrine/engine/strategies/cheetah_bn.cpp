// cheetah-bn: per-channel affine map (an unfoldable batch norm) on coefficient-encoded BFV,
// Cheetah §4.3 (linear/bn.hpp).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/bn.hpp"

namespace peregrine::engine::detail {
namespace {

struct PreparedBn final : Prepared {
  linear::PreparedBn w;
};

class Planned final : public PlannedLayer {
 public:
  Planned(const nn::FxNode& n, linear::CheetahBnStrategy s) : node_(n), s_(std::move(s)) {}
  Cost cost() const override { return he_layer_cost(s_.cost(), s_.plan()); }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    const auto& e = weights_of(w, node_);
    auto p = std::make_unique<PreparedBn>();
    p->w = linear::prepare_bn(s_, e.w, e.b);
    return p;
  }
  std::vector<std::pair<std::string, std::uint64_t>> layout() const override {
    return {{"n_in", s_.plan().n_in}, {"n_out", s_.plan().n_out()}, {"products", s_.cost().products}};
  }
  std::vector<HeNeed> he_needs() const override { return {{s_.params(), {}}}; }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in,
                       const Prepared* prep) const override {
    const mpc::ArithShares& x = *in[0];
        if (c.is_server())
      return {x.ring, linear::bn_server(c.ch, c.server_he(*s_.params()), s_, x.v, static_cast<const PreparedBn&>(*prep).w, c.prg)};
    return {x.ring, linear::bn_client(c.ch, c.client_he(*s_.params()), s_, x.v, c.prg)};
  }

 private:
  nn::FxNode node_;
  linear::CheetahBnStrategy s_;
};

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
    m.C = at(n.C);
    m.H = 1;
    m.W = at(n.inner);
    m.weight_bits = n.weight_bits;
    return std::make_unique<Planned>(n, linear::CheetahBnStrategy(ctx.he_for(ctx.ring(n.output)), m));
  }
};

}  // namespace

const Strategy& strategy_cheetah_bn() {
  static const CheetahBn s;
  return s;
}

}  // namespace peregrine::engine::detail
