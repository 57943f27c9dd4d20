// extend-signed, extend-msb0: a value moves into a larger ring (per-tensor fixed-point formats,
// nn/fixed.hpp kExtend): signed extension x_n = x_0 + x_1 − 2^m·wrap (after the 2^{m−1} offset),
// the wrap from a millionaire on m bits, or, when the value is known ≥ 0 (after a ReLU), from the
// top bits of the shares alone (SiRNN §4; TECHNIQUES.md §7.6; mpc/truncation.hpp extend()). Exact.
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::engine::detail {
namespace {

class Extend final : public Strategy {
 public:
  explicit Extend(bool msb0) : msb0_(msb0) {}
  std::string_view name() const override { return msb0_ ? "extend-msb0" : "extend-signed"; }
  std::string_view summary() const override {
    return msb0_ ? "extension of a value known >= 0 into a larger ring: MSB-known wrap, one COT + B2A (SiRNN §4)"
                 : "signed extension into a larger ring: wrap by a millionaire on m bits + B2A (SiRNN §4)";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override {
    return n.op == nn::FxOp::kExtend && n.extend().nonneg == msb0_;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const int from = ctx.ring(n.inputs.at(0)), to = ctx.ring(n.output);
    const mpc::MsbHint hint = msb0_ ? mpc::MsbHint::kZero : mpc::MsbHint::kUnknown;
    return fn_layer(ot_cost(mpc::extend_cost(output_count(n, ctx), from, to, hint, ctx.profile.ot)),
                    [to, hint](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return mpc::extend(c.session(), *in[0], to, true, hint);
                    });
  }

 private:
  bool msb0_;
};

}  // namespace

const Strategy& strategy_extend_signed() {
  static const Extend s(false);
  return s;
}

const Strategy& strategy_extend_msb0() {
  static const Extend s(true);
  return s;
}

}  // namespace peregrine::engine::detail
