// ot-conv, ot-conv-f2, ot-conv-f4: the convolutions of integer (QDQ) programs as OT-based GEMMs with
// server-known weights, no HE (linear/ot_conv.hpp; TECHNIQUES.md §4.2–§4.5): direct (im2col, the
// SiRNN-style baseline EQO is measured against) and Winograd F(2×2,3×3) / F(4×4,3×3) with exact
// integer transforms. They apply where the conv's input has a public bound (so the GEMM can run at
// the accumulator's width B and be signed-extended after), and the input ring holds the GEMM ring.
// Cost: the GEMMs' exact COT payload plus the COTs and the extension (mpc/cost.hpp). The planner
// weighs them against the HE convolutions; on this project's costs they move far more bytes (an OT
// GEMM sends every input value once per weight bit and output channel), so they are chosen only when
// forced (`--strategies`), as the baselines of the EQO issue.
#include <algorithm>

#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/ot_conv.hpp"
#include "peregrine/mpc/cost.hpp"

namespace peregrine::engine::detail {
namespace {

class OtConvPlanned final : public PlannedLayer {
 public:
  OtConvPlanned(const nn::FxNode& n, linear::OtConvStrategy s, Cost c) : node_(n), s_(std::move(s)), cost_(c) {}
  Cost cost() const override { return cost_; }
  std::vector<std::pair<std::string, std::uint64_t>> layout() const override {
    std::uint64_t wbits = 0;
    for (const auto& g : s_.gemms()) wbits += static_cast<std::uint64_t>(g.wbits);
    return {{"ot.tile", static_cast<std::uint64_t>(s_.tile())},
            {"ot.gemms", s_.gemms().size()},
            {"ot.ring_bits", static_cast<std::uint64_t>(s_.ring_bits())},
            {"ot.output_bits", static_cast<std::uint64_t>(s_.output_bits())},
            {"ot.weight_bits_sum", wbits},
            {"ot.cots", s_.cots()}};
  }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    const auto& e = weights_of(w, node_);
    return std::make_unique<Weights>(linear::prepare_ot_conv(s_, e.w, e.b));
  }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in, const Prepared* prep) const override {
    if (c.is_server()) return linear::ot_conv_server(c.session(), s_, *in[0], static_cast<const Weights&>(*prep).w);
    return linear::ot_conv_client(c.session(), s_, *in[0]);
  }
  std::size_t prepared_bytes() const override {
    std::size_t b = 0;
    for (const auto& g : s_.gemms()) b += g.M * g.K * sizeof(std::int64_t);
    return b;
  }

 private:
  struct Weights final : Prepared {
    explicit Weights(linear::PreparedOtConv p) : w(std::move(p)) {}
    std::size_t bytes() const override {
      std::size_t b = w.bias.size() * sizeof(std::int64_t);
      for (const auto& g : w.gemm_weights) b += g.size() * sizeof(std::int64_t);
      return b;
    }
    linear::PreparedOtConv w;
  };
  nn::FxNode node_;
  linear::OtConvStrategy s_;
  Cost cost_;
};

class OtConv final : public Strategy {
 public:
  OtConv(std::string_view name, std::string_view summary, linear::WinogradTile tile)
      : name_(name), summary_(summary), tile_(tile) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return summary_; }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    if (n.op != nn::FxOp::kConv || !public_bound(n.inputs.at(0), ctx)) return false;
    const linear::Conv2dMeta m = conv_meta(n);
    if (tile_ != linear::WinogradTile::kDirect &&
        !(m.kh == 3 && m.kw == 3 && m.stride_h == 1 && m.stride_w == 1 && m.groups == 1))
      return false;
    const int e = tile_ == linear::WinogradTile::kF2 ? 2 : tile_ == linear::WinogradTile::kF4 ? 6 : 0;
    const int ell = std::min(m.output_bits(*public_bound(n.inputs.at(0), ctx)), ctx.ring(n.output)) + e;
    return ell <= 64 && ell <= ctx.ring(n.inputs.at(0));
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    linear::OtConvStrategy s(conv_meta(n), public_bound(n.inputs.at(0), ctx).value(), tile_, ctx.ring(n.inputs.at(0)),
                             ctx.ring(n.output));
    Cost c;  // the GEMMs run as one batch: their bytes add up, their exchanges are the widest one's
    for (const auto& g : s.gemms()) {
      const Cost k = ot_cost(mpc::matmul_server_weights_cost(g.M, g.K, g.P, s.ring_bits(), g.wbits, ctx.profile.ot));
      c.bytes_c2s += k.bytes_c2s;
      c.bytes_s2c += k.bytes_s2c;
      c.rounds = std::max(c.rounds, k.rounds);
      c.compute_seconds += k.compute_seconds;
    }
    const int have = s.ring_bits() - s.division_bits();
    if (s.out_bits() > have)
      c += ot_cost(mpc::extend_cost(output_count(n, ctx), have, s.out_bits(), mpc::MsbHint::kUnknown, ctx.profile.ot));
    return std::make_unique<OtConvPlanned>(n, std::move(s), c);
  }

 private:
  std::string_view name_, summary_;
  linear::WinogradTile tile_;
};

}  // namespace

const Strategy& strategy_ot_conv() {
  static const OtConv s("ot-conv",
                        "conv of integer programs as an OT GEMM with server-known weights (im2col, silent COTs), "
                        "then a signed extension (EQO's SiRNN-style baseline; TECHNIQUES.md §4.5)",
                        linear::WinogradTile::kDirect);
  return s;
}

const Strategy& strategy_ot_conv_f2() {
  static const OtConv s("ot-conv-f2",
                        "3x3 conv of integer programs in Winograd F(2x2,3x3), one OT GEMM per position, exact integer "
                        "transforms (EQO QWinConv shape; TECHNIQUES.md §4.2-§4.5)",
                        linear::WinogradTile::kF2);
  return s;
}

const Strategy& strategy_ot_conv_f4() {
  static const OtConv s("ot-conv-f4",
                        "3x3 conv of integer programs in Winograd F(4x4,3x3), one OT GEMM per position, exact integer "
                        "transforms (EQO QWinConv shape; TECHNIQUES.md §4.2-§4.5)",
                        linear::WinogradTile::kF4);
  return s;
}

}  // namespace peregrine::engine::detail
