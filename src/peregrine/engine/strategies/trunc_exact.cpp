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
    return n.op == nn::FxOp::kTrunc && n.shift().nonneg == msb0_;
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    return truncation_layer(n, ctx, mpc::TruncMode::kExact, msb0_ ? mpc::MsbHint::kZero : mpc::MsbHint::kUnknown);
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
