// trunc-exact, trunc-exact-msb0: the faithful truncation ⌊x/2^s⌋ (CrypTFlow2 §5; mpc/truncation.hpp),
// sign unknown (two millionaires), or known non-negative after a ReLU (SiRNN's MSB-known wrap).
#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/mpc/truncation.hpp"

namespace peregrine::engine::detail {
namespace {

class TruncExact final : public Strategy {
 public:
  TruncExact(bool msb0) : msb0_(msb0) {}
  std::string_view name() const override { return msb0_ ? "trunc-exact-msb0" : "trunc-exact"; }
  std::string_view summary() const override {
    return msb0_ ? "exact truncation of a value known >= 0: low-carry millionaire + MSB-known wrap (CrypTFlow2 §5, SiRNN §4)"
                 : "exact truncation: wrap and low-carry millionaires (CrypTFlow2 §5)";
  }
  bool applies(const nn::FxNode& n, const PlanContext&) const override {
    return n.op == nn::FxOp::kTrunc && n.nonneg == msb0_;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const mpc::MsbHint hint = msb0_ ? mpc::MsbHint::kZero : mpc::MsbHint::kUnknown;
    const int shift = n.shift, in_bits = ctx.ring(n.inputs.at(0)), out_bits = ctx.ring(n.output);
    if (out_bits < in_bits)  // truncate-and-reduce into the output's smaller ring: no wrap needed
      return fn_layer(ot_cost(mpc::truncate_reduce_cost(output_count(n, ctx), in_bits, mpc::TruncMode::kExact, ctx.profile.ot)),
                      [shift, out_bits](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                        return mpc::truncate_reduce(c.session(), *in[0], shift, out_bits, mpc::TruncMode::kExact);
                      });
    return fn_layer(ot_cost(mpc::truncate_cost(output_count(n, ctx), ctx.ring(n.inputs.at(0)), mpc::TruncMode::kExact, hint,
                                               ctx.profile.ot)),
                    [shift, hint](PartyContext& c, std::span<const mpc::ArithShares* const> in) {
                      return mpc::truncate(c.session(), *in[0], shift, mpc::TruncMode::kExact, hint);
                    });
  }

 private:
  bool msb0_;
};

}  // namespace

const Strategy& strategy_trunc_exact() {
  static const TruncExact s(false);
  return s;
}

const Strategy& strategy_trunc_exact_msb0() {
  static const TruncExact s(true);
  return s;
}

}  // namespace peregrine::engine::detail
