// hequant-conv: the convolutions of integer (QDQ) programs with HEQuant's spatial intra-coefficient
// packing (linear/hequant_conv.hpp; TECHNIQUES.md §3.3–§3.7): b output-row bands share each plaintext
// coefficient as base-2^B digits in Z_{2^{bB}}, then the share-domain digit extraction lands every
// digit in the conv output's ring. Applies where the input has a public bound (after a Clip, or the
// quantised input) so that the digit width B is a guarantee, and the input ring holds b·B bits.
//
// Quantisation-aware tiling (§3.7, reconstruction): for b = 1 … 4 the banded conv gets Peregrine's
// byte-minimising Cheetah tile at t = 2^{max(13, bB)} and the smallest q that pays (smallest_q: a
// low-precision layer needs less q/t room, so its input ciphertexts shrink); each candidate is scored by the planner's own cost (exact HE bytes and
// compute plus the digit extraction's OT estimate) for the session's network profile, and the
// cheapest is kept. b = 1 is the conv in its accumulator's own small ring followed by a signed
// extension (the "lower ℓ only" point of §3.2).
#include <optional>

#include "peregrine/engine/strategies/common.hpp"
#include "peregrine/linear/hequant_conv.hpp"
#include "peregrine/mpc/cost.hpp"

namespace peregrine::engine::detail {
namespace {

constexpr int kMaxDigits = 4;

class HeQuantPlanned final : public PlannedLayer {
 public:
  HeQuantPlanned(const nn::FxNode& n, linear::HeQuantConvStrategy s, int out_bits, Cost c)
      : node_(n), s_(std::move(s)), out_bits_(out_bits), cost_(c) {}
  Cost cost() const override { return cost_; }
  std::vector<HeNeed> he_needs() const override { return {{s_.params(), {}}}; }
  std::vector<std::pair<std::string, std::uint64_t>> layout() const override {
    const auto& p = s_.inner().plan();
    const auto& t = s_.inner().tiling();
    return {{"n_in", p.n_in},        {"n_out", p.n_out()},       {"products", s_.he_cost().products},
            {"tile.Hw", t.Hw},       {"tile.Ww", t.Ww},           {"tile.Cw", t.Cw},
            {"tile.Mw", t.Mw},       {"pack.digits", static_cast<std::uint64_t>(s_.digits())},
            {"pack.digit_bits", static_cast<std::uint64_t>(s_.digit_bits())},
            {"pack.plain_bits", static_cast<std::uint64_t>(s_.plain_bits())},
            {"pack.band_rows", s_.band_rows()},
            {"q_bits", modulus_bits(*s_.params())}};
  }
  std::unique_ptr<Prepared> prepare(const nn::FixedWeights& w) const override {
    const auto& e = weights_of(w, node_);
    return std::make_unique<Weights>(linear::prepare_hequant_conv(s_, e.w, e.b));
  }
  mpc::ArithShares run(PartyContext& c, std::span<const mpc::ArithShares* const> in, const Prepared* prep) const override {
    if (c.is_server())
      return linear::hequant_conv_server(c.session(), c.server_he(*s_.params()), s_, *in[0],
                                         static_cast<const Weights&>(*prep).w, out_bits_);
    return linear::hequant_conv_client(c.session(), c.client_he(*s_.params()), s_, *in[0], out_bits_);
  }
  std::size_t prepared_bytes() const override {
    const he::HeParams& hp = *s_.params();
    return s_.inner().plan().n_kernels * hp.n() * hp.levels() * sizeof(std::uint64_t);
  }

 private:
  struct Weights final : Prepared {
    explicit Weights(linear::PreparedHeQuantConv p) : w(std::move(p)) {}
    std::size_t bytes() const override {
      std::size_t b = w.bias.size() * sizeof(std::int64_t);
      for (const auto& k : w.inner.kernels) b += k.poly.data.size() * sizeof(std::uint64_t);
      return b;
    }
    linear::PreparedHeQuantConv w;
  };
  nn::FxNode node_;
  linear::HeQuantConvStrategy s_;
  int out_bits_;
  Cost cost_;
};

class HeQuantConv final : public Strategy {
 public:
  std::string_view name() const override { return "hequant-conv"; }
  std::string_view summary() const override {
    return "HE conv of integer programs, HEQuant spatial intra-coefficient packing (b row bands as base-2^B digits) "
           "+ share-domain digit extraction (HEQuant; TECHNIQUES.md §3.3-§3.7)";
  }
  bool applies(const nn::FxNode& n, const PlanContext& ctx) const override {
    if (n.op != nn::FxOp::kConv) return false;
    const auto X = public_bound(n.inputs.at(0), ctx);
    if (!X) return false;
    const int ell = linear::HeQuantConvStrategy::plain_bits(linear::HeQuantConvStrategy::digit_bits(conv_meta(n), *X), 1);
    return ell <= 44 && ell <= ctx.ring(n.inputs.at(0));
  }
  std::unique_ptr<PlannedLayer> plan(const nn::FxNode& n, const PlanContext& ctx) const override {
    const linear::Conv2dMeta meta = conv_meta(n);
    const std::uint64_t X = public_bound(n.inputs.at(0), ctx).value();
    const int B = linear::HeQuantConvStrategy::digit_bits(meta, X);
    const int in_bits = ctx.ring(n.inputs.at(0)), out_bits = ctx.ring(n.output);
    std::unique_ptr<PlannedLayer> best;
    double best_s = 0;
    for (int b = 1; b <= kMaxDigits && static_cast<std::size_t>(b) <= meta.out_h(); ++b) {
      const int ell = linear::HeQuantConvStrategy::plain_bits(B, b);
      if (ell > 44 || ell > in_bits) break;
      std::optional<linear::HeQuantConvStrategy> s;
      try {
        s.emplace(smallest_q(
            ell, [&](he::HeParamsPtr p) { return linear::HeQuantConvStrategy(meta, X, b, std::move(p)); },
            [](const linear::HeQuantConvStrategy& st) {
              return st.he_cost().bytes_client_to_server + st.he_cost().bytes_server_to_client;
            }));
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kUnsupported) throw;
        continue;  // no tile of this banded conv can be flooded at this ℓ_t
      }
      Cost c = he_layer_cost(s->he_cost(), s->inner().plan());
      const Cost x = ot_cost(mpc::extract_digits_cost(s->packed_count(), B, b, out_bits, ctx.profile.ot));
      c.bytes_c2s += x.bytes_c2s;
      c.bytes_s2c += x.bytes_s2c;
      c.rounds += x.rounds;
      c.compute_seconds += x.compute_seconds;
      c.exact_bytes = false;
      const double sec = c.seconds(ctx.profile);
      if (!best || sec < best_s) {
        best_s = sec;
        best = std::make_unique<HeQuantPlanned>(n, std::move(*s), out_bits, c);
      }
    }
    if (!best) throw Error(ErrorCode::kUnsupported, "hequant-conv: no packing fits node '" + n.name + "'");
    return best;
  }
};

}  // namespace

const Strategy& strategy_hequant_conv() {
  static const HeQuantConv s;
  return s;
}

}  // namespace peregrine::engine::detail
